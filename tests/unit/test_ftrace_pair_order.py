"""pair_order equals np.lexsort((seq, ts, key, tid)); pair() gives exact intervals."""
from __future__ import annotations

import numpy as np
import pytest

from tracer.ftrace.pair_order import _stable_argsort_small, pair_order
from tracer.ftrace.pairing import pair


def test_exact_order_and_groups():
    tid = np.array([7, 5, 5, 7, 5], np.int64)
    key = np.array([1, 2, 1, 1, 1], np.uint64)
    ts = np.array([10, 30, 20, 10, 5], np.int64)
    seq = np.array([4, 1, 2, 3, 5], np.int64)
    order, grp = pair_order(tid, key, ts, seq)
    assert order.tolist() == [4, 2, 1, 3, 0]      # (5,1,5) (5,1,20) (5,2,30) (7,1,10,3) (7,1,10,4)
    assert grp.tolist() == [0, 0, 1, 2, 2]


@pytest.mark.parametrize("n_tid,n_key,span", [(3, 2, 5), (50, 40, 3), (400, 300, 1 << 40),
                                              (5, 1, 1)])
def test_equals_the_four_key_lexsort(n_tid, n_key, span):
    """Ties in time (with seq in and out of order), >65536 groups, huge tid values."""
    rng = np.random.default_rng(n_tid * 7 + n_key)
    for _ in range(20):
        n = int(rng.integers(2, 3000))
        tid = rng.integers(0, n_tid, n).astype(np.int64) * (1 << 30 if n_tid == 400 else 1)
        key = rng.choice(rng.integers(0, 1 << 63, n_key, dtype=np.int64).astype(np.uint64) * 2, n)
        ts = rng.integers(0, span, n).astype(np.int64)
        seq = rng.permutation(n).astype(np.int64) if rng.random() < 0.5 else np.arange(n)
        order, grp = pair_order(tid, key, ts, seq)
        ref = np.lexsort((seq, ts, key, tid))
        assert order.tolist() == ref.tolist()
        pairs = list(zip(tid[ref].tolist(), key[ref].tolist()))
        assert (np.diff(grp) >= 0).all()
        assert all((pairs[i] == pairs[i + 1]) == (grp[i] == grp[i + 1]) for i in range(n - 1))


def test_radix_passes_for_many_groups():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 1 << 20, 100_000)
    assert _stable_argsort_small(g).tolist() == np.argsort(g, kind="stable").tolist()
    g = rng.integers(0, 1 << 40, 1000)
    assert _stable_argsort_small(g).tolist() == np.argsort(g, kind="stable").tolist()


def test_pair_exact_values():
    # tid 1 lock 9: begin 10, begin 12 (merged), end 20; begin 30 never ends
    # tid 2 lock 9: end 5 with no begin; begin 6, end 8
    p = pair(np.array([1, 1, 1, 2]), np.array([9, 9, 9, 9], np.uint64),
             np.array([10, 12, 30, 6]), np.array([1, 2, 5, 7]),
             np.array([1, 2, 2]), np.array([9, 9, 9], np.uint64), np.array([20, 5, 8]),
             np.array([3, 4, 8]), or_values=np.array([1, 2, 4, 8]))
    assert p.begin_idx.tolist() == [0, 3] and p.end_idx.tolist() == [0, 2]
    assert p.begins_merged.tolist() == [2, 1] and p.begin_or.tolist() == [3, 8]
    assert (p.unpaired_begins, p.unmatched_ends, p.open_since) == (1, 1, 30)


def _brute_pairs(b, e, orv):
    """Walk each (tid, key) in (ts, seq) order: begins collect until an end closes them."""
    rows = sorted([(t, k, ts, sq, 0, i) for i, (t, k, ts, sq) in enumerate(b)] +
                  [(t, k, ts, sq, 1, i) for i, (t, k, ts, sq) in enumerate(e)])
    out, unpaired, unmatched, open_ = [], 0, 0, []
    for idx, r in enumerate(rows):
        if idx and rows[idx - 1][:2] != r[:2]:
            unpaired += len(open_)
            open_ = []
        if r[4] == 0:
            open_.append(r[5])
        elif open_:
            bor = 0
            for i in open_:
                bor |= orv[i]
            out.append((open_[0], r[5], len(open_), bor))
            open_ = []
        else:
            unmatched += 1
    return out, unpaired + len(open_), unmatched


def test_pair_equals_a_walk_over_each_thread_and_key():
    rng = np.random.default_rng(21)
    for _ in range(30):
        nb, ne = int(rng.integers(0, 300)), int(rng.integers(0, 300))
        b = [(int(rng.integers(0, 4)), int(rng.integers(0, 3)), int(rng.integers(0, 50)), i)
             for i in range(nb)]
        e = [(int(rng.integers(0, 4)), int(rng.integers(0, 3)), int(rng.integers(0, 50)), nb + i)
             for i in range(ne)]
        orv = rng.integers(0, 64, nb).tolist()
        col = lambda rows, j, dt: np.array([r[j] for r in rows], dt)  # noqa: E731
        p = pair(col(b, 0, np.int32), col(b, 1, np.uint64), col(b, 2, np.int64), col(b, 3, np.int64),
                 col(e, 0, np.int32), col(e, 1, np.uint64), col(e, 2, np.int64), col(e, 3, np.int64),
                 or_values=np.array(orv, np.int64))
        want, unpaired, unmatched = _brute_pairs(b, e, orv)
        got = list(zip(p.begin_idx.tolist(), p.end_idx.tolist(), p.begins_merged.tolist(),
                       p.begin_or.tolist()))
        assert sorted(got) == sorted(want)
        assert (p.unpaired_begins, p.unmatched_ends) == (unpaired, unmatched)
