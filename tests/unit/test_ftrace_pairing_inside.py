"""pairing.inside: an event is inside the interval of its tid that started last before it."""
from __future__ import annotations

import numpy as np
import pytest

from tracer.ftrace.pairing import inside


def _brute(tid, ts, it, ist, ien):
    out = []
    for t, x in zip(tid.tolist(), ts.tolist()):
        mine = [(s, e) for a, s, e in zip(it.tolist(), ist.tolist(), ien.tolist())
                if a == t and s <= x]
        out.append(bool(mine) and max(mine)[1] >= x)
    return out


def test_exact_values_on_a_small_case():
    it = np.array([5, 5, 7], np.int32)
    ist = np.array([100, 300, 100], np.int64)
    ien = np.array([200, 400, 150], np.int64)
    tid = np.array([5, 5, 5, 7, 7, 9], np.int32)
    ts = np.array([150, 250, 300, 150, 151, 150], np.int64)
    assert inside(tid, ts, it, ist, ien).tolist() == [True, False, True, True, False, False]


@pytest.mark.parametrize("scale", [1, 1 << 20, 1 << 40])   # small spans, hours, > 2**40 ns
def test_matches_brute_force_at_every_time_scale(scale):
    rng = np.random.default_rng(7)
    it = rng.integers(1, 6, 60).astype(np.int32)
    ist = rng.integers(0, 1000, 60).astype(np.int64) * scale
    ien = ist + rng.integers(0, 50, 60) * scale
    tid = rng.integers(0, 7, 300).astype(np.int32)
    ts = rng.integers(0, 1100, 300).astype(np.int64) * scale
    assert inside(tid, ts, it, ist, ien).tolist() == _brute(tid, ts, it, ist, ien)
