"""The msm shrinker (questions Q2, Q3, Q7): count and scan calls, scan latency, pages freed versus
requested, per-stage LRU outcomes, what drm_gem_lru_scan reported as remaining and the bytes it
skipped because the resv trylock failed, the active stages' fence waits (shrinker_waits.py), and
frees that overlapped a scan of the same LRU.

That last number is the kref_get_unless_zero window of the 2022 thread: from msm_gem_free_object
entry until the object leaves its LRU, a scan walking that LRU can meet an object whose refcount
is already zero and must skip it. A free [ts, ts + duration] overlaps a scan when the closed
intervals intersect and both carry the same lru_addr; frees whose lru_addr is unknown that
overlap any scan are counted apart (`frees_overlapping_scans_unknown_lru`). A free of unknown
duration is taken as the instant it started (a lower bound on the overlap).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import Frames
from .base import Analysis, Result
from .intervals import key_array, overlaps_any
from .shrinker_waits import shrinker_fence_waits
from .stats import (distribution, known_ns, known_sum, labels, percentile_ns, sum_ns,
                    unknown_note)

# The overlapping frees listed (longest first); the headline counts all of them.
OVERLAP_EXAMPLES = 200


def _pages(series: pd.Series) -> int:
    """Sum of a page-count column; nulls (unknown) are skipped."""
    return int(series.sum()) if len(series) else 0


def analyse(frames: Frames) -> Result:
    res = Result("shrinker", ANALYSIS.title, ANALYSIS.needs)
    scans = frames["shrink_scan"]
    dur, known = known_ns(scans["duration_ns"])
    stop = scans["freed_pages"].isna()
    res.headline = {
        "scans": int(len(scans)),
        "counts": int(len(frames["shrink_count"])) if frames.recorded("shrink_count") else None,
        "scan_total_ns": sum_ns(dur[known]),
        "scan_p50_ns": percentile_ns(dur[known], 50),
        "scan_p99_ns": percentile_ns(dur[known], 99),
        "requested_pages": _pages(scans["nr_to_scan_pages"]),
        "freed_pages": _pages(scans["freed_pages"]),
        "scans_shrink_stop": int(stop.sum()),
        "remaining_pages": None,
        "trylock_skipped_bytes": None,
        "freed_pages_by_stage": None,
        "frees_overlapping_scans": None,
    }
    res.notes += unknown_note(int((~known).sum()), "scans")
    if stop.any():
        res.notes.append(f"{int(stop.sum())} scans returned SHRINK_STOP (freed unknown): left "
                         "out of freed_pages")
    if not frames.recorded("shrink_count"):
        res.notes.append("shrink_count was not recorded: count calls are unknown")
    work = pd.DataFrame({"reclaim_kind": labels(scans["reclaim_kind"]).array,
                         "scan_ns": pd.Series(dur, dtype="float64").where(known).to_numpy()})
    by_kind = distribution(work, ["reclaim_kind"], "scan_ns", "scans")
    g = pd.DataFrame({"reclaim_kind": work["reclaim_kind"],
                      "requested_pages": scans["nr_to_scan_pages"].to_numpy(dtype="float64",
                                                                            na_value=np.nan),
                      "freed_pages": scans["freed_pages"].to_numpy(dtype="float64",
                                                                    na_value=np.nan)}) \
        .groupby("reclaim_kind", observed=True, sort=False).sum(min_count=0)
    res.tables["scans_by_reclaim_kind"] = by_kind.join(g, on="reclaim_kind")

    if frames.recorded("lru_scan"):
        lru = frames["lru_scan"]
        # the kernel's own figure: pages whose trylock failed and, on kernels that count them
        # (2026's "objects not shrunk are remaining"; Debian 6.1.0-57 yes, 6.12.95 no), pages
        # a stage callback declined
        rem = lru["remaining_pages"]
        res.headline["remaining_pages"] = known_sum(rem)
        if rem.isna().any():
            res.notes.append(f"{int(rem.isna().sum())} of {len(rem)} stage scans have an unknown "
                             "remaining (a kernel without drm_gem_lru_scan's `remaining`, or the "
                             "tracefs backend, whose kretprobe cannot read it): left out of "
                             "remaining_pages" + (", which is unknown" if rem.isna().all() else ""))
        stage = labels(lru["stage"]).array
        freed_by_stage = pd.Series(lru["freed_pages"].to_numpy(dtype="float64", na_value=0),
                                   index=stage).groupby(level=0, observed=True, sort=False).sum()
        res.headline["freed_pages_by_stage"] = {str(k): int(v) for k, v in
                                                freed_by_stage.sort_values(ascending=False,
                                                                           kind="stable").items()}
        res.tables["stages"] = _stage_table(lru, stage)
        if frames.recorded("free"):
            _overlaps(res, frames["free"], lru)
        else:
            res.notes.append("free was not recorded: frees overlapping scans cannot be counted")
    else:
        res.notes.append("lru_scan was not recorded: per-stage outcomes, trylock-skipped pages "
                         "and free/scan overlaps cannot be answered")
    if frames.recorded("shrink_object"):
        so = frames["shrink_object"]
        t = pd.DataFrame({"stage": labels(so["stage"]).array,
                          "objects": 1, "reclaimed": so["success"].fillna(False).to_numpy(bool),
                          "reclaimed_bytes": np.where(so["success"].fillna(False).to_numpy(bool),
                                                      so["size_bytes"].to_numpy(
                                                          dtype="float64", na_value=0), 0)})
        res.tables["objects_by_stage"] = t.groupby("stage", observed=True, sort=False).sum() \
            .reset_index()
    if frames.recorded("resv_trylock"):
        tl = frames["resv_trylock"]
        failed = tl["stage"].notna().to_numpy() & ~tl["success"].fillna(True).to_numpy(bool)
        res.headline["trylock_skipped_bytes"] = known_sum(tl["size_bytes"][failed])
    if frames.recorded("fence_wait"):
        head, res.tables["fence_waits_by_stage"], notes = shrinker_fence_waits(frames)
        res.headline.update(head)
        res.notes += notes
    else:
        res.headline["fence_waits"] = None
        res.notes.append("fence_wait was not recorded: the active stages' waits on busy objects "
                         "cannot be counted")
    if frames.recorded("shrink_tp"):
        tp = frames["shrink_tp"]
        res.headline["tracepoint_pages"] = {c.removesuffix("_pages"): _pages(tp[c]) for c in (
            "purged_pages", "evicted_pages", "active_purged_pages", "active_evicted_pages")}
    if frames.recorded("shrink_slab"):
        slab = frames["shrink_slab"]
        sd, sk = known_ns(slab["duration_ns"])
        res.headline["shrink_slab_calls"] = int(len(slab))
        res.headline["shrink_slab_total_ns"] = sum_ns(sd[sk])
    return res


def _stage_table(lru: pd.DataFrame, stage: np.ndarray) -> pd.DataFrame:
    dur, known = known_ns(lru["duration_ns"])
    t = pd.DataFrame({"stage": stage, "scan_ns": pd.Series(dur, dtype="float64").where(known)
                      .to_numpy()})
    out = distribution(t, ["stage"], "scan_ns", "scans")
    sums = pd.DataFrame({"stage": stage, **{c: lru[c].to_numpy(dtype="float64", na_value=np.nan)
                                            for c in ("nr_to_scan_pages", "freed_pages",
                                                      "remaining_pages")}}) \
        .groupby("stage", observed=True, sort=False).sum(min_count=0)
    return out.join(sums, on="stage").rename(columns={"nr_to_scan_pages": "requested_pages"})


def _overlaps(res: Result, free: pd.DataFrame, lru: pd.DataFrame) -> None:
    """Frees overlapping a scan of the same LRU, and of any LRU when the free's is unknown."""
    fdur, fknown = known_ns(free["duration_ns"])
    fstart = free["ts_ns"].to_numpy()
    fend = fstart + np.where(fknown, fdur, 0)
    sdur, sknown = known_ns(lru["duration_ns"])
    s_ok = lru["lru_addr"].notna().to_numpy()
    sstart = lru["ts_ns"].to_numpy()
    send = sstart + np.where(sknown, sdur, 0)
    f_lru_known = free["lru_addr"].notna().to_numpy()
    same = overlaps_any(fstart[f_lru_known], fend[f_lru_known], sstart[s_ok], send[s_ok],
                        key_array(free["lru_addr"])[f_lru_known],
                        key_array(lru["lru_addr"])[s_ok])
    unknown = overlaps_any(fstart[~f_lru_known], fend[~f_lru_known], sstart, send)
    res.headline["frees_overlapping_scans"] = int(same.sum())
    res.headline["frees_overlapping_scans_unknown_lru"] = int(unknown.sum())
    hit = np.zeros(len(free), dtype=bool)
    hit[np.flatnonzero(f_lru_known)[same]] = True
    hit[np.flatnonzero(~f_lru_known)[unknown]] = True
    racing = free[hit]
    # bytes a scan may have skipped because their objects were already being finalized
    res.headline["frees_overlapping_scans_bytes"] = int(racing["size_bytes"].sum())
    cols = ["ts_ns", "tid", "comm", "obj_addr", "size_bytes", "duration_ns", "lru_addr",
            "context"]
    res.tables["frees_overlapping_scans"] = racing.sort_values(
        "duration_ns", ascending=False, kind="stable", na_position="last")[cols] \
        .head(OVERLAP_EXAMPLES).reset_index(drop=True)
    if (~fknown).any():
        res.notes.append(f"{int((~fknown).sum())} frees had an unknown duration: taken as the "
                         "instant they started when looking for overlapping scans")
    if (~s_ok).any():
        res.notes.append(f"{int((~s_ok).sum())} LRU scans had an unknown lru_addr: only frees "
                         "of unknown LRU are matched against them")


ANALYSIS = Analysis(
    name="shrinker",
    title="Shrinker: scans, freed vs requested, stages, trylock skips, frees racing scans",
    needs=("shrink_scan",),
    func=lambda frames: analyse(frames),
    optional=("shrink_count", "lru_scan", "shrink_object", "shrink_tp", "shrink_slab", "free",
              "fence_wait", "resv_trylock"),
)
