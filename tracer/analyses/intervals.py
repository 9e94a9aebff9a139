"""Vectorized joins of events against intervals (no Python loop over events or intervals).

Everything here is an "as of" join (the nearest earlier / later event with the same keys) built
on ``pandas.merge_asof`` (hash-partitioned by key), so a join of millions of events costs at most
a sort and a linear pass.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def key_array(series: pd.Series) -> np.ndarray:
    """A join key as a plain int64 numpy array (uint64 addresses keep their bit pattern), so
    that keys of differently typed columns compare. Nulls become NULL_KEY and so only match
    each other: callers drop rows with null keys first when a null key must match nothing."""
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu":
        return series.to_numpy().astype(np.int64, copy=False) if series.dtype.kind == "i" \
            else series.to_numpy().astype(np.uint64, copy=False).view(np.int64)
    if pd.api.types.is_integer_dtype(series.dtype):
        unsigned = str(series.dtype).lower().startswith("uint")
        values = series.to_numpy(dtype=np.uint64 if unsigned else np.int64,
                                 na_value=NULL_KEY if not unsigned else np.uint64(1) << 63)
        return values.view(np.int64) if unsigned else values
    return series.to_numpy()


# Bit pattern 0x8000000000000000: never a tid, and not a kernel address gemscope records.
NULL_KEY = np.iinfo(np.int64).min


def asof(left_on: np.ndarray, right_on: np.ndarray,
         left_by: Sequence[np.ndarray] = (), right_by: Sequence[np.ndarray] = (),
         direction: str = "backward", allow_exact: bool = True) -> np.ndarray:
    """For each left row, the position (into the right arrays as given) of the right row with
    the same `by` keys whose `on` value is the nearest at-or-before (``backward``) or
    at-or-after (``forward``) the left row's `on` value; -1 where there is none.

    Inputs need not be sorted (already sorted ones, the usual case for ts_ns, skip the sort).
    Positions, not values, come back so that int64 ns and uint64 addresses never pass through
    float (merge_asof turns unmatched columns into float).
    """
    n = len(left_on)
    if not n or not len(right_on):
        return np.full(n, -1, dtype=np.int64)
    lo = np.asarray(left_on, dtype=np.int64)
    ro = np.asarray(right_on, dtype=np.int64)
    byn = [f"_k{i}" for i in range(len(left_by))]
    left = pd.DataFrame({"_on": lo, "_row": np.arange(n)})
    right = pd.DataFrame({"_on": ro, "_pos": np.arange(len(ro), dtype=np.float64)})
    for name, lcol, rcol in zip(byn, left_by, right_by):
        left[name] = lcol
        right[name] = rcol
    if not _is_sorted(lo):
        left = left.sort_values("_on", kind="stable")
    if not _is_sorted(ro):
        right = right.sort_values("_on", kind="stable")
    merged = pd.merge_asof(left, right, on="_on", by=byn or None, direction=direction,
                           allow_exact_matches=allow_exact)
    pos = np.full(n, -1, dtype=np.int64)
    found = merged["_pos"].to_numpy(dtype=np.float64, na_value=np.nan)
    ok = ~np.isnan(found)
    pos[merged["_row"].to_numpy()[ok]] = found[ok].astype(np.int64)
    return pos


def _is_sorted(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or (values[1:] >= values[:-1]).all())


def take(values: np.ndarray, pos: np.ndarray, fill) -> np.ndarray:
    """values[pos] where pos >= 0, else `fill` (keeps the dtype when `fill` fits it)."""
    values = np.asarray(values)
    out = np.full(len(pos), fill, dtype=np.result_type(values.dtype, np.asarray(fill).dtype))
    ok = pos >= 0
    out[ok] = values[pos[ok]]
    return out


def overlaps_any(starts: np.ndarray, ends: np.ndarray, iv_starts: np.ndarray,
                 iv_ends: np.ndarray, by: np.ndarray | None = None,
                 iv_by: np.ndarray | None = None) -> np.ndarray:
    """Mask: closed interval [starts[i], ends[i]] intersects at least one closed interval of
    (iv_starts, iv_ends) with the same key (when keys are given).

    Exact even when the intervals overlap each other: among intervals starting at or before
    ends[i], the one reaching furthest (running max of ends, per key) decides.
    """
    if not len(starts) or not len(iv_starts):
        return np.zeros(len(starts), dtype=bool)
    order = np.argsort(iv_starts, kind="stable")
    s, e = np.asarray(iv_starts)[order], np.asarray(iv_ends, dtype=np.int64)[order]
    if iv_by is None:
        reach = np.maximum.accumulate(e)
        pos = asof(ends, s)
    else:
        k = np.asarray(iv_by)[order]
        reach = pd.Series(e).groupby(k, sort=False).cummax().to_numpy()
        pos = asof(ends, s, left_by=(by,), right_by=(k,))
    found = pos >= 0
    return found & (take(reach, pos, np.iinfo(np.int64).min) >= np.asarray(starts))


def inside_some(ts: np.ndarray, iv_starts: np.ndarray, iv_ends: np.ndarray) -> np.ndarray:
    """Mask: ts[i] in [start, end) of at least one interval, whatever its keys. A keyed join
    that only matters inside an interval of the same key runs on these rows alone: a row outside
    every interval is outside its own key's (a running max of the ends, two binary searches)."""
    if not len(ts) or not len(iv_starts):
        return np.zeros(len(ts), dtype=bool)
    order = np.argsort(iv_starts, kind="stable")
    starts = np.asarray(iv_starts)[order]
    reach = np.maximum.accumulate(np.asarray(iv_ends, dtype=np.int64)[order])
    p = np.searchsorted(starts, ts, side="right") - 1
    return (p >= 0) & (reach[np.maximum(p, 0)] > ts)


def take_series(series: pd.Series, pos: np.ndarray) -> pd.Series:
    """series[pos] as a new 0..n-1 indexed Series, null where pos < 0. Integers come back as
    nullable integers (exact), booleans as "boolean", text/categoricals as object."""
    s = series.reset_index(drop=True)
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or \
            pd.api.types.is_string_dtype(s.dtype):
        s = s.astype(object)
    elif pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("boolean")
    elif pd.api.types.is_integer_dtype(s.dtype):
        s = s.astype("UInt64" if str(s.dtype).lower().startswith("uint") else "Int64")
    if not len(s):
        return pd.Series(pd.array([None] * len(pos), dtype=s.dtype if s.dtype != object
                                  else object))
    got = s.iloc[np.where(pos >= 0, pos, 0)].reset_index(drop=True)
    return got.where(pd.Series(pos >= 0), None if got.dtype == object else pd.NA)
