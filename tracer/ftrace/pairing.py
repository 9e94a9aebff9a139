"""Pair begin/end events (tracepoint pairs, kprobe entry/return) per thread, vectorized.

Rows of both sides are sorted by (tid, key, ts, reading order). A wait/call is the run of begins
after the previous end of the same (tid, key), closed by the next end: repeated begins (a mutex
that first spins, then sleeps) merge into one interval that starts at the first begin. Begins never
closed (the trace stopped first) and ends without a begin (the trace started inside the call) are
counted, not invented.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pair_order import pair_order


@dataclass
class Pairs:
    begin_idx: np.ndarray      # index into the begin rows of each interval's first begin
    end_idx: np.ndarray        # index into the end rows
    begins_merged: np.ndarray  # begins folded into each interval (>= 1)
    unpaired_begins: int       # begins with no end after them
    unmatched_ends: int        # ends with no begin before them
    begin_or: np.ndarray | None = None  # bitwise OR of `or_values` over each interval's begins
    open_since: int | None = None       # earliest timestamp of a begin still waiting for its end


def pair(b_tid, b_key, b_ts, b_seq, e_tid, e_key, e_ts, e_seq, or_values=None) -> Pairs:
    nb, ne = len(b_ts), len(e_ts)
    empty = np.zeros(0, np.int64)
    if nb + ne == 0:
        return Pairs(empty, empty, empty, 0, 0, empty if or_values is not None else None)
    # one copy each (astype after a concatenate would copy again)
    T = np.concatenate([b_tid, e_tid]).astype(np.int64, copy=False)
    K = np.concatenate([np.asarray(b_key).astype(np.uint64, copy=False),
                        np.asarray(e_key).astype(np.uint64, copy=False)])
    TS = np.concatenate([b_ts, e_ts]).astype(np.int64, copy=False)
    SQ = np.concatenate([b_seq, e_seq]).astype(np.int64, copy=False)
    order, grp = pair_order(T, K, TS, SQ)      # == np.lexsort((SQ, TS, K, T)), and (T, K) numbers
    is_end = order >= nb
    newkey = np.r_[True, grp[1:] != grp[:-1]]
    gstart = newkey | np.r_[False, is_end[:-1]]
    first = np.flatnonzero(gstart)
    last = np.r_[first[1:] - 1, len(order) - 1]
    closed = is_end[last]
    size = last - first + 1
    paired = closed & (size >= 2)
    unmatched = int((closed & (size == 1)).sum())
    unpaired = int(size[~closed].sum())
    bi = order[first[paired]]                   # a group's first row is a begin when size >= 2
    ei = order[last[paired]] - nb
    merged = (size - 1)[paired]
    bor = None
    if or_values is not None:
        bor = _begin_or(np.asarray(or_values, np.int64), order, first[paired], merged, bi)
    open_first = first[~closed]
    open_since = int(TS[order[open_first]].min()) if len(open_first) else None
    return Pairs(bi, ei, merged, unpaired, unmatched, bor, open_since)


def _begin_or(values, order, first, merged, bi) -> np.ndarray:
    """OR of values over each paired interval's begins (sorted rows first .. first + merged - 1):
    the first begin's value, OR-ed with the others' only where begins were merged."""
    out = values[bi]
    many = np.flatnonzero(merged > 1)
    if len(many):
        extra = merged[many] - 1                        # begins after the first one
        owner = np.repeat(many, extra)
        step = np.arange(len(owner)) - np.repeat(np.cumsum(extra) - extra, extra) + 1
        np.bitwise_or.at(out, owner, values[order[first[owner] + step]])
    return out


def inside(tid: np.ndarray, ts: np.ndarray, iv_tid: np.ndarray, iv_start: np.ndarray,
           iv_end: np.ndarray) -> np.ndarray:
    """For each (tid, ts): does an interval of the same tid that started last before ts cover it?"""
    n = len(ts)
    if n == 0 or len(iv_start) == 0:
        return np.zeros(n, bool)
    # sort intervals by (tid, start); look up the last start <= ts within the same tid
    o = np.lexsort((iv_start, iv_tid))
    it, ist, ien = iv_tid[o].astype(np.int64), iv_start[o].astype(np.int64), iv_end[o].astype(np.int64)
    # tids as ranks among the intervals' tids (an event of another tid is inside none of them)
    tids = np.unique(it)
    rank = np.searchsorted(tids, tid)
    known = (rank < len(tids)) & (tids[np.minimum(rank, len(tids) - 1)] == tid)
    span = int(max(ts.max(), ist.max(), ien.max()) - min(ts.min(), ist.min())) + 2
    base = int(min(ts.min(), ist.min()))
    if 0 < span and (len(tids) + 1) * span < (1 << 62):
        keys_iv = np.searchsorted(tids, it) * span + (ist - base)
        keys_ev = rank.astype(np.int64) * span + (ts.astype(np.int64) - base)
        j = np.searchsorted(keys_iv, keys_ev, side="right") - 1
        jj = np.maximum(j, 0)
        return known & (j >= 0) & (it[jj] == tid) & (ien[jj] >= ts) & (ist[jj] <= ts)
    if span <= 0 or span > (1 << 40):
        # compress the time axis to ranks so tid * span fits in int64
        allt = np.unique(np.concatenate([ts, ist]))
        tsr, istr = np.searchsorted(allt, ts), np.searchsorted(allt, ist)
        span, base = len(allt) + 2, 0
    else:
        tsr, istr = ts - base, ist - base
    tmin = int(min(it.min(), tid.min()))
    keys_iv = (it - tmin) * span + istr
    keys_ev = (tid.astype(np.int64) - tmin) * span + tsr
    j = np.searchsorted(keys_iv, keys_ev, side="right") - 1
    jj = np.maximum(j, 0)
    return (j >= 0) & (it[jj] == tid) & (ien[jj] >= ts) & (ist[jj] <= ts)
