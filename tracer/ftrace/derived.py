"""What the BPF path reads in the kernel and kprobe_events cannot, derived after mapping from the
events around it (the tracefs backend and imports):

- a trylock's shrinker stage: the stage of the drm_gem_lru_scan call of the same thread that
  contains it (the BPF path keeps it as per-thread state);
- hold times (resv_hold): an acquisition (a blocking lock that returned 0, or a trylock that
  succeeded) to the first ww_mutex_unlock of the same lock after it;
- the holder of a lock at a failed trylock or a blocking lock call: the task whose acquisition
  of the same lock ended last before it and had not been unlocked (the BPF path reads the mutex
  owner's pid and comm; fetch-args cannot mask the owner word's flag bits to follow it);
- which ww_mutexes are reservations (a GEM object's own resv: `back`), dropping the others.
Not derivable: the pages a drm_gem_lru_scan call added to *remaining (msm gives each stage its
own counter, zero at entry, and a kretprobe cannot read the pointer): the trylock failures'
object sizes give the pages they skipped instead.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..analyses.intervals import asof, take

NO_ROW = -1


def enclosing(tid: np.ndarray, ts: np.ndarray, iv_tid: np.ndarray, iv_start: np.ndarray,
              iv_end: np.ndarray) -> np.ndarray:
    """For each (tid, ts): the row of the interval of the same tid that started last at or before
    ts, when it had not ended before ts; NO_ROW otherwise."""
    ts = np.asarray(ts, np.int64)
    row = asof(ts, iv_start, left_by=(np.asarray(tid, np.int64),),
               right_by=(np.asarray(iv_tid, np.int64),))
    ok = take(np.asarray(iv_end, np.int64), row, -1) >= ts
    return np.where((row >= 0) & ok, row, NO_ROW)


def _np(col, dtype=np.int64, fill=0) -> np.ndarray:
    if isinstance(col, np.ndarray):
        return col.astype(dtype, copy=False)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col.fill_null(fill).to_numpy(zero_copy_only=False).astype(dtype)


def _valid(col, n: int) -> np.ndarray:
    if col is None:
        return np.zeros(n, bool)
    if isinstance(col, np.ndarray):
        return np.ones(n, bool)
    return col.is_valid().to_numpy(zero_copy_only=False)


def derive_lock_facts(out, unlocks: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Fill the columns above in `out` (a mapping.Mapped) where they are null, keep only the
    ww_mutex calls on reservations, and with ww_mutex_unlock events (lock addresses, times) make
    resv_hold events. Returns accounting: calls (and unlocks) on other ww_mutexes dropped, and
    unlocks of a reservation no recorded acquisition explains."""
    lru = out.kinds.get("lru_scan")
    tl = out.kinds.get("resv_trylock")
    if tl is not None and lru is not None:
        _trylock_stage(tl, lru)
    acc = {"not_reservations": _reservations_only(out), "unmatched_unlocks": 0}
    acq = _acquisitions(out.kinds.get("resv_trylock"), out.kinds.get("resv_lock"))
    released = None
    if unlocks is not None and acq is not None:
        released, acc = _holds(out, acq, unlocks, acc)
    _holders(out.kinds.get("resv_trylock"), out.kinds.get("resv_lock"), acq, released)
    return acc


def _filter(cols: dict, keep: np.ndarray) -> dict:
    mask = pa.array(keep)
    return {k: (v[keep] if isinstance(v, np.ndarray) else v.filter(mask)) for k, v in cols.items()}


