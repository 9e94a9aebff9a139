"""Finalizer delays (question Q4): how long msm_gem_free_object took, by the context it ran in
(retire worker, ioctl, shrinker, reclaim, other) and by object size class; how many frees ran
inside the retire worker, the shrinker and reclaim; the slowest frees with their stacks; and, when
last_put was recorded, who dropped the last reference.

"In reclaim" means in_reclaim was set (PF_MEMALLOC / PF_KSWAPD / inside direct reclaim) or the
context is shrinker or reclaim (stats.under_reclaim), the same rule reclaim_risks uses.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import Frames
from .base import Analysis, Result
from .stats import (counts_by, distribution, known_ns, known_sum, labels, max_ns, percentile_ns,
                    size_class, stack_frames, sum_ns, sums_by, under_reclaim, unknown_note)

SLOWEST_FREES = 20


def analyse(frames: Frames) -> Result:
    res = Result("finalizers", ANALYSIS.title, ANALYSIS.needs)
    free = frames["free"]
    dur, known = known_ns(free["duration_ns"])
    kd = dur[known]
    in_reclaim = under_reclaim(free)
    res.headline = {
        "frees": int(len(free)),
        "frees_by_context": counts_by(free["context"]),
        "free_total_ns": sum_ns(kd),
        "free_p50_ns": percentile_ns(kd, 50),
        "free_p90_ns": percentile_ns(kd, 90),
        "free_p99_ns": percentile_ns(kd, 99),
        "free_max_ns": max_ns(kd),
        "free_total_ns_by_context": sums_by(free["context"][known], kd),
        "frees_in_reclaim": int(in_reclaim.sum()),
        "freed_bytes": known_sum(free["size_bytes"]),
    }
    res.headline["frees_in_retire_worker"] = int((free["context"] == "retire_worker").sum())
    res.headline["frees_from_shrinker"] = int((free["context"] == "shrinker").sum())
    res.notes += unknown_note(int((~known).sum()), "frees")
    if free["size_bytes"].isna().any():
        res.notes.append(f"{int(free['size_bytes'].isna().sum())} frees had an unknown size: "
                         "left out of freed_bytes, size class 'unknown'")

    work = pd.DataFrame({"context": labels(free["context"]).array,
                         "size_class": size_class(free["size_bytes"]),
                         "free_ns": pd.Series(dur, dtype="float64").where(known).to_numpy()})
    res.tables["by_context"] = distribution(work, ["context"], "free_ns", "frees")
    by_size = distribution(work, ["size_class"], "free_ns", "frees")
    res.tables["by_size_class"] = by_size.sort_values("size_class", ignore_index=True)
    res.tables["slowest"] = _slowest(frames, free, dur, known)
    if frames.recorded("last_put"):
        lp = frames["last_put"]
        res.headline["last_puts"] = int(len(lp))
        res.headline["last_puts_by_context"] = counts_by(lp["context"])
        t = pd.DataFrame({"context": labels(lp["context"]).array,
                          "caller": labels(lp["caller"]).array,
                          "in_reclaim": under_reclaim(lp), "last_puts": 1})
        res.tables["last_put_sites"] = t.groupby(["context", "caller", "in_reclaim"],
                                                 observed=True, sort=False)["last_puts"].sum().reset_index() \
            .sort_values("last_puts", ascending=False, kind="stable", ignore_index=True)
    return res


def _slowest(frames: Frames, free: pd.DataFrame, dur: np.ndarray,
             known: np.ndarray) -> pd.DataFrame:
    """The slowest frees with their context, size and stack."""
    idx = np.flatnonzero(known)
    if len(idx) > SLOWEST_FREES:
        idx = idx[np.argpartition(-dur[idx], SLOWEST_FREES - 1)[:SLOWEST_FREES]]
    idx = idx[np.argsort(-dur[idx], kind="stable")]
    top = free.iloc[idx]
    cols = ["ts_ns", "tid", "comm", "obj_addr", "size_bytes", "duration_ns", "context",
            "in_reclaim"]
    out = top[cols].reset_index(drop=True)
    out["stack"] = stack_frames(top["stack_id"], frames.stacks()).to_numpy()
    return out


ANALYSIS = Analysis(
    name="finalizers",
    title="Finalizer (msm_gem_free_object) delays by context and size",
    needs=("free",),
    func=lambda frames: analyse(frames),
    optional=("last_put", "stack"),
)
