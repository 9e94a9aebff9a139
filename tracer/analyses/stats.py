"""Small, exact helpers the analyses share: known-duration masks, percentiles, per-group
distribution tables, size classes, labels for null groups, and "under reclaim".

Percentile definition (used everywhere in gemscope): numpy's ``method="linear"`` (the default,
type 7 of Hyndman & Fan): for n sorted values v[0..n-1] and quantile q in [0, 1], the position is
h = (n - 1) * q and the result is v[floor(h)] + (h - floor(h)) * (v[floor(h)+1] - v[floor(h)]).
`distribution` computes per-group tables with the same formula, so they agree with the headline
numbers. Headline percentiles are then rounded to the nearest integer ns.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PERCENTILE_METHOD = "linear"

# Label used for a group whose key is null (unknown caller, comm, context ...).
UNKNOWN = "unknown"

# Contexts that mean "this ran inside memory reclaim" even when PF_MEMALLOC was not seen
# (the debugfs shrink file runs the scan without PF_MEMALLOC, see probe-catalog 3.E E5).
RECLAIM_CONTEXTS = ("shrinker", "reclaim")

# Power-of-two size classes for object sizes: (upper bound in bytes, label).
SIZE_CLASSES = ((4 << 10, "<=4KiB"), (64 << 10, "<=64KiB"), (1 << 20, "<=1MiB"),
                (16 << 20, "<=16MiB"))
SIZE_CLASS_ABOVE = ">16MiB"


def known_ns(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values as int64 with unknowns set to 0, mask of known values) for a ns column.

    Nullable (Int64) and plain int64 columns both work; the zeros behind the mask are never
    used as measurements, only to keep the array integer so sums stay exact.
    """
    if series.dtype == np.int64:
        values = series.to_numpy()
        return values, np.ones(len(values), dtype=bool)
    known = series.notna().to_numpy()
    values = series.to_numpy(dtype=np.int64, na_value=0)
    return values, known


def as_bool(series: pd.Series) -> np.ndarray:
    """A boolean column as a numpy mask where null (unknown) counts as False."""
    if series.dtype == bool:
        return series.to_numpy()
    return series.fillna(False).to_numpy(dtype=bool)


def percentile_ns(values: np.ndarray, q: float) -> int | None:
    """The q-th percentile (q in 0..100, linear method) rounded to int ns; None when empty."""
    if len(values) == 0:
        return None
    return int(round(float(np.percentile(values, q, method=PERCENTILE_METHOD))))


def max_ns(values: np.ndarray) -> int | None:
    return int(values.max()) if len(values) else None


def known_sum(series: pd.Series) -> int | None:
    """Sum of the known values of a count column (bytes, pages): None when there are values and
    none of them is known (unknown is not 0); 0 for no values."""
    if len(series) and series.isna().all():
        return None
    return int(series.sum())


def sum_ns(values: np.ndarray) -> int:
    return int(values.sum(dtype=np.int64)) if len(values) else 0


def labels(series: pd.Series, unknown: str = UNKNOWN) -> pd.Series:
    """A text/categorical key column with nulls shown as `unknown` (so groupby keeps them).
    Categoricals stay categorical (cheap to group); anything else becomes object."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        if series.isna().any():
            if unknown not in series.cat.categories:
                series = series.cat.add_categories([unknown])
            series = series.fillna(unknown)
        return series
    return series.astype(object).where(series.notna(), unknown)


def counts_by(series: pd.Series) -> dict[str, int]:
    """{label: count}, largest first, nulls labelled UNKNOWN; exact ints."""
    vc = labels(series).value_counts(sort=True)
    return {str(k): int(v) for k, v in vc.items() if v > 0}


def sums_by(keys: pd.Series, values: np.ndarray) -> dict[str, int]:
    """{label: sum of values}, largest first (values already exclude unknowns)."""
    s = pd.Series(values).groupby(labels(keys).reset_index(drop=True), observed=True).sum()
    s = s.sort_values(ascending=False, kind="stable")
    return {str(k): int(v) for k, v in s.items()}


def _group_ids(keys: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """(group id per row, one row of keys per group id). A single key is factorized directly
    (categoricals by their codes); several keys go through groupby().ngroup()."""
    if len(by) == 1:
        codes, uniques = pd.factorize(keys[by[0]], sort=False, use_na_sentinel=False)
        return codes, pd.DataFrame({by[0]: uniques})
    gid = keys.groupby(by, observed=True, sort=False, dropna=False).ngroup().to_numpy()
    # groups are numbered in order of first appearance: a row starts a group when its id is
    # above every id before it
    first = np.flatnonzero(gid > np.maximum.accumulate(np.r_[-1, gid[:-1]]))
    return gid, keys.iloc[first].reset_index(drop=True)


def _small_ints(ids: np.ndarray, n: int) -> np.ndarray:
    """ids in the narrowest unsigned type, so that numpy's stable sort is a radix sort."""
    return ids.astype(np.uint16 if n <= 1 << 16 else np.uint32 if n <= 1 << 32 else np.int64)


