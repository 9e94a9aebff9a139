"""The GPU retire worker (question Q5): per run of retire_worker, its queue delay and run time and
the split of that run time into finalizers (msm_gem_free_object called from the worker),
reservation-lock time and the rest; and the fence signals that finalizers delayed.

Rules (all joins are on the worker's thread id and vectorized with merge_asof):
- an event belongs to a run when it starts inside [run start, run end) on the run's tid;
- finalizer time = sum of the durations of the frees in the run;
- reservation time = sum of the durations of the resv_lock calls in the run that did NOT start
  inside one of those frees (a lock taken by the finalizer itself, e.g. v6.19 drm_exec, is
  already finalizer time; it is reported apart as `retire_resv_wait_in_finalizers_ns`), so that
  finalizers + reservation + other = run time;
- a fence_signal in a run is delayed by finalizers when at least one free of that run ended at
  or before the signal; its delay is the sum of the durations of those frees.
Runs, frees and locks with an unknown duration are counted but left out of every sum.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import Frames
from .base import Analysis, Result
from .intervals import asof, inside_some, key_array, take
from .reuse import WholeData, Window, cut, whole_for
from .stats import known_ns, max_ns, percentile_ns, sum_ns, unknown_note


# np.isin compares with each worker tid in turn up to about this many
FEW_WORKERS = 16


def _assign_to_runs(ts: np.ndarray, tid: np.ndarray, run_ts: np.ndarray, run_end: np.ndarray,
                    run_tid: np.ndarray, run_ok: np.ndarray) -> np.ndarray:
    """Index of the run each event (start ts, tid key) started inside (same tid), or -1.

    Only the events of a thread that ran the worker are joined when such threads are few (one
    per GPU ring: the others' events cannot be in a run). Not filtered by `inside_some` first:
    retire runs cover most of a busy trace's time."""
    out = np.full(len(ts), -1, dtype=np.int64)
    workers = np.unique(run_tid)
    rows = np.flatnonzero(np.isin(tid, workers)) if len(workers) <= FEW_WORKERS \
        else np.arange(len(ts))
    ts = ts[rows]
    pos = asof(ts, run_ts, left_by=(tid[rows],), right_by=(run_tid,))
    inside = (pos >= 0) & take(run_ok, pos, False) & (ts < take(run_end, pos, 0))
    out[rows] = np.where(inside, pos, -1)
    return out


def _per_run_sum(run_of: np.ndarray, values: np.ndarray, n_runs: int) -> np.ndarray:
    """Exact int64 sum of values per run index (entries with run -1 are ignored)."""
    ok = run_of >= 0
    out = np.zeros(n_runs, dtype=np.int64)
    np.add.at(out, run_of[ok], values[ok].astype(np.int64))
    return out


class _Runs:
    """The retire runs of a frames: start, end, tid key and known duration, as arrays."""

    def __init__(self, frames: Frames):
        self.df = frames["retire_run"].reset_index(drop=True)
        self.n = len(self.df)
        self.dur, self.known = known_ns(self.df["duration_ns"])
        self.ts = self.df["ts_ns"].to_numpy()
        self.end = self.ts + self.dur
        self.tid = key_array(self.df["tid"])

    def assign(self, events: pd.DataFrame) -> np.ndarray:
        return _assign_to_runs(events["ts_ns"].to_numpy(), key_array(events["tid"]), self.ts,
                               self.end, self.tid, self.known)


# kinds whose events are assigned to the run they started in
ASSIGNED = ("free", "resv_lock", "fence_signal", "gpu_retired")


def _joins(frames: Frames) -> dict[str, np.ndarray]:
    """Every join of the analysis over `frames`: the run of each event of ASSIGNED (recorded
    ones), the free of a run each resv_lock call in a run started in ("lock_free", -1: none)
    and, per fence_signal in a run, whether finalizers delayed it and by how much."""
    runs = _Runs(frames)
    free = frames["free"].reset_index(drop=True)
    out = {kind: runs.assign(frames[kind].reset_index(drop=True)) for kind in ASSIGNED
           if kind == "free" or frames.recorded(kind)}
    if "resv_lock" in out:
        out["lock_free"] = _free_of_lock(frames["resv_lock"].reset_index(drop=True),
                                         out["resv_lock"], free, out["free"])
    if "fence_signal" in out:
        out["delayed"], out["delay"] = _signal_delays(
            frames["fence_signal"].reset_index(drop=True), out["fence_signal"], free,
            out["free"], runs.n)
    out["free_ends_before_start"] = _ends_before_start(free)
    return out


def _ends_before_start(free: pd.DataFrame) -> np.ndarray:
    """Whether a free has a negative duration (broken data): it may end before an earlier
    signal although it starts after it, so a signal's delay is no longer decided by the events
    up to the signal (reuse.py's rule; its reuse is then off)."""
    dur, known = known_ns(free["duration_ns"])
    return np.array(bool((known & (dur < 0)).any()))


def _window_joins(frames: Frames, reuse: Window | None) -> dict[str, np.ndarray]:
    """`_joins(frames)`, cut from the whole data's when they can be reused (reuse.py): every
    run assignment is a backward join by tid. A lock's free is found from the latest free in a
    run of the same thread at or before it: over the whole data that is F; the window's is F
    when F and its run are in the window and none otherwise (a free of the window in a run of
    the window, same thread, at or before the lock, would be in F's run or a later one, so F's
    run would be in the window too); whether the lock started inside F is F's own matter. A
    signal's delay sums frees of its own run that ended at or before it: all in the window when
    the run is."""
    whole = whole_for(reuse, frames, "retire.joins", ("retire_run",) + ASSIGNED, _joins,
                      _extend_joins)
    if whole is not None and reuse.covers("retire_run", *ASSIGNED):
        return whole
    if whole is None or whole["free_ends_before_start"]:
        return _joins(frames)
    ra, rb = reuse.rows("retire_run")
    out = {}
    for kind in ASSIGNED:
        if kind in whole and (kind == "free" or frames.recorded(kind)):
            a, b = reuse.rows(kind)
            out[kind] = cut(whole[kind][a:b], ra, rb)
    if "resv_lock" in out:
        a, b = reuse.rows("resv_lock")
        fa, fb = reuse.rows("free")
        lock_free = whole["lock_free"][a:b]
        run_of_free = take(whole["free"], lock_free, -1)
        ok = (lock_free >= fa) & (lock_free < fb) & (run_of_free >= ra)
        out["lock_free"] = np.where(ok, lock_free - fa, -1)
    if "fence_signal" in out:
        a, b = reuse.rows("fence_signal")
        in_run = out["fence_signal"] >= 0
        out["delayed"] = whole["delayed"][a:b] & in_run
        out["delay"] = np.where(in_run, whole["delay"][a:b], 0)
    return out


def _extend_joins(old: dict[str, np.ndarray], data: WholeData) -> dict[str, np.ndarray]:
    """`_joins(data.whole)` from the previous snapshot's joins `old` (reuse.WholeData): the
    kept rows' runs and frees, and the kept signals' delays, are decided by events before the
    first new one, so only the other rows are joined (a new free of a kept signal's run ends
    after the signal unless its duration is negative: then everything is joined again)."""
    frames = data.whole
    kinds = [k for k in ASSIGNED if k == "free" or frames.recorded(k)]
    keys = set(kinds) | {"free_ends_before_start"} | \
        ({"lock_free"} if "resv_lock" in kinds else set()) | \
        ({"delayed", "delay"} if "fence_signal" in kinds else set())
    kept = {k: data.kept_rows(k) for k in (*kinds, "retire_run")}
    free = frames["free"].reset_index(drop=True)
    if set(old) != keys or old["free_ends_before_start"] or \
            _ends_before_start(free.iloc[kept["free"]:]) or \
            any(len(old[k]) < kept[k] for k in kinds):
        return _joins(frames)
    runs = _Runs(frames)
    out = {"free_ends_before_start": old["free_ends_before_start"]}
    new = {k: frames[k].iloc[kept[k]:] for k in kinds}
    for kind in kinds:
        out[kind] = np.concatenate([old[kind][:kept[kind]], runs.assign(new[kind])])
    if "resv_lock" in kinds:
        a = kept["resv_lock"]
        out["lock_free"] = np.concatenate([old["lock_free"][:a], _free_of_lock(
            new["resv_lock"], out["resv_lock"][a:], free, out["free"])])
    if "fence_signal" in kinds:
        a = kept["fence_signal"]
        delayed, delay = _signal_delays(new["fence_signal"], out["fence_signal"][a:], free,
                                        out["free"], runs.n)
        out["delayed"] = np.concatenate([old["delayed"][:a], delayed])
        out["delay"] = np.concatenate([old["delay"][:a], delay])
    return out


def analyse(frames: Frames, reuse: Window | None = None) -> Result:
    res = Result("retire", ANALYSIS.title, ANALYSIS.needs)
    runs = _Runs(frames)
    n, rdur, rknown = runs.n, runs.dur, runs.known
    joins = _window_joins(frames, reuse)

    free = frames["free"].reset_index(drop=True)
    fdur, fknown = known_ns(free["duration_ns"])
    free_run = joins["free"]
    fin = _per_run_sum(free_run, np.where(fknown, fdur, 0), n)
    frees_in_run = np.bincount(free_run[free_run >= 0], minlength=n)

    qdelay, qknown = known_ns(runs.df["queue_delay_ns"])
    table = pd.DataFrame({"ts_ns": runs.ts, "tid": runs.df["tid"].to_numpy(),
                          "comm": runs.df["comm"].astype(object).to_numpy(),
                          "duration_ns": runs.df["duration_ns"].astype("Int64").to_numpy(),
                          "queue_delay_ns": runs.df["queue_delay_ns"].astype("Int64").to_numpy(),
                          "submits_retired": runs.df["submits_retired"].astype("Int64")
                          .to_numpy(),
                          "frees": frees_in_run, "finalizer_ns": fin})
    total = sum_ns(rdur[rknown])
    res.headline = {
        "retire_runs": int(n),
        "retire_run_total_ns": total,
        "retire_finalizer_ns": int(fin[rknown].sum()),
        "retire_resv_wait_ns": None,
        "retire_other_ns": None,
        "retire_queue_delay_p50_ns": percentile_ns(qdelay[qknown], 50),
        "retire_queue_delay_max_ns": max_ns(qdelay[qknown]),
        "fences_delayed_by_finalizers": None,
        "fence_delay_by_finalizers_total_ns": None,
        "retire_frees": int(frees_in_run.sum()),
    }
    res.notes += unknown_note(int((~rknown).sum()), "retire runs")
    res.notes += unknown_note(int((~fknown[free_run >= 0]).sum()), "frees in retire runs")
    busy = fin.copy()
    if frames.recorded("resv_lock"):
        resv = _resv_split(frames["resv_lock"], joins["resv_lock"], joins["lock_free"], n)
        table["resv_wait_ns"] = resv[0]
        busy += resv[0]
        res.headline["retire_resv_wait_ns"] = int(resv[0][rknown].sum())
        res.headline["retire_resv_wait_in_finalizers_ns"] = int(resv[1][rknown].sum())
    else:
        res.notes.append("resv_lock was not recorded: reservation waits cannot be split out "
                         "of the retire runs (they are inside 'other')")
    other = np.where(rknown, rdur - busy, 0)
    table["other_ns"] = pd.array(other, dtype="Int64")
    table.loc[~rknown, "other_ns"] = pd.NA
    res.headline["retire_other_ns"] = int(other[rknown].sum())
    if frames.recorded("fence_signal"):
        delayed, delay, signaled = _fence_delays(joins["fence_signal"], joins["delayed"],
                                                 joins["delay"], n)
        table["fences_signaled"] = signaled
        table["fences_delayed"] = delayed
        table["fence_delay_ns"] = delay
        res.headline["fences_delayed_by_finalizers"] = int(delayed.sum())
        res.headline["fence_delay_by_finalizers_total_ns"] = int(delay.sum())
        res.headline["fences_signaled_in_retire"] = int(signaled.sum())
    else:
        res.notes.append("fence_signal was not recorded: cannot tell which fence signals "
                         "finalizers delayed")
    if frames.recorded("gpu_retired"):
        gr = joins["gpu_retired"]
        table["gpu_retired"] = np.bincount(gr[gr >= 0], minlength=n)
    res.tables["runs"] = table.sort_values("duration_ns", ascending=False, kind="stable",
                                           na_position="last", ignore_index=True)
    return res


def _free_of_lock(locks, lock_run, free, free_run):
    """Per lock call in a run: the free it started inside (-1: none), i.e. the latest free of a
    run, of the same thread, at or before it, when the call starts before that free's end or
    the free's duration is unknown. Only calls in a run inside some such free are joined."""
    in_run = np.flatnonzero(free_run >= 0)
    fts = free["ts_ns"].to_numpy()[in_run]
    fdur, fknown = known_ns(free["duration_ns"])
    fend = np.where(fknown[in_run], fts + fdur[in_run], np.iinfo(np.int64).max)
    ts = locks["ts_ns"].to_numpy()
    rows = np.flatnonzero((lock_run >= 0) & inside_some(ts, fts, fend))
    pos = asof(ts[rows], fts, left_by=(key_array(locks["tid"])[rows],),
               right_by=(key_array(free["tid"])[in_run],))
    out = np.full(len(ts), -1, dtype=np.int64)
    out[rows] = np.where((pos >= 0) & (ts[rows] < take(fend, pos, 0)), take(in_run, pos, -1), -1)
    return out


def _resv_split(locks, lock_run, lock_free, n):
    """(reservation ns per run outside frees, reservation ns per run inside frees); a lock
    starting inside a free of unknown length is taken as inside it."""
    ldur, lknown = known_ns(locks["duration_ns"])
    ldur = np.where(lknown, ldur, 0)
    in_free = lock_free >= 0
    outside = _per_run_sum(np.where(in_free, -1, lock_run), ldur, n)
    inside = _per_run_sum(np.where(in_free, lock_run, -1), ldur, n)
    return outside, inside


def _signal_delays(sig, sig_run, free, free_run, n):
    """Per signal: (delayed by finalizers of its run, the delay in ns; False/0 outside runs).
    Only the frees of the signals' runs and later ones are read (runs are apart)."""
    fdur, fknown = known_ns(free["duration_ns"])
    first = sig_run[sig_run >= 0].min(initial=n)
    ok = (free_run >= first) & fknown
    ends = free["ts_ns"].to_numpy()[ok] + fdur[ok]
    runs_of = free_run[ok]
    order = np.lexsort((ends, runs_of))
    ends, runs_of, durs = ends[order], runs_of[order], fdur[ok][order]
    cum = pd.Series(durs).groupby(runs_of, sort=False).cumsum().to_numpy()
    in_run = sig_run >= 0
    pos = asof(sig["ts_ns"].to_numpy()[in_run], ends,
               left_by=(sig_run[in_run],), right_by=(runs_of,))
    delayed = np.zeros(len(sig_run), dtype=bool)
    delay = np.zeros(len(sig_run), dtype=np.int64)
    delayed[in_run] = pos >= 0
    delay[in_run] = take(cum, pos, 0)
    return delayed, delay


def _fence_delays(sig_run, delayed, delay, n):
    """Per run: (fences delayed, total delay ns, fences signaled)."""
    rr = sig_run[sig_run >= 0]
    in_run = sig_run >= 0
    return (np.bincount(rr[delayed[in_run]], minlength=n), _per_run_sum(rr, delay[in_run], n),
            np.bincount(rr, minlength=n))


ANALYSIS = Analysis(
    name="retire",
    title="Retire worker: run time split into finalizers, reservation waits and the rest",
    needs=("retire_run", "free"),
    func=lambda frames, reuse=None: analyse(frames, reuse),
    optional=("resv_lock", "fence_signal", "gpu_retired"),
    reuses=True,
)
