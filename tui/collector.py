"""Full garbage collections at idle moments instead of in the middle of handling a key.

CPython runs a full (generation 2) collection on whichever thread allocates when its counters
say so: with a recording shown that visits ~140k objects, 30-260 ms holding the GIL, and it
landed inside key handling (benchmarks/tui.py "full collections"). While the app runs, the
generation-2 threshold is raised so that automatic full collections happen BACKSTOP_GEN1 /
DUE_GEN1 times less often (a backstop: memory stays bounded if input never pauses), and the
app runs one itself once the screen has settled after the last input for IDLE_S and enough
younger collections happened since the last full one (DUE_GEN1, CPython's own threshold).
The thresholds are restored when the app stops.
"""
from __future__ import annotations

import gc
import time
from typing import Callable

IDLE_S = 1.0            # no input, and the screen showed what the last input asked, this long
DUE_GEN1 = 10           # generation-1 collections since the last full one (CPython's default)
BACKSTOP_GEN1 = 100     # automatic full collections while the app runs: after this many
CHECK_S = 0.25          # how often the app asks (a timer)


class IdleCollector:
    """Owns the collector's thresholds between `start` and `stop`; `activity()` on each input
    (and when the screen reacts to one), `maybe_collect(settled)` from a timer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, idle_s: float = IDLE_S,
                 due_gen1: int = DUE_GEN1, backstop_gen1: int = BACKSTOP_GEN1):
        self.clock = clock
        self.idle_s = idle_s
        self.due_gen1 = due_gen1
        self.backstop_gen1 = backstop_gen1
        self.last_activity = clock()
        self.collections = 0            # full collections run by maybe_collect
        self._saved: tuple[int, int, int] | None = None

    def start(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            gen0, gen1, gen2 = self._saved
            gc.set_threshold(gen0, gen1, max(gen2, self.backstop_gen1))

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def activity(self) -> None:
        self.last_activity = self.clock()

    def due(self) -> bool:
        """Enough younger collections since the last full one (gc.get_count()[2] counts them)."""
        return gc.get_count()[2] >= self.due_gen1

    def maybe_collect(self, settled: bool, before: Callable[[], None] | None = None) -> bool:
        """Run a full collection when it is due and the app is idle: `settled` (the screen
        shows what the last input asked for) and no activity for idle_s, or no activity for
        5 * idle_s whatever the screen shows (a computation that never ends). `before()` runs
        first (to drop what need not be visited)."""
        idle = self.clock() - self.last_activity
        if self._saved is None or not self.due() or idle < self.idle_s or \
                (not settled and idle < 5 * self.idle_s):
            return False
        if before is not None:
            before()
        gc.collect()
        self.collections += 1
        return True
