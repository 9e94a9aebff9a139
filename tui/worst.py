"""`J`: the worst event of a view (the longest wait, free, run...), found in the loaded data. Pure."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracer.frames import Frames

from .fmt import fmt_ns

# view -> (kind, column to maximize, what the event is called)
WORST_BY_VIEW: dict[str, tuple[tuple[str, str, str], ...]] = {
    "overview": (("resv_lock", "duration_ns", "reservation wait"),
                 ("free", "duration_ns", "free")),
    "contention": (("resv_lock", "duration_ns", "reservation wait"),
                   ("lock_contention", "duration_ns", "lock wait")),
    "trylock": (("resv_trylock", "size_bytes", "failed trylock (largest object)"),),
    "finalizers": (("free", "duration_ns", "free"),),
    "retire": (("retire_run", "duration_ns", "retire worker run"),),
    "shrinker": (("shrink_scan", "duration_ns", "shrinker scan"),
                 ("lru_scan", "duration_ns", "LRU scan")),
}
ANY_DURATION_KINDS = ("resv_lock", "lock_contention", "free", "retire_run", "shrink_scan",
                      "lru_scan", "fence_wait", "direct_reclaim", "resv_hold", "shrink_object")


@dataclass(frozen=True)
class WorstEvent:
    kind: str
    row: int
    ts_ns: int
    duration_ns: int
    what: str
    value: int

    def describe(self, t0_ns: int) -> str:
        v = fmt_ns(self.value) if self.what != "failed trylock (largest object)" \
            else f"{self.value} bytes"
        return f"worst {self.what}: {v} at {(self.ts_ns - t0_ns) / 1e9:.6f} s"


def worst_event(frames: Frames, view: str) -> WorstEvent | None:
    """The event with the largest value among the view's candidates (first one on ties).

    Reads only the columns it needs (`frames.column`): on a buffer's snapshot no kind's whole
    DataFrame is built for it."""
    cands = WORST_BY_VIEW.get(view) or tuple((k, "duration_ns", f"{k} event")
                                             for k in ANY_DURATION_KINDS)
    best: WorstEvent | None = None
    for kind, col, what in cands:
        vals = frames.column(kind, col) if frames.count(kind) else None
        if vals is None:
            continue
        if kind == "resv_trylock":
            ok = frames.column(kind, "success")
            vals = vals.where(ok.fillna(True) == False)  # noqa: E712 - nullable bool
        arr = vals.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(arr).all():
            continue
        row = int(np.nanargmax(arr))
        value = int(arr[row])
        if best is None or value > best.value:
            durs = frames.column(kind, "duration_ns")
            dur = durs.iloc[row] if durs is not None else 0
            dur = 0 if dur is None or dur is np.nan or str(dur) == "<NA>" else int(dur)
            best = WorstEvent(kind, row, int(frames.column(kind, "ts_ns").iloc[row]), dur, what,
                              value)
    return best
