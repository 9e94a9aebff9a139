"""Reservation-lock contention (question Q1 of the probe catalog): how long blocking dma_resv /
ww_mutex acquisitions waited, on which objects, in which tasks and call sites, who held the lock,
the worst waits with their stacks, and ww wait-die backoffs.

What counts as "waited": when lock_contention was recorded, a resv_lock event that overlaps a
lock_contention wait of the same thread on the same lock: the kernel's own contention tracepoints
(slow path only) are the authority, because a call can be slow without waiting (kprobe overhead,
preemption, a slow emulated CPU: under QEMU/TCG an uncontended ww_mutex_lock takes 5-12 us).
Without lock_contention, a resv_lock event whose duration (time inside the lock call) is above
UNCONTENDED_THRESHOLD_NS. The wait time is the call's duration (the paired contention's duration
when the call's own duration is unknown). Slow calls that did not contend are counted apart
(`slow_calls_without_contention`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import Frames
from .base import Analysis, Result
from .intervals import asof, key_array, take, take_series
from .reuse import Window, cut, whole_for
from .stats import (as_bool, counts_by, distribution, known_ns, labels, max_ns, percentile_ns,
                    stack_frames, sum_ns, unknown_note)

# A fast-path ww_mutex_lock (uncontended cmpxchg plus kprobe overhead) takes well under 1 us;
# anything longer went to the slow path or was preempted inside the call.
UNCONTENDED_THRESHOLD_NS = 1_000
EDEADLK = -35       # ww wait-die: the younger context must back off and retry
EALREADY = -114     # the context already holds this lock
WORST_WAITS = 20


def _paired_contention(locks: pd.DataFrame, cont: pd.DataFrame, lock_ends: np.ndarray,
                       lock_end_known: np.ndarray) -> np.ndarray:
    """Position of the lock_contention (same tid and lock) that began inside each resv_lock
    call, or -1. With an unknown call duration the call is taken to last until the thread's
    next resv_lock call (an upper bound).

    Only calls that can pair are joined: those of unknown duration and those inside which some
    contention (of any thread or lock) began, a few in a hundred on a big trace (one binary
    search: the first contention at or after the call's start began by its end); for the others
    the first contention of their keys at or after them began after their end (not inside)."""
    ts = locks["ts_ns"].to_numpy()
    cont_ts = cont["ts_ns"].to_numpy()
    # the first contention (any thread, any lock) that began at or after each call's start
    starts = np.sort(cont_ts)
    first = np.searchsorted(starts, ts, side="left")
    some = take(starts, np.where(first < len(starts), first, -1), np.iinfo(np.int64).max) \
        <= lock_ends
    rows = np.flatnonzero(~lock_end_known | some)
    pos = np.full(len(ts), -1, dtype=np.int64)
    pos[rows] = asof(ts[rows], cont_ts,
                     left_by=(key_array(locks["tid"])[rows], key_array(locks["lock_addr"])[rows]),
                     right_by=(key_array(cont["tid"]), key_array(cont["lock_addr"])),
                     direction="forward")
    bound = lock_ends
    if not lock_end_known.all():
        next_call = locks.groupby("tid", sort=False)["ts_ns"].shift(-1)
        bound = np.where(lock_end_known, lock_ends,
                         next_call.to_numpy(dtype=np.float64, na_value=np.inf))
    paired_ts = take(cont_ts, pos, np.iinfo(np.int64).max)
    inside = (pos >= 0) & np.where(lock_end_known, paired_ts <= lock_ends, paired_ts < bound)
    return np.where(inside, pos, -1)


def _hold_at_wait_start(wait_ts: np.ndarray, wait_lock: np.ndarray,
                        holds: pd.DataFrame) -> np.ndarray:
    """Position of the resv_hold on the same lock that was active when each wait began (the
    latest hold that started at or before it and had not ended, or whose end is unknown), or
    -1. A lock has one holder at a time, so that hold is the holder's."""
    pos = asof(wait_ts, holds["ts_ns"].to_numpy(), left_by=(wait_lock,),
               right_by=(key_array(holds["lock_addr"]),))
    hdur, hknown = known_ns(holds["duration_ns"])
    still_held = take(holds["ts_ns"].to_numpy() + hdur, pos, -1) > wait_ts
    return np.where((pos >= 0) & (still_held | ~take(hknown, pos, True)), pos, -1)


def _hold_columns(holds: pd.DataFrame, pos: np.ndarray) -> pd.DataFrame:
    """The holder's tid, comm, call site, hold time and stack id for each wait."""
    return pd.DataFrame({"hold_tid": take_series(holds["tid"], pos),
                         "hold_comm": take_series(holds["comm"], pos),
                         "hold_caller": take_series(holds["caller"], pos),
                         "hold_duration_ns": take_series(holds["duration_ns"], pos),
                         "hold_stack_id": take_series(holds["stack_id"], pos)})


def _fill_holders_from_contention(waits: pd.DataFrame, cont: pd.DataFrame,
                                  pair: np.ndarray) -> None:
    """Where the lock probe did not see the holder, take the one the contention tracepoint saw
    (only touches the columns when there is something to fill)."""
    tid_gap = waits["holder_tid"].isna().to_numpy() & (pair >= 0)
    if tid_gap.any():
        waits["holder_tid"] = waits["holder_tid"].astype("Int64").fillna(
            take_series(cont["holder_tid"], np.where(tid_gap, pair, -1)))
    comm_gap = waits["holder_comm"].isna().to_numpy() & (pair >= 0)
    if comm_gap.any():
        comm = waits["holder_comm"].astype(object).to_numpy().copy()
        comm[comm_gap] = take_series(cont["holder_comm"], pair).to_numpy()[comm_gap]
        waits["holder_comm"] = pd.Categorical(comm)


def _locks_and_contention(frames: Frames) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (frames["resv_lock"].reset_index(drop=True),
            frames["lock_contention"].reset_index(drop=True))


def _pairs(frames: Frames) -> np.ndarray:
    """The paired lock_contention of every resv_lock row of `frames` (-1: none)."""
    locks, cont = _locks_and_contention(frames)
    if not (frames.recorded("lock_contention") and len(cont) and len(locks)):
        return np.full(len(locks), -1, dtype=np.int64)
    dur, known = known_ns(locks["duration_ns"])
    return _paired_contention(locks, cont, locks["ts_ns"].to_numpy() + dur, known)


def _window_pairs(frames: Frames, reuse: Window | None) -> np.ndarray:
    """`_pairs(frames)`, cut from the whole data's pairs when they can be reused: a pairing
    looks forward in time (reuse.py) and its bound, the thread's next call, is one too (a next
    call after the window's end bounds nothing the window holds)."""
    whole = whole_for(reuse, frames, "contention.pairs", ("resv_lock", "lock_contention"),
                      _pairs)
    if whole is None:
        return _pairs(frames)
    if reuse.covers("resv_lock", "lock_contention"):
        return whole
    la, lb = reuse.rows("resv_lock")
    ca, cb = reuse.rows("lock_contention")
    return cut(whole[la:lb], ca, cb)


def _whole_holds(frames: Frames, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows that waited, holder position of each, -1 elsewhere) over every resv_lock row."""
    locks, _ = _locks_and_contention(frames)
    dur, known = known_ns(locks["duration_ns"])
    slow = known & (dur > UNCONTENDED_THRESHOLD_NS)
    waited = (pairs >= 0) if frames.recorded("lock_contention") else slow
    rows = np.flatnonzero(waited)
    out = np.full(len(locks), -1, dtype=np.int64)
    out[rows] = _hold_at_wait_start(locks["ts_ns"].to_numpy()[rows],
                                    key_array(locks["lock_addr"])[rows],
                                    frames["resv_hold"].reset_index(drop=True))
    return waited, out


def _window_holds(frames: Frames, reuse: Window | None, rows: np.ndarray, locks: pd.DataFrame,
                  holds: pd.DataFrame) -> np.ndarray:
    """`_hold_at_wait_start` of the window's lock rows `rows` (waits, in time order), cut from
    the whole data's when it can be reused (a backward join: reuse.py); the whole data's waits
    must include the window's."""
    whole = whole_for(reuse, frames, "contention.holds", ("resv_lock", "resv_hold"),
                      lambda f: _whole_holds(f, reuse.data.result("contention.pairs", _pairs)))
    if whole is not None:
        la, _ = reuse.rows("resv_lock")
        if whole[0][rows + la].all():
            ha, hb = reuse.rows("resv_hold")
            return whole[1][rows] if reuse.covers("resv_lock", "resv_hold") else \
                cut(whole[1][rows + la], ha, hb)
    return _hold_at_wait_start(locks["ts_ns"].to_numpy()[rows],
                               key_array(locks["lock_addr"])[rows], holds)


def analyse(frames: Frames, reuse: Window | None = None) -> Result:
    res = Result("contention", ANALYSIS.title, ANALYSIS.needs)
    locks, cont = _locks_and_contention(frames)
    dur, known = known_ns(locks["duration_ns"])
    has_cont = frames.recorded("lock_contention")
    pair = _window_pairs(frames, reuse)
    cdur, cknown = known_ns(cont["duration_ns"])
    slow = known & (dur > UNCONTENDED_THRESHOLD_NS)
    waited = (pair >= 0) if has_cont else slow
    wait_ns = np.where(known, dur, take(cdur, pair, 0))
    wait_known = known | take(cknown, pair, False)

    # waits sorted by wait time once, so every distribution table skips its own value sort
    in_time_order = np.flatnonzero(waited)
    by_wait = np.argsort(np.where(wait_known, wait_ns, np.iinfo(np.int64).max)[in_time_order],
                         kind="stable")
    idx = in_time_order[by_wait]
    waits = locks.iloc[idx].reset_index(drop=True)
    waits["wait_ns"] = pd.array(wait_ns[idx], dtype="Int64")
    waits.loc[~wait_known[idx], "wait_ns"] = pd.NA
    _fill_holders_from_contention(waits, cont, pair[idx])
    if frames.recorded("resv_hold"):
        holds = frames["resv_hold"].reset_index(drop=True)
        # joined in time order (no sort needed), then put in wait order
        hold = _window_holds(frames, reuse, in_time_order, locks, holds)
        waits = waits.join(_hold_columns(holds, hold[by_wait]))
    kw = wait_ns[waited & wait_known]

    ret = locks["ret"]
    res.headline = {
        "resv_lock_calls": int(len(locks)),
        "resv_waits": int(waited.sum()),
        "resv_wait_total_ns": sum_ns(kw),
        "resv_wait_p50_ns": percentile_ns(kw, 50),
        "resv_wait_p90_ns": percentile_ns(kw, 90),
        "resv_wait_p99_ns": percentile_ns(kw, 99),
        "resv_wait_max_ns": max_ns(kw),
        "edeadlk_backoffs": int((ret == EDEADLK).sum()),
        "ealready_returns": int((ret == EALREADY).sum()),
        "waits_by_task": counts_by(waits["comm"]),
        "waits_by_caller": counts_by(waits["caller"]),
        "uncontended_threshold_ns": UNCONTENDED_THRESHOLD_NS,
    }
    res.notes += unknown_note(int((waited & ~wait_known).sum()), "waits")
    if has_cont:
        resv_cont = cont[as_bool(cont["is_resv"])]
        res.headline["contended_resv_acquisitions"] = int(len(resv_cont))
        res.headline["contention_edeadlk_ends"] = int((resv_cont["ret"] == EDEADLK).sum())
        res.headline["waits_seen_only_by_contention"] = int(((pair >= 0) & ~slow).sum())
        res.headline["slow_calls_without_contention"] = int((slow & (pair < 0)).sum())
        res.tables["contended_by_context"] = distribution(
            resv_cont.assign(wait_ns=resv_cont["duration_ns"]), ["context"], "wait_ns",
            "contentions")
    else:
        res.notes.append("lock_contention was not recorded: waits are judged by call duration "
                         f"alone (> {UNCONTENDED_THRESHOLD_NS} ns)")

    res.tables["by_object"] = distribution(waits, ["lock_addr"], "wait_ns", "waits")
    res.tables["by_task"] = distribution(waits, ["comm", "tid"], "wait_ns", "waits")
    res.tables["by_caller"] = distribution(waits, ["caller"], "wait_ns", "waits")
    res.tables["holders"] = distribution(waits, ["holder_comm", "holder_tid"], "wait_ns", "waits")
    if "hold_caller" in waits:
        res.tables["holder_call_sites"] = distribution(waits, ["hold_caller"], "wait_ns", "waits")
    else:
        res.notes.append("resv_hold was not recorded: the holder's call site and hold time "
                         "are unknown")
    res.tables["backoffs"] = _backoffs(locks)
    res.tables["worst_waits"] = _worst(frames, waits)
    return res


def _backoffs(locks: pd.DataFrame) -> pd.DataFrame:
    """-EDEADLK backoffs and -EALREADY returns per call site."""
    bad = locks[locks["ret"].isin([EDEADLK, EALREADY])]
    t = pd.DataFrame({"caller": labels(bad["caller"]).astype(object),
                      "edeadlk": (bad["ret"] == EDEADLK).to_numpy(),
                      "ealready": (bad["ret"] == EALREADY).to_numpy()})
    out = t.groupby("caller", sort=False).sum().reset_index()
    return out.sort_values(["edeadlk", "ealready"], ascending=False, ignore_index=True)


def _worst(frames: Frames, waits: pd.DataFrame) -> pd.DataFrame:
    """The longest waits, each with its holder, the holder's hold and both stacks."""
    top = waits[waits["wait_ns"].notna()]
    top = top.nlargest(WORST_WAITS, "wait_ns") if len(top) else top
    cols = ["ts_ns", "tid", "comm", "lock_addr", "obj_addr", "caller", "wait_ns", "ret",
            "holder_tid", "holder_comm", "context", "in_reclaim"]
    cols += [c for c in ("hold_caller", "hold_duration_ns") if c in top]
    out = top[cols].copy()
    stacks = frames.stacks()
    out["stack"] = stack_frames(top["stack_id"], stacks)
    if "hold_stack_id" in top:
        out["holder_stack"] = stack_frames(top["hold_stack_id"], stacks)
    return out.reset_index(drop=True)


ANALYSIS = Analysis(
    name="contention",
    title="Reservation-lock contention: waits, holders and backoffs",
    needs=("resv_lock",),
    func=lambda frames, reuse=None: analyse(frames, reuse),
    optional=("lock_contention", "resv_hold", "stack"),
    reuses=True,
)
