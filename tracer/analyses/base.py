"""The contract every analysis follows: frames in, a Result out, pure and vectorized.

An analysis names the event kinds it needs. When a needed kind was not recorded (its probe was
missing, or the source cannot produce it), the Result says which questions cannot be answered;
its numbers are then absent, never zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from ..frames import Frames
from .reuse import Window


@dataclass
class Result:
    name: str                       # stable id: "contention", "trylock", "finalizers", ...
    title: str                      # what a person reads
    needs: tuple[str, ...]          # event kinds this analysis reads
    missing: tuple[str, ...] = ()   # needed kinds the recording could not contain
    headline: dict[str, Any] = field(default_factory=dict)   # JSON-able scalars / small dicts
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class Analysis:
    name: str
    title: str
    needs: tuple[str, ...]               # all of these must be recorded to answer
    func: Callable[[Frames], Result]
    optional: tuple[str, ...] = ()       # used when present, the answer stands without them
    # func takes a second argument, a reuse.Window: `frames` is that window of bigger data,
    # whose joins it may cut instead of joining the window's rows again (same result)
    reuses: bool = False

    def __call__(self, frames: Frames, reuse: Window | None = None) -> Result:
        missing = tuple(k for k in self.needs if not frames.recorded(k))
        if missing:
            return Result(self.name, self.title, self.needs, missing,
                          notes=[f"cannot answer: no {', '.join(missing)} events were recorded"])
        return self.func(frames, reuse) if self.reuses and reuse is not None else \
            self.func(frames)
