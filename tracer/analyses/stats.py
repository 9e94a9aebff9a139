"""Small, exact helpers the analyses share: known-duration masks, percentiles, per-group
distribution tables, size classes, labels for null groups, and "under reclaim".

Percentile definition (used everywhere in gemscope): numpy's ``method="linear"`` (the default,
type 7 of Hyndman & Fan): for n sorted values v[0..n-1] and quantile q in [0, 1], the position is
h = (n - 1) * q and the result is v[floor(h)] + (h - floor(h)) * (v[floor(h)+1] - v[floor(h)]).
pandas' ``groupby().quantile()`` uses the same interpolation, so per-group tables agree with the
headline numbers. Headline percentiles are then rounded to the nearest integer ns.
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


def sum_ns(values: np.ndarray) -> int:
    return int(values.sum(dtype=np.int64)) if len(values) else 0


def labels(series: pd.Series) -> pd.Series:
    """A text/categorical key column with nulls shown as UNKNOWN (so groupby keeps them)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        if series.isna().any():
            if UNKNOWN not in series.cat.categories:
                series = series.cat.add_categories([UNKNOWN])
            series = series.fillna(UNKNOWN)
        return series
    return series.astype(object).where(series.notna(), UNKNOWN)


def counts_by(series: pd.Series) -> dict[str, int]:
    """{label: count}, largest first, nulls labelled UNKNOWN; exact ints."""
    vc = labels(series).value_counts(sort=True)
    return {str(k): int(v) for k, v in vc.items() if v > 0}


def sums_by(keys: pd.Series, values: np.ndarray) -> dict[str, int]:
    """{label: sum of values}, largest first (values already exclude unknowns)."""
    s = pd.Series(values, index=labels(keys).to_numpy()).groupby(level=0, observed=True).sum()
    s = s.sort_values(ascending=False, kind="stable")
    return {str(k): int(v) for k, v in s.items()}


def distribution(df: pd.DataFrame, by: list[str], value: str = "wait_ns",
                 count_name: str = "count") -> pd.DataFrame:
    """Per-group count, total, p50/p90/p99 (linear) and max of a known-valued ns column,
    sorted by total descending. Groups with only unknown values still get their count."""
    if not len(df):
        return pd.DataFrame(columns=by + [count_name, "total_ns", "p50_ns", "p90_ns", "p99_ns",
                                          "max_ns"])
    # null keys become UNKNOWN: pandas' grouped quantile drops null groups even with dropna=False
    keys = {c: labels(df[c]) if df[c].hasnans or not pd.api.types.is_numeric_dtype(df[c])
            else df[c] for c in by}
    work = pd.DataFrame(keys)
    work["_v"] = df[value].astype("float64").to_numpy()
    g = work.groupby(by, observed=True, sort=False, dropna=False)["_v"]
    out = pd.DataFrame({count_name: g.size(), "total_ns": g.sum(min_count=0)})
    qs = g.quantile([0.5, 0.9, 0.99], interpolation=PERCENTILE_METHOD).unstack()
    out["p50_ns"], out["p90_ns"], out["p99_ns"] = qs[0.5], qs[0.9], qs[0.99]
    out["max_ns"] = g.max()
    out = out.reset_index().sort_values(["total_ns", count_name], ascending=False,
                                        kind="stable", ignore_index=True)
    out["total_ns"] = out["total_ns"].astype("int64")
    return out


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
