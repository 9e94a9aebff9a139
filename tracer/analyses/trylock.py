"""Reservation trylock failures (question Q2): how often the shrinker (and everyone else) failed to
take a dma_resv with a trylock, where, how many bytes that left unreclaimed, over time, and who
held the lock: another task (real contention) or the same task (benign recursion: an allocation
made while holding this object's lock re-entered reclaim).

A trylock with an unknown outcome (success null) is counted in `trylocks` but is neither a
success nor a failure; the failure rate is failures / trylocks with a known outcome.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import Frames
from .base import Analysis, Result
from .stats import UNKNOWN, counts_by, labels

# Trylocks whose stage is null did not happen inside a shrinker LRU scan.
OUTSIDE_SHRINKER = "outside_shrinker"
NS_PER_S = 1_000_000_000


def analyse(frames: Frames) -> Result:
    res = Result("trylock", ANALYSIS.title, ANALYSIS.needs)
    tl = frames["resv_trylock"]
    outcome_known = tl["success"].notna().to_numpy()
    failed = outcome_known & ~tl["success"].fillna(True).to_numpy(dtype=bool)
    fails = tl[failed]
    stage = _stage(tl)
    size_known = fails["size_bytes"].notna().to_numpy()
    fail_bytes = fails["size_bytes"].to_numpy(dtype=np.uint64, na_value=0)
    self_held = (fails["holder_tid"] == fails["tid"]).fillna(False).to_numpy(dtype=bool)
    n_known = int(outcome_known.sum())
    res.headline = {
        "trylocks": int(len(tl)),
        "trylock_failures": int(failed.sum()),
        "trylock_failure_rate": float(failed.sum() / n_known) if n_known else 0.0,
        "failures_by_caller": counts_by(fails["caller"]),
        "failures_by_stage": counts_by(stage[failed]),
        # unknown (None) when no failure's size is known, not 0
        "failed_bytes": int(fail_bytes[size_known].sum(dtype=np.uint64))
        if size_known.any() or not len(fails) else None,
        "failures_self_held": int(self_held.sum()),
        "failures_by_holder": counts_by(fails["holder_comm"]),
    }
    if n_known < len(tl):
        res.notes.append(f"{len(tl) - n_known} trylocks had an unknown outcome: counted, but "
                         "neither success nor failure")
    if not size_known.all():
        res.notes.append(f"{int((~size_known).sum())} failed trylocks had an unknown object "
                         "size: left out of failed_bytes")
    if not len(tl):
        res.notes.append("no trylock happened in this recording")

    work = pd.DataFrame({"caller": labels(tl["caller"]).array,
                         "stage": stage.array, "failed": failed,
                         "failed_bytes": np.where(failed, tl["size_bytes"].to_numpy(
                             dtype=np.uint64, na_value=0), 0).astype(np.uint64)})
    res.tables["by_caller"] = _rate_table(work, ["caller", "stage"])
    res.tables["by_stage"] = _rate_table(work, ["stage"])
    res.tables["failures_per_second"] = _per_second(frames, tl, failed)
    holders = pd.DataFrame({"holder_comm": labels(fails["holder_comm"]).array,
                            "holder_tid": fails["holder_tid"].astype("Int64").to_numpy(),
                            "self_held": self_held, "failures": 1})
    res.tables["holders"] = holders.groupby(["holder_comm", "holder_tid", "self_held"],
                                            dropna=False, observed=True, sort=False)["failures"].sum() \
        .reset_index().sort_values("failures", ascending=False, kind="stable",
                                   ignore_index=True)
    return res


def _stage(tl: pd.DataFrame) -> pd.Series:
    """Shrinker stage of each trylock, OUTSIDE_SHRINKER when it was not in a stage."""
    return labels(tl["stage"], OUTSIDE_SHRINKER).reset_index(drop=True)


def _rate_table(work: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = work.groupby(by, observed=True, sort=False)
    out = pd.DataFrame({"trylocks": g.size(), "failures": g["failed"].sum(),
                        "failed_bytes": g["failed_bytes"].sum()}).reset_index()
    out["failure_rate"] = out["failures"] / out["trylocks"]
    return out.sort_values(["failures", "trylocks"], ascending=False, kind="stable",
                           ignore_index=True)


def _per_second(frames: Frames, tl: pd.DataFrame, failed: np.ndarray) -> pd.DataFrame:
    """Trylocks and failures per whole second since the start of the recording."""
    span = frames.time_range_ns
    t0 = span[0] if span else 0
    sec = (tl["ts_ns"].to_numpy() - t0) // NS_PER_S
    work = pd.DataFrame({"second": sec, "trylocks": 1, "failures": failed.astype(np.int64)})
    out = work.groupby("second", sort=True).sum().reset_index()
    out["failure_rate"] = out["failures"] / out["trylocks"]
    return out


ANALYSIS = Analysis(
    name="trylock",
    title="Reservation trylock failures: where, how much, and who held the lock",
    needs=("resv_trylock",),
    func=lambda frames: analyse(frames),
    optional=(),
)

__all__ = ["ANALYSIS", "OUTSIDE_SHRINKER", "UNKNOWN"]