def distribution(df: pd.DataFrame, by: list[str], value: str = "wait_ns",
                 count_name: str = "count") -> pd.DataFrame:
    """Per-group count, total, p50/p90/p99 (linear, as percentile_ns but not rounded) and max of
    a ns column, sorted by total descending. Unknown (null) values are counted in their group
    but left out of the other columns; null text keys are grouped as UNKNOWN, null numeric
    keys as null.

    Vectorized without per-group quantile calls: values are sorted once (skipped when the
    caller passes a frame already sorted by `value`), then stably by group id (a radix sort),
    so each group is a contiguous sorted run and its percentiles are two array lookups.
    """
    cols = by + [count_name, "total_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns"]
    if not len(df):
        return pd.DataFrame(columns=cols)
    # null text keys read UNKNOWN; null numeric keys (a tid, an address) stay null
    keys = pd.DataFrame({c: df[c] if pd.api.types.is_numeric_dtype(df[c]) else labels(df[c])
                         for c in by})
    gid, out = _group_ids(keys, by)
    ng = len(out)
    out[count_name] = np.bincount(gid, minlength=ng)
    v = df[value].to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(v)
    g, v = gid[known], v[known]
    if len(v) > 1 and not (v[1:] >= v[:-1]).all():
        o = np.argsort(v)
        g, v = g[o], v[o]
    o = np.argsort(_small_ints(g, ng), kind="stable")
    g, v = g[o], v[o]
    n = np.bincount(g, minlength=ng)
    start = np.r_[0, np.cumsum(n)[:-1]]
    has = n > 0
    total = np.zeros(ng, dtype=np.int64)
    if len(v):
        total[has] = np.add.reduceat(v.astype(np.int64), start[has])
    out["total_ns"] = total
    for q, name in ((0.5, "p50_ns"), (0.9, "p90_ns"), (0.99, "p99_ns"), (1.0, "max_ns")):
        h = (np.maximum(n, 1) - 1) * q
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n, 1) - 1)
        at_lo = v[np.where(has, start + lo, 0)] if len(v) else np.zeros(ng)
        at_hi = v[np.where(has, start + hi, 0)] if len(v) else np.zeros(ng)
        out[name] = np.where(has, at_lo + (h - lo) * (at_hi - at_lo), np.nan)
    out = out[out[count_name] > 0]     # unobserved categories of a categorical key
    return out.sort_values(["total_ns", count_name], ascending=False, kind="stable",
                           ignore_index=True)


def size_class(size_bytes: pd.Series) -> pd.Categorical:
    """Power-of-two size-class labels (SIZE_CLASSES); null sizes become UNKNOWN."""
    sizes = size_bytes.to_numpy(dtype="float64", na_value=np.nan)
    order = [label for _, label in SIZE_CLASSES] + [SIZE_CLASS_ABOVE, UNKNOWN]
    bounds = np.array([b for b, _ in SIZE_CLASSES], dtype="float64")
    codes = np.searchsorted(bounds, sizes, side="left")   # <= bound -> that class
    codes[np.isnan(sizes)] = len(order) - 1
    return pd.Categorical.from_codes(codes, categories=order)


def under_reclaim(df: pd.DataFrame) -> np.ndarray:
    """Mask of events that ran under memory reclaim: in_reclaim (PF_MEMALLOC/PF_KSWAPD or
    inside direct reclaim) or a context of RECLAIM_CONTEXTS. Unknown in_reclaim counts as no."""
    mask = as_bool(df["in_reclaim"]) if "in_reclaim" in df else np.zeros(len(df), dtype=bool)
    if "context" in df:
        mask = mask | df["context"].isin(RECLAIM_CONTEXTS).to_numpy()
    return mask


def unknown_note(n_unknown: int, what: str) -> list[str]:
    """A note for events whose duration is unknown (excluded from sums, still counted)."""
    if not n_unknown:
        return []
    return [f"{n_unknown} {what} had an unknown duration: counted, but left out of sums and "
            "percentiles"]


def stack_frames(stack_ids: pd.Series, stacks: dict[int, str]) -> pd.Series:
    """The symbolized frames of each stack id ('' when the id or its stack is unknown)."""
    ids = stack_ids.to_numpy(dtype="float64", na_value=np.nan)
    lookup = pd.Series(stacks, dtype=object) if stacks else pd.Series([], dtype=object)
    lookup.index = lookup.index.astype("float64")
    out = pd.Series(ids, index=stack_ids.index).map(lookup)
    return out.where(out.notna(), "").astype(object)


def json_safe(value: Any) -> Any:
    """Numpy scalars -> Python, NaN/NA -> None, recursively through dicts and lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    return value if isinstance(value, str) else str(value)
