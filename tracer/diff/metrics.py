"""What `gemscope diff` compares: per-event distributions, event counts and proportions, each taken
from the frames or from the analyses' Results (so a diff agrees with `gemscope report`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from ..analyses.base import Result
from ..analyses.intervals import overlaps_any
from ..analyses.stats import as_bool, known_ns, under_reclaim
from ..frames import Frames


@dataclass(frozen=True)
class Distribution:
    name: str           # stable id in the JSON output
    title: str
    kind: str           # the event kind it needs (recorded on both sides)
    column: str = "duration_ns"
    per_run: bool = False   # from the retire analysis' per-run table instead of events


DISTRIBUTIONS = (
    Distribution("resv_lock_duration", "reservation lock (ww_mutex) call duration", "resv_lock"),
    Distribution("lock_contention_wait", "lock contention wait (lock:contention_*)",
                 "lock_contention"),
    Distribution("free_duration", "finalizer (msm_gem_free_object) duration", "free"),
    Distribution("retire_run_duration", "retire worker run time", "retire_run"),
    Distribution("retire_finalizer_per_run", "finalizer time per retire run", "retire_run",
                 "finalizer_ns", per_run=True),
    Distribution("retire_queue_delay", "retire work queue delay", "retire_run", "queue_delay_ns"),
    Distribution("shrink_scan_duration", "shrinker scan latency", "shrink_scan"),
    Distribution("fence_wait_duration", "fence wait (dma_resv_wait_timeout)", "fence_wait"),
)


def _ts(kind: str, mask: Callable[[pd.DataFrame, Frames], np.ndarray] | None = None):
    """Timestamps of the events a count counts (for its dispersion), optionally a subset."""
    def pick(frames: Frames) -> np.ndarray:
        df = frames[kind]
        ts = df["ts_ns"].to_numpy()
        return ts if mask is None or not len(df) else ts[mask(df, frames)]
    return pick


def _overlapping_scans(df: pd.DataFrame, frames: Frames) -> np.ndarray:
    scans = frames["shrink_scan"]
    dur, _ = known_ns(scans["duration_ns"])
    fdur, _ = known_ns(df["duration_ns"])
    ts = df["ts_ns"].to_numpy()
    return overlaps_any(ts, ts + fdur, scans["ts_ns"].to_numpy(), scans["ts_ns"].to_numpy() + dur)


@dataclass(frozen=True)
class Count:
    name: str
    title: str
    analysis: str
    key: str
    events: Callable[[Frames], np.ndarray]   # timestamps of (about) the counted events


COUNTS = (
    Count("resv_waits", "reservation waits", "contention", "resv_waits", _ts("resv_lock")),
    Count("edeadlk_backoffs", "ww -EDEADLK backoffs", "contention", "edeadlk_backoffs",
          _ts("resv_lock", lambda d, f: (d["ret"] == -35).fillna(False).to_numpy(dtype=bool))),
    Count("trylock_failures", "reservation trylock failures", "trylock", "trylock_failures",
          _ts("resv_trylock", lambda d, f: ~as_bool(d["success"]))),
    Count("frees", "frees", "finalizers", "frees", _ts("free")),
    Count("frees_in_reclaim", "frees inside reclaim", "finalizers", "frees_in_reclaim",
          _ts("free", lambda d, f: under_reclaim(d))),
    Count("retire_runs", "retire worker runs", "retire", "retire_runs", _ts("retire_run")),
    Count("fences_delayed_by_finalizers", "fence signals delayed by finalizers", "retire",
          "fences_delayed_by_finalizers", _ts("fence_signal")),
    Count("shrink_scans", "shrinker scans", "shrinker", "scans", _ts("shrink_scan")),
    Count("frees_overlapping_scans", "frees overlapping a shrinker scan", "shrinker",
          "frees_overlapping_scans", _ts("free", _overlapping_scans)),
    Count("blocking_resv_locks_in_reclaim", "blocking reservation locks in reclaim",
          "reclaim_risks", "blocking_resv_locks_in_reclaim",
          _ts("resv_lock", lambda d, f: under_reclaim(d))),
)


@dataclass(frozen=True)
class Proportion:
    name: str
    title: str
    analysis: str
    successes: str
    trials: str
    events: Callable[[Frames], np.ndarray]   # timestamps of the successes (for dispersion)


PROPORTIONS = (
    Proportion("trylock_failure_rate", "trylock failure rate", "trylock", "trylock_failures",
               "trylocks", _ts("resv_trylock", lambda d, f: ~as_bool(d["success"]))),
)


def samples(frames: Frames, results: Mapping[str, Result], d: Distribution) -> np.ndarray | None:
    """Known values of a distribution as int64, or None when it was not recorded."""
    if not frames.recorded(d.kind):
        return None
    if d.per_run:
        res = results.get("retire")
        if res is None or not res.answerable or "runs" not in res.tables:
            return None
        col = res.tables["runs"].get(d.column)
    else:
        col = frames[d.kind][d.column]
    if col is None:
        return None
    values, known = known_ns(col)
    return values[known]


def headline_value(results: Mapping[str, Result], analysis: str, key: str) -> int | None:
    res = results.get(analysis)
    if res is None or not res.answerable:
        return None
    v = res.headline.get(key)
    return int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else None


def duration_s(frames: Frames) -> float:
    span = frames.time_range_ns
    return (span[1] - span[0]) / 1e9 if span else 0.0