def _reservations_only(out) -> int:
    """The BPF path records ww_mutex calls on reservations only (its dma_resv registry, and the
    locks drm_gem_lru_scan trylocks); kprobes see every ww_mutex (msm's KMS crtc locks, the
    regulator core's). Here a lock is a reservation when it is a GEM object's own resv (is_resv
    from `back`) or a trylock inside an LRU scan took it; calls known to be on something else
    are dropped, and a lock contention is on a reservation when a kept blocking lock call of the
    same thread on the same lock contains it (a waiter contends inside its own lock call; an
    address alone is not enough: a freed object's memory comes back as other locks). Without
    `back` (no BTF, older recordings) nothing is dropped and is_resv stays unknown."""
    dropped = 0
    known_any = False
    for kind in ("resv_trylock", "resv_lock"):
        cols = out.kinds.get(kind)
        if cols is None or "is_resv" not in cols:
            continue
        n = len(cols["ts_ns"])
        own = cols["is_resv"]
        known = _valid(own, n)
        known_any |= bool(known.any())
        is_resv = _bool(own, n, False)
        if kind == "resv_trylock" and cols.get("stage") is not None:
            in_scan = _valid(cols["stage"], n)
            is_resv |= in_scan
            known |= in_scan
        keep = ~known | is_resv
        dropped += int((~keep).sum())
        cols["is_resv"] = pa.array(is_resv, pa.bool_(), mask=~known)
        if not keep.all():
            out.kinds[kind] = cols = _filter(cols, keep)
    cont, locks = out.kinds.get("lock_contention"), out.kinds.get("resv_lock")
    if cont is not None and known_any:
        cont["is_resv"] = _inside_resv_calls(cont, locks)
    return dropped


def _inside_resv_calls(cont: dict, locks: dict | None) -> np.ndarray:
    """Does a kept reservation lock call of the same thread on the same lock contain each
    contention?"""
    n = len(cont["ts_ns"])
    if locks is None or not len(locks["ts_ns"]):
        return np.zeros(n, bool)
    is_resv = _bool(locks["is_resv"], len(locks["ts_ns"]), False)
    start = _np(locks["ts_ns"])
    end = np.where(_valid(locks["duration_ns"], len(start)) & is_resv,
                   start + _np(locks["duration_ns"]), -1)
    ts = _np(cont["ts_ns"])
    pos = asof(ts, start, left_by=(_np(cont["tid"]), _np(cont["lock_addr"], np.uint64)),
               right_by=(_np(locks["tid"]), _np(locks["lock_addr"], np.uint64)))
    return take(end, pos, -1) >= ts


def _trylock_stage(tl: dict, lru: dict) -> None:
    if tl.get("stage") is not None:
        return
    st = _np(lru["ts_ns"])
    row = enclosing(_np(tl["tid"]), _np(tl["ts_ns"]), _np(lru["tid"]), st,
                    st + _np(lru["duration_ns"]))
    stages = lru["stage"]
    stages = stages.combine_chunks() if isinstance(stages, pa.ChunkedArray) else stages
    tl["stage"] = pc.if_else(pa.array(row != NO_ROW), stages.take(pa.array(np.maximum(row, 0))),
                             pa.scalar(None, pa.string()))


def _bool(col, n: int, fill: bool) -> np.ndarray:
    if col is None:
        return np.full(n, fill)
    if isinstance(col, np.ndarray):
        return col.astype(bool)
    return col.fill_null(fill).to_numpy(zero_copy_only=False).astype(bool)


def _arrow(col) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks()
    return col if isinstance(col, pa.Array) else pa.array(col)


def _acquisitions(tl: dict | None, locks: dict | None) -> dict | None:
    """Every recorded acquisition (a blocking lock that returned 0, a trylock that succeeded,
    with a known end): lock, time it was acquired (the call's end), the acquirer's columns."""
    parts = []
    for kind, cols in (("resv_trylock", tl), ("resv_lock", locks)):
        if cols is None or not len(cols["ts_ns"]):
            continue
        n = len(cols["ts_ns"])
        ok = _bool(cols["success"], n, False) if kind == "resv_trylock" else \
            (_np(cols["ret"], fill=-1) == 0)
        ok &= _valid(cols["duration_ns"], n)
        parts.append((cols, np.flatnonzero(ok)))
    if not parts:
        return None
    take = lambda name: pa.concat_arrays([  # noqa: E731
        _arrow(c[name]).take(pa.array(r)).cast(pa.string() if name in ("comm", "caller",
                                                                       "context") else
                                               _arrow(c[name]).type) for c, r in parts])
    return {"lock": np.concatenate([_np(c["lock_addr"], np.uint64)[r] for c, r in parts]),
            "ts": np.concatenate([(_np(c["ts_ns"]) + _np(c["duration_ns"]))[r] for c, r in parts]),
            "tid": np.concatenate([_np(c["tid"], np.int32)[r] for c, r in parts]),
            "pid": np.concatenate([_np(c["pid"], np.int32, -1)[r] for c, r in parts]),
            "pid_ok": np.concatenate([_valid(c["pid"], len(c["ts_ns"]))[r] for c, r in parts]),
            "cpu": np.concatenate([_np(c["cpu"], np.int16)[r] for c, r in parts]),
            "comm": take("comm"), "caller": take("caller"), "context": take("context"),
            "stack_id": take("stack_id") if all("stack_id" in c for c, _ in parts) else None}


