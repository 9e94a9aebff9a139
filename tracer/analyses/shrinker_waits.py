"""Fence waits inside the msm shrinker (question Q3's other half): how often the active_* stages
waited on a busy object with dma_resv_wait_timeout, for how long, and how many waits timed out
(returned 0: the object was skipped after the whole timeout).

A wait is in the shrinker when its context is `shrinker` (the probe's per-thread flag, set from
msm_gem_shrinker_scan entry to return). Its stage is that of the purge/evict/active_* call on the
same thread whose interval contains the wait's; without shrink_object events (the tracefs
backend), that of the drm_gem_lru_scan call containing it (the stage callback runs inside it);
when no call contains it, the stage is unknown.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import Frames
from .intervals import asof, take
from .stats import UNKNOWN, distribution, known_ns, labels, sum_ns


def enclosing_stage(waits: pd.DataFrame, calls: pd.DataFrame) -> np.ndarray:
    """The stage of the shrink_object (or lru_scan) call on the same tid that contains each wait
    (object array, UNKNOWN where none does). Calls on one thread never overlap, so the
    containing call, if any, is the last one that started at or before the wait."""
    out = np.full(len(waits), UNKNOWN, dtype=object)
    if not len(waits) or not len(calls):
        return out
    cdur, cknown = known_ns(calls["duration_ns"])
    call_ts = calls["ts_ns"].to_numpy(dtype=np.int64)
    wdur, wknown = known_ns(waits["duration_ns"])
    wait_ts = waits["ts_ns"].to_numpy(dtype=np.int64)
    pos = asof(wait_ts, call_ts, left_by=(waits["tid"].to_numpy(dtype=np.int64),),
               right_by=(calls["tid"].to_numpy(dtype=np.int64),))
    call_end = np.where(cknown, call_ts + cdur, -1)
    inside = (take(call_end, pos, -1) >= wait_ts + wdur) & wknown
    out[inside] = labels(calls["stage"]).to_numpy(dtype=object)[pos[inside]]
    return out


def shrinker_fence_waits(frames: Frames) -> tuple[dict, pd.DataFrame, list[str]]:
    """(headline figures, per-stage table, notes) for the fence waits made inside scans."""
    fw = frames["fence_wait"]
    w = fw[(labels(fw["context"]) == "shrinker").to_numpy()]
    dur, known = known_ns(w["duration_ns"])
    timed_out = (w["ret"] == 0).fillna(False).to_numpy(dtype=bool)
    headline = {"fence_waits": int(len(w)), "fence_wait_timeouts": int(timed_out.sum()),
                "fence_wait_total_ns": sum_ns(dur[known])}
    notes = []
    if frames.recorded("shrink_object"):
        stage = enclosing_stage(w, frames["shrink_object"])
    elif frames.recorded("lru_scan"):
        stage = enclosing_stage(w, frames["lru_scan"])
    else:
        stage = np.full(len(w), UNKNOWN, dtype=object)
        notes.append("neither shrink_object nor lru_scan was recorded: the stage of a fence wait "
                     "is unknown")
    t = pd.DataFrame({"stage": stage,
                      "wait_ns": pd.Series(dur, dtype="float64").where(known).to_numpy(),
                      "timeouts": timed_out.astype(np.int64)})
    table = distribution(t, ["stage"], "wait_ns", "waits")
    table = table.join(t.groupby("stage", sort=False)["timeouts"].sum(), on="stage")
    if (~known).any():
        notes.append(f"{int((~known).sum())} fence waits in the shrinker had an unknown duration: "
                     "counted, left out of fence_wait_total_ns")
    return headline, table, notes
