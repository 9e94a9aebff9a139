"""The time window every view follows, and the replay cursor that moves it. Pure: no textual.

A window is `[start, end)` in CLOCK_MONOTONIC ns. `end_ns is None` means "follow the end of the
data" (what a live source wants: "the last N seconds"); `width_ns is None` means "from the
beginning of the data". Both None = the whole trace, which the snapshot computer serves without
copying a single event.
"""
from __future__ import annotations

from dataclasses import dataclass

MS = 1_000_000
S = 1_000_000_000
# `w` cycles through these (None = whole trace / since the start)
WIDTHS_NS: tuple[int | None, ...] = (None, 60 * S, 10 * S, S, 100 * MS, 10 * MS, MS)
SPEEDS = (0.01, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 100.0)


def fmt_span(ns: int | None) -> str:
    if ns is None:
        return "whole trace"
    if ns >= S:
        return f"{ns / S:g} s"
    if ns >= MS:
        return f"{ns / MS:g} ms"
    return f"{ns / 1000:g} µs"


@dataclass
class TimeWindow:
    width_ns: int | None = None
    end_ns: int | None = None        # None: follow the end of the data
    playing: bool = False
    speed: float = 1.0

    def bounds(self, span: tuple[int, int] | None) -> tuple[int | None, int | None]:
        """(start, end) to pass to Frames.window; (None, None) means everything."""
        if span is None or (self.width_ns is None and self.end_ns is None):
            return (None, None)
        lo, hi = span
        end = None if self.end_ns is None or self.end_ns > hi else max(self.end_ns, lo)
        ref = hi + 1 if end is None else end
        start = None if self.width_ns is None else max(lo, ref - self.width_ns)
        return (start, end)

    # --- keys -----------------------------------------------------------------------------
    def whole(self) -> None:
        self.width_ns, self.end_ns, self.playing = None, None, False

    def cycle_width(self, span: tuple[int, int] | None, live: bool = False) -> None:
        """Next narrower width that is shorter than the data (wraps to the whole trace)."""
        length = (span[1] - span[0]) if span else None
        i = WIDTHS_NS.index(self.width_ns) if self.width_ns in WIDTHS_NS else 0
        for step in range(1, len(WIDTHS_NS) + 1):
            w = WIDTHS_NS[(i + step) % len(WIDTHS_NS)]
            if w is None or length is None or w < length or live:
                self.width_ns = w
                break
        if self.width_ns is None and not self.playing:
            self.end_ns = None

    def shift(self, direction: int, span: tuple[int, int] | None) -> bool:
        """Move the window by half its width (direction -1 earlier, +1 later). False if the
        window is the whole trace (nothing to move)."""
        if span is None or self.width_ns is None:
            return False
        lo, hi = span
        end = hi + 1 if self.end_ns is None else self.end_ns
        end += direction * max(1, self.width_ns // 2)
        end = max(end, lo + min(self.width_ns, hi - lo + 1))
        self.end_ns = None if end > hi else end
        return True

    def jump_to(self, ts_ns: int, duration_ns: int, span: tuple[int, int] | None) -> None:
        """Center the window on an event (keeping its width; choosing one if it was whole)."""
        if self.width_ns is None:
            self.width_ns = next((w for w in reversed(WIDTHS_NS)
                                  if w is not None and w > 4 * max(duration_ns, 1)), WIDTHS_NS[1])
        self.end_ns = ts_ns + duration_ns // 2 + self.width_ns // 2
        if span is not None and self.end_ns > span[1]:
            self.end_ns = None
        self.playing = False

    def toggle_play(self, span: tuple[int, int] | None) -> None:
        if self.playing:
            self.playing = False
            return
        if span is None:
            return
        if self.end_ns is None or self.end_ns >= span[1]:
            self.end_ns = span[0]          # at the end: start again from the beginning
        self.playing = True

    def faster(self, direction: int) -> None:
        i = min(range(len(SPEEDS)), key=lambda j: abs(SPEEDS[j] - self.speed))
        self.speed = SPEEDS[max(0, min(len(SPEEDS) - 1, i + direction))]

    def advance(self, dt_s: float, span: tuple[int, int] | None, data_complete: bool) -> None:
        """Move the replay cursor by dt_s of wall time times the speed (timer tick)."""
        if not self.playing or span is None:
            return
        base = span[0] if self.end_ns is None else self.end_ns
        self.end_ns = base + int(dt_s * self.speed * S)
        if self.end_ns > span[1] and data_complete:
            self.end_ns, self.playing = None, False

    def describe(self, span: tuple[int, int] | None) -> str:
        """What the status bar shows: the window relative to the start of the trace."""
        if span is None:
            return "no events yet"
        start, end = self.bounds(span)
        lo, hi = span
        a = (lo if start is None else start) - lo
        b = (hi if end is None else end) - lo
        state = ""
        if self.playing:
            state = f"  ▶ x{self.speed:g}"
        elif self.end_ns is not None:
            state = f"  ⏸ x{self.speed:g}"
        return (f"window {a / S:.3f}–{b / S:.3f} s of {(hi - lo) / S:.3f} s "
                f"({fmt_span(self.width_ns)}){state}")
