"""retire's joins on arrays (runs of events; a lock's free joined only for the calls inside some
free of a run): the same runs and frees as the plain joins of every event (the references below,
the code before that change), on seeded random events with ties, unknown and negative durations,
null tids."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracer.analyses.intervals import asof, key_array, take
from tracer.analyses.retire import _assign_to_runs, _free_of_lock
from tracer.analyses.stats import known_ns


def assign_reference(events, run_ts, run_end, run_tid, run_ok):
    ts = events["ts_ns"].to_numpy()
    pos = asof(ts, run_ts, left_by=(key_array(events["tid"]),), right_by=(run_tid,))
    inside = (pos >= 0) & take(run_ok, pos, False) & (ts < take(run_end, pos, 0))
    return np.where(inside, pos, -1)


def in_free_reference(locks, free, free_run, fdur, fknown):
    in_run = free_run >= 0
    fr = free[in_run]
    pos = asof(locks["ts_ns"].to_numpy(), fr["ts_ns"].to_numpy(),
               left_by=(key_array(locks["tid"]),), right_by=(key_array(fr["tid"]),))
    fend = fr["ts_ns"].to_numpy() + fdur[in_run]
    return (pos >= 0) & ((locks["ts_ns"].to_numpy() < take(fend, pos, 0))
                         | ~take(fknown[in_run], pos, True))


def _events(rng, n, span, max_dur, p_unknown=0.1, tids=4):
    tid = np.where(rng.random(n) < 0.05, None, rng.integers(1, tids, n).tolist()).tolist()
    dur = np.where(rng.random(n) < p_unknown, None, rng.integers(-30, max_dur, n).tolist())
    return pd.DataFrame({"ts_ns": np.sort(rng.integers(0, span, n)) * 10,
                         "tid": pd.array(tid, dtype="Int64"),
                         "duration_ns": pd.array(dur.tolist(), dtype="Int64")})


@pytest.mark.parametrize("seed", range(20))
def test_same_runs_and_frees_as_the_plain_joins(seed):
    rng = np.random.default_rng(seed)
    # many worker threads (every event joined) or a few (only their threads' events)
    runs = _events(rng, int(rng.integers(0, 60)), 3000, 2000, tids=(4, 40)[seed % 2])
    free = _events(rng, 800, 3000, 300, p_unknown=(0.0, 0.05, 0.3)[seed % 3], tids=6)
    locks = _events(rng, 2000, 3000, 100, tids=6)
    rdur, rknown = known_ns(runs["duration_ns"])
    run_ts = runs["ts_ns"].to_numpy()
    args = (run_ts, run_ts + rdur, key_array(runs["tid"]), rknown)
    free_run = _assign_to_runs(free["ts_ns"].to_numpy(), key_array(free["tid"]), *args)
    lock_run = _assign_to_runs(locks["ts_ns"].to_numpy(), key_array(locks["tid"]), *args)
    np.testing.assert_array_equal(free_run, assign_reference(free, *args))
    np.testing.assert_array_equal(lock_run, assign_reference(locks, *args))
    fdur, fknown = known_ns(free["duration_ns"])
    got = _free_of_lock(locks, lock_run, free, free_run) >= 0
    want = in_free_reference(locks, free, free_run, fdur, fknown) & (lock_run >= 0)
    assert want.any() or not len(runs) or seed % 2     # (40 threads: few locks in a free)
    np.testing.assert_array_equal(got, want)
