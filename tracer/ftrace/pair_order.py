"""The order that sorts paired rows by (tid, key, ts, seq), without a four-key lexsort.

np.lexsort((seq, ts, key, tid)) runs one indirect merge sort per key. Here the rows are first put
in (ts, seq) order with one stable sort of ts (timsort: the begins and the ends are each already in
time order, so this is mostly merging runs), then stably sorted by a dense group number: the
(tid, key) pairs, found with Arrow's hash tables and numbered in their sorted order, so that
sort is a radix sort of 16-bit numbers (two passes for more than 65536 groups). Same result as the
lexsort (tests/unit/test_ftrace_pair_order.py).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa


def pair_order(tid: np.ndarray, key: np.ndarray, ts: np.ndarray, seq: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(order, group): indices that sort the rows by (tid, key, ts, seq) (ties keep the row
    order, as np.lexsort), and the sorted rows' (tid, key) numbers (equal pairs, equal numbers;
    increasing with (tid, key))."""
    n = len(ts)
    if n < 2:
        return np.arange(n), np.zeros(n, np.int64)
    o = np.argsort(ts, kind="stable")
    t = ts[o]
    tie = np.flatnonzero(t[1:] == t[:-1])
    if len(tie):
        s = seq[o]
        if (s[tie + 1] < s[tie]).any():      # equal times out of seq order: sort both keys
            o = np.lexsort((seq, ts))
    g = _group_rank(tid, key)[o]
    s = _stable_argsort_small(g)
    # g sorted, without a gather: each group number repeated as often as it occurs
    counts = np.bincount(g)
    return o[s], np.repeat(np.arange(len(counts)), counts)


def _dense_rank(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Rank of every value among the distinct values (0 = smallest) and their count."""
    enc = pa.array(values).dictionary_encode()
    codes = enc.indices.to_numpy(zero_copy_only=False)
    uniq = enc.dictionary.to_numpy(zero_copy_only=False)
    rank = np.empty(len(uniq), np.int64)
    rank[np.argsort(uniq, kind="stable")] = np.arange(len(uniq))
    return rank[codes], len(uniq)


def _small_int_rank(values: np.ndarray) -> tuple[np.ndarray, int]:
    """_dense_rank of integers spanning less than 2**22 (thread ids) with a presence table."""
    lo, hi = int(values.min()), int(values.max())
    if hi - lo >= 1 << 22:
        return _dense_rank(values)
    off = values - lo
    present = np.zeros(hi - lo + 1, bool)
    present[off] = True
    rank = np.cumsum(present) - 1
    return rank[off], int(rank[-1]) + 1


def _group_rank(tid: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Dense number of each row's (tid, key), in (tid, key) order."""
    rt, nt = _small_int_rank(np.asarray(tid, np.int64))
    rk, nk = _dense_rank(np.asarray(key, np.uint64))
    g = rt * nk + rk                       # < n * n: fits int64 for any row count we can hold
    if nt * nk <= 1 << 16:
        return g
    return _dense_rank(g)[0]


def _stable_argsort_small(g: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative ints: radix passes over 16-bit digits."""
    top = int(g.max()) if len(g) else 0
    if top < 1 << 16:
        return np.argsort(g.astype(np.uint16), kind="stable")
    if top >= 1 << 32:
        return np.argsort(g, kind="stable")
    lo = np.argsort((g & 0xFFFF).astype(np.uint16), kind="stable")
    hi = np.argsort((g[lo] >> 16).astype(np.uint16), kind="stable")
    return lo[hi]
