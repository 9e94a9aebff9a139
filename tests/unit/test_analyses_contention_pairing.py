"""contention._paired_contention joins only the calls that can pair: the same pairs as the plain
forward join of every call (the reference below, the code before that change), on seeded
random calls with ties, unknown and negative durations, null keys, unsorted contentions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracer.analyses.contention import _paired_contention
from tracer.analyses.intervals import asof, key_array, take
from tracer.analyses.stats import known_ns


def reference(locks, cont, lock_ends, lock_end_known):
    pos = asof(locks["ts_ns"].to_numpy(), cont["ts_ns"].to_numpy(),
               left_by=(key_array(locks["tid"]), key_array(locks["lock_addr"])),
               right_by=(key_array(cont["tid"]), key_array(cont["lock_addr"])),
               direction="forward")
    next_call = locks.groupby("tid", sort=False)["ts_ns"].shift(-1)
    bound = np.where(lock_end_known, lock_ends,
                     next_call.to_numpy(dtype=np.float64, na_value=np.inf))
    cont_ts = take(cont["ts_ns"].to_numpy(), pos, np.iinfo(np.int64).max)
    inside = (pos >= 0) & np.where(lock_end_known, cont_ts <= lock_ends, cont_ts < bound)
    return np.where(inside, pos, -1)


def _nullable(rng, values, p):
    return pd.array(np.where(rng.random(len(values)) < p, None, values).tolist(), dtype="Int64")


def _calls(rng, n, sort=True, p_unknown=0.1):
    ts = rng.integers(0, 5000, n) * 10
    if sort:
        ts = np.sort(ts)
    dur = rng.integers(-20, 400, n)
    return pd.DataFrame({
        "ts_ns": ts, "tid": _nullable(rng, rng.integers(1, 5, n), 0.05),
        "lock_addr": pd.array(np.where(rng.random(n) < 0.05, None,
                                       (0xFFFF0000 + rng.integers(0, 6, n)).tolist()).tolist(),
                              dtype="UInt64"),
        "duration_ns": _nullable(rng, dur, p_unknown)})


@pytest.mark.parametrize("seed", range(20))
def test_same_pairs_as_joining_every_call(seed):
    rng = np.random.default_rng(seed)
    locks = _calls(rng, 3000, p_unknown=(0.0, 0.1, 0.5)[seed % 3])
    cont = _calls(rng, int(rng.integers(0, 400)), sort=seed % 2 == 0)
    dur, known = known_ns(locks["duration_ns"])
    ends = locks["ts_ns"].to_numpy() + dur
    got = _paired_contention(locks, cont, ends, known)
    want = reference(locks, cont, ends, known)
    assert (want >= 0).sum() > 0 or len(cont) == 0
    np.testing.assert_array_equal(got, want)
