"""The numbers behind the in-terminal plots: histograms and time series, pure numpy (no textual).

Every plot a view draws comes from one of these functions, each unit-tested on known inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd



@dataclass(frozen=True)
class Histogram:
    lower: tuple[int, ...]      # lower edge of each bucket (a power of two)
    counts: tuple[int, ...]
    total: int

    def count_at(self, lower: int) -> int:
        return dict(zip(self.lower, self.counts)).get(lower, 0)


def log2_histogram(values_ns) -> Histogram:
    """Power-of-two buckets [2^k, 2^(k+1)) over the non-null positive values (like BCC's hist).
    Values <= 0 fall into the first bucket. Only buckets from the first to the last used."""
    v = pd.Series(values_ns).dropna().to_numpy(dtype=np.float64)
    if len(v) == 0:
        return Histogram((), (), 0)
    k = np.floor(np.log2(np.maximum(v, 1))).astype(np.int64)
    lo, hi = int(k.min()), int(k.max())
    counts = np.bincount(k - lo, minlength=hi - lo + 1)
    return Histogram(tuple(2 ** e for e in range(lo, hi + 1)), tuple(int(c) for c in counts),
                     int(len(v)))


def time_series(ts_ns, bounds: tuple[int, int], bins: int, weights=None) -> np.ndarray:
    """Sum of weights (or count) per equal time bin over [start, end). Events outside are ignored."""
    start, end = bounds
    out = np.zeros(bins, dtype=np.float64)
    ts = np.asarray(ts_ns, dtype=np.int64)
    if end <= start or len(ts) == 0:
        return out
    w = None if weights is None else pd.Series(weights).fillna(0).to_numpy(dtype=np.float64)
    keep = (ts >= start) & (ts < end)
    idx = ((ts[keep] - start) * bins // (end - start)).astype(np.int64)
    np.add.at(out, idx, 1.0 if w is None else w[keep])
    return out


def reclaim_delay_by_task(taskstats: pd.DataFrame) -> pd.DataFrame:
    """Direct-reclaim delay each task accumulated over the samples (last - first cumulative)."""
    cols = ["target_comm", "target_tid", "freepages_delay_ns", "samples"]
    if not len(taskstats):
        return pd.DataFrame(columns=cols)
    df = taskstats.dropna(subset=["freepages_delay_ns"])
    g = df.groupby(["target_tid"], sort=True)
    out = pd.DataFrame({
        "target_comm": g["target_comm"].last().astype(str),
        "freepages_delay_ns": (g["freepages_delay_ns"].max() - g["freepages_delay_ns"].min())
        .astype("int64"),
        "samples": g.size()}).reset_index()
    out = out[cols]
    return out.sort_values(["freepages_delay_ns", "target_tid"], ascending=[False, True],
                           ignore_index=True)