def _holds(out, acq: dict, unlocks: tuple[np.ndarray, np.ndarray], acc: dict):
    """resv_hold from each acquisition to the first ww_mutex_unlock of the same lock after it
    (an unlock belongs to the latest acquisition before it; a hold with no unlock recorded has
    an unknown duration). Unlocks of locks no acquisition took are on other ww_mutexes (counted
    with the dropped calls) or of a reservation acquired before the trace began (unmatched)."""
    ulock, uts = unlocks
    n = len(acq["ts"])
    row = asof(uts, acq["ts"], left_by=(ulock,), right_by=(acq["lock"],))
    first = pd.Series(np.asarray(uts, np.int64)[row >= 0]).groupby(row[row >= 0]).min()
    end = np.full(n, -1, np.int64)
    end[first.index.to_numpy()] = first.to_numpy()
    has = end >= 0
    known_lock = np.isin(ulock, acq["lock"])
    acc["not_reservations"] += int((~known_lock).sum())
    acc["unmatched_unlocks"] = int(known_lock.sum()) - len(first)
    cols = {"ts_ns": acq["ts"], "cpu": acq["cpu"], "tid": acq["tid"],
            "pid": pa.array(acq["pid"], pa.int32(), mask=~acq["pid_ok"]), "comm": acq["comm"],
            "lock_addr": pa.array(acq["lock"], pa.uint64()),
            "obj_addr": pa.nulls(n, pa.uint64()),
            "duration_ns": pa.array(np.where(has, end - acq["ts"], 0), pa.int64(), mask=~has),
            "context": acq["context"], "caller": acq["caller"],
            "stack_id": acq["stack_id"] if acq["stack_id"] is not None else
            pa.nulls(n, pa.int32())}
    out.add("resv_hold", cols)
    out.recorded_kinds.add("resv_hold")
    return np.where(has, end, np.iinfo(np.int64).max), acc


def _holders(tl: dict | None, locks: dict | None, acq: dict | None,
             released: np.ndarray | None) -> None:
    """holder_tid / holder_comm of failed trylocks and blocking lock calls: the last acquisition
    of the same lock that ended before the call began, unless its unlock (when recorded) came
    before the call too."""
    if acq is None:
        return
    for cols, which in ((tl, "failed"), (locks, "all")):
        if cols is None or not len(cols["ts_ns"]):
            continue
        n = len(cols["ts_ns"])
        want = ~_bool(cols["success"], n, True) if which == "failed" else np.ones(n, bool)
        ts = _np(cols["ts_ns"])
        acq_row = np.full(n, -1, np.int64)
        acq_row[want] = asof(ts[want], acq["ts"],
                             left_by=(_np(cols["lock_addr"], np.uint64)[want],),
                             right_by=(acq["lock"],))
        if released is not None:
            acq_row[take(released, acq_row, np.iinfo(np.int64).max) <= ts] = -1
        has = acq_row >= 0
        cols["holder_tid"] = pa.array(take(acq["tid"], acq_row, 0).astype(np.int32), pa.int32(),
                                      mask=~has)
        cols["holder_comm"] = pc.if_else(pa.array(has), acq["comm"].take(
            pa.array(np.maximum(acq_row, 0))), pa.scalar(None, pa.string())) \
            if len(acq["comm"]) else pa.nulls(n, pa.string())
