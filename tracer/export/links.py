"""The causal links an export draws between events: submit -> retired -> the frees it caused.

Rules (vectorized, the same interval rule as the retire analysis):
- a gpu_retired belongs to the submit with the same (submit_id, ring_id) that happened most
  recently at or before it;
- an event belongs to a retire run when it starts inside [run start, run end) on the run's tid;
- a free was caused by the gpu_retired that precedes it on the same thread inside the same retire
  run (msm's retire_submit emits the tracepoint, then drops the submit's BO references).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..analyses.intervals import asof, key_array, take
from ..analyses.stats import known_ns
from ..frames import Frames


@dataclass
class Links:
    """Positions (row numbers in the frames as loaded, -1 = none) linking the lifecycle."""
    retired_submit: np.ndarray   # per gpu_retired row: its gpu_submit row
    retired_run: np.ndarray      # per gpu_retired row: its retire_run row
    free_run: np.ndarray         # per free row: the retire_run row it ran in
    free_retired: np.ndarray     # per free row: the gpu_retired row that caused it


def runs_of(events: pd.DataFrame, runs: pd.DataFrame) -> np.ndarray:
    """Row of the retire run each event started inside (same tid), or -1."""
    if not len(events) or not len(runs):
        return np.full(len(events), -1, dtype=np.int64)
    dur, known = known_ns(runs["duration_ns"])
    run_ts = runs["ts_ns"].to_numpy()
    ts = events["ts_ns"].to_numpy()
    pos = asof(ts, run_ts, left_by=(key_array(events["tid"]),), right_by=(key_array(runs["tid"]),))
    inside = (pos >= 0) & take(known, pos, False) & (ts < take(run_ts + dur, pos, 0))
    return np.where(inside, pos, -1)


def _small_key(series: pd.Series) -> np.ndarray:
    """A u32/i32 id column as int64 (null -> -1; callers mask nulls out separately)."""
    return series.to_numpy(dtype=np.int64, na_value=-1)


def _submit_of_retired(frames: Frames) -> np.ndarray:
    sub, ret = frames["gpu_submit"], frames["gpu_retired"]
    if not len(sub) or not len(ret):
        return np.full(len(ret), -1, dtype=np.int64)
    usable_r = ret["submit_id"].notna().to_numpy()
    usable_s = sub["submit_id"].notna().to_numpy()
    keys_r = (_small_key(ret["submit_id"]), _small_key(ret["ring_id"]))
    keys_s = (_small_key(sub["submit_id"]), _small_key(sub["ring_id"]))
    pos = asof(ret["ts_ns"].to_numpy(), sub["ts_ns"].to_numpy(), left_by=keys_r, right_by=keys_s)
    ok = usable_r & (pos >= 0) & take(usable_s, pos, False)
    return np.where(ok, pos, -1)


def lifecycle_links(frames: Frames) -> Links:
    runs = frames["retire_run"]
    ret = frames["gpu_retired"]
    free = frames["free"]
    retired_run = runs_of(ret, runs)
    free_run = runs_of(free, runs)
    free_retired = np.full(len(free), -1, dtype=np.int64)
    if len(free) and len(ret):
        pos = asof(free["ts_ns"].to_numpy(), ret["ts_ns"].to_numpy(),
                   left_by=(key_array(free["tid"]),), right_by=(key_array(ret["tid"]),))
        same_run = (free_run >= 0) & (take(retired_run, pos, -2) == free_run)
        free_retired = np.where(same_run, pos, -1)
    return Links(_submit_of_retired(frames), retired_run, free_run, free_retired)
