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
from .intervals import asof, key_array, take
from .stats import known_ns, max_ns, percentile_ns, sum_ns, unknown_note


def _assign_to_runs(events: pd.DataFrame, run_ts: np.ndarray, run_end: np.ndarray,
                    run_tid: np.ndarray, run_ok: np.ndarray) -> np.ndarray:
    """Index of the run each event started inside (same tid), or -1."""
    if not len(events):
        return np.zeros(0, dtype=np.int64)
    ts = events["ts_ns"].to_numpy()
    pos = asof(ts, run_ts, left_by=(key_array(events["tid"]),), right_by=(run_tid,))
    inside = (pos >= 0) & take(run_ok, pos, False) & (ts < take(run_end, pos, 0))
    return np.where(inside, pos, -1)


def _per_run_sum(run_of: np.ndarray, values: np.ndarray, n_runs: int) -> np.ndarray:
    """Exact int64 sum of values per run index (entries with run -1 are ignored)."""
    ok = run_of >= 0
    out = np.zeros(n_runs, dtype=np.int64)
    np.add.at(out, run_of[ok], values[ok].astype(np.int64))
    return out


def analyse(frames: Frames) -> Result:
    res = Result("retire", ANALYSIS.title, ANALYSIS.needs)
    runs = frames["retire_run"].reset_index(drop=True)
    n = len(runs)
    rdur, rknown = known_ns(runs["duration_ns"])
    run_ts = runs["ts_ns"].to_numpy()
    run_end = run_ts + rdur
    run_tid = key_array(runs["tid"])

    free = frames["free"].reset_index(drop=True)
    fdur, fknown = known_ns(free["duration_ns"])
    free_run = _assign_to_runs(free, run_ts, run_end, run_tid, rknown)
    fin = _per_run_sum(free_run, np.where(fknown, fdur, 0), n)
    frees_in_run = np.bincount(free_run[free_run >= 0], minlength=n)

    qdelay, qknown = known_ns(runs["queue_delay_ns"])
    table = pd.DataFrame({"ts_ns": run_ts, "tid": runs["tid"].to_numpy(),
                          "comm": runs["comm"].astype(object).to_numpy(),
                          "duration_ns": runs["duration_ns"].astype("Int64").to_numpy(),
                          "queue_delay_ns": runs["queue_delay_ns"].astype("Int64").to_numpy(),
                          "submits_retired": runs["submits_retired"].astype("Int64").to_numpy(),
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
        resv = _resv_split(frames["resv_lock"].reset_index(drop=True), free, free_run,
                           fdur, fknown, run_ts, run_end, run_tid, rknown, n)
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
        delayed, delay, signaled = _fence_delays(frames["fence_signal"].reset_index(drop=True),
                                                 free, free_run, fdur, fknown,
                                                 run_ts, run_end, run_tid, rknown, n)
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
        gr = _assign_to_runs(frames["gpu_retired"], run_ts, run_end, run_tid, rknown)
        table["gpu_retired"] = np.bincount(gr[gr >= 0], minlength=n)
    res.tables["runs"] = table.sort_values("duration_ns", ascending=False, kind="stable",
                                           na_position="last", ignore_index=True)
    return res


def _resv_split(locks, free, free_run, fdur, fknown, run_ts, run_end, run_tid, rknown, n):
    """(reservation ns per run outside frees, reservation ns per run inside frees)."""
    lock_run = _assign_to_runs(locks, run_ts, run_end, run_tid, rknown)
    ldur, lknown = known_ns(locks["duration_ns"])
    ldur = np.where(lknown, ldur, 0)
    in_run = free_run >= 0
    fr = free[in_run]
    pos = asof(locks["ts_ns"].to_numpy(), fr["ts_ns"].to_numpy(),
               left_by=(key_array(locks["tid"]),), right_by=(key_array(fr["tid"]),))
    fend = fr["ts_ns"].to_numpy() + fdur[in_run]
    # a lock starting inside a free of unknown length is taken as inside it
    in_free = (pos >= 0) & ((locks["ts_ns"].to_numpy() < take(fend, pos, 0))
                            | ~take(fknown[in_run], pos, True))
    outside = _per_run_sum(np.where(in_free, -1, lock_run), ldur, n)
    inside = _per_run_sum(np.where(in_free, lock_run, -1), ldur, n)
    return outside, inside


def _fence_delays(sig, free, free_run, fdur, fknown, run_ts, run_end, run_tid, rknown, n):
    """Per run: (fences delayed, total delay ns, fences signaled)."""
    sig_run = _assign_to_runs(sig, run_ts, run_end, run_tid, rknown)
    ok = (free_run >= 0) & fknown
    ends = free["ts_ns"].to_numpy()[ok] + fdur[ok]
    runs_of = free_run[ok]
    order = np.lexsort((ends, runs_of))
    ends, runs_of, durs = ends[order], runs_of[order], fdur[ok][order]
    cum = pd.Series(durs).groupby(runs_of, sort=False).cumsum().to_numpy()
    in_run = sig_run >= 0
    pos = asof(sig["ts_ns"].to_numpy()[in_run], ends,
               left_by=(sig_run[in_run],), right_by=(runs_of,))
    delayed = pos >= 0
    delay = take(cum, pos, 0)
    rr = sig_run[in_run]
    return (np.bincount(rr[delayed], minlength=n), _per_run_sum(rr, delay, n),
            np.bincount(rr, minlength=n))


ANALYSIS = Analysis(
    name="retire",
    title="Retire worker: run time split into finalizers, reservation waits and the rest",
    needs=("retire_run", "free"),
    func=lambda frames: analyse(frames),
    optional=("resv_lock", "fence_signal", "gpu_retired"),
)
