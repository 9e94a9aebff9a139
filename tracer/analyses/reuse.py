"""As-of join results computed once over the whole data and cut to each time window.

Why: moving the time window (w [ ] in the TUI) over a big recording ran the analyses' as-of
joins again over the window's millions of rows (half of the contention and retire analyses'
time), although a window's answer is the whole data's answer cut at the window's edges. On
time-sorted data a window [start, end) holds rows [a, b) of every kind, and a join on ts_ns
done inside the window finds the same partner as over the whole data when that partner is in the
window, and none otherwise:
- backward (the nearest partner at or before the row, same keys): the whole data's partner P has
  P.ts <= row.ts < end; when P.ts < start, a candidate inside the window would be later than P
  and still at or before the row, so P would not have been the nearest: none in the window;
- forward (the nearest at or after): the same with the window's end.
So a window's partner positions are `cut(whole[a:b], pa, pb)` with [pa, pb) the partner kind's
rows in the window. tests/unit/test_analyses_reuse.py checks every analysis that uses this
against the same analysis run on the window alone.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..frames import Frames

# The whole data's joins are computed for a window only when the window holds at least this
# share of a kind's rows (then they cost at most twice the window's own, and every later
# window of the same data reuses them) and the data stays (`eager`: not while a recording loads
# or a live source grows, when the next window is of other data); other windows join their own
# rows unless the whole data's joins are already known (e.g. the whole trace was analysed).
WORTH_WHOLE = 0.5
NOT_WINDOWED = ("stack", "probe_status")     # side tables, not events in time


class WholeData:
    """One snapshot's whole data and the join results computed on it so far (by name).

    `previous`: the WholeData of the snapshot before it (a live source, a recording loading).
    Below some time T both hold the same events in the same rows (T: the first event that is
    new here, late ones included), so the previous data up to T is this data's window up to T.
    A join whose `extend` is given keeps the previous answers of the rows before T (reuse's
    rule: their backward partners are before T too) and joins the other rows only (see
    retire._extend_joins)."""

    def __init__(self, whole: Frames, previous: "WholeData | None" = None):
        self.whole = whole
        self._memo: dict[str, Any] = {}
        self._ts: dict[str, np.ndarray] = {}
        # (the previous snapshot's join results, rows kept per kind): not its frames
        self._previous: tuple[dict[str, Any], dict[str, int]] | None = None
        if previous is not None and previous._memo and whole.time_sorted and \
                previous.whole.time_sorted:
            self._previous = (dict(previous._memo), self._same_rows(previous))

    def _same_rows(self, previous: "WholeData") -> dict[str, int]:
        """Rows per kind that hold the same events in `previous` and here: those before the
        first event that is new here. A buffer merges new events into its time order stably,
        so the first row whose ts differs from the previous snapshot's is the first new one
        (or, new at the end, the first row past the previous rows)."""
        kinds = {k for k in (*previous.whole.by_kind, *self.whole.by_kind)
                 if k not in NOT_WINDOWED}
        firsts = []
        for k in kinds:
            old, new = previous.ts(k), self.ts(k)
            n = min(len(old), len(new))
            diff = np.flatnonzero(old[:n] != new[:n])
            d = int(diff[0]) if len(diff) else n
            firsts += [int(a[d]) for a in (old, new) if d < len(a)]
        if not firsts:
            return {k: len(self.ts(k)) for k in kinds}
        first = min(firsts)
        return {k: int(np.searchsorted(self.ts(k), first, side="left")) for k in kinds}

    def kept_rows(self, kind: str) -> int:
        """The kind's rows that hold the previous snapshot's events (see `previous`)."""
        return self._previous[1].get(kind, 0) if self._previous else 0

    def window(self, bounds: tuple[int | None, int | None],
               eager: bool = True) -> "Window | None":
        """The window [start, end) of this data (None ends: open); None when the data is not
        time-sorted (a window is then not a run of rows). `eager`: see WORTH_WHOLE."""
        return Window(self, bounds, eager) if self.whole.time_sorted else None

    def ts(self, kind: str) -> np.ndarray:
        if kind not in self._ts:
            col = self.whole.column(kind, "ts_ns") if self.whole.count(kind) else None
            self._ts[kind] = np.zeros(0, np.int64) if col is None else col.to_numpy()
        return self._ts[kind]

    def known(self, name: str) -> bool:
        return name in self._memo

    def result(self, name: str, make: Callable[[Frames], Any],
               extend: Callable[[Any, "WholeData"], Any] | None = None) -> Any:
        """`make(whole frames)`, or `extend(the previous snapshot's result, self)` when that is
        known (the same value, joining only the rows after the kept ones)."""
        if name not in self._memo:
            old = self._previous[0].get(name) if self._previous else None
            self._memo[name] = make(self.whole) if extend is None or old is None \
                else extend(old, self)
        return self._memo[name]


class Window:
    """Which rows of the whole data a window holds, and the whole data's joins for it."""

    def __init__(self, data: WholeData, bounds: tuple[int | None, int | None],
                 eager: bool = True):
        self.data = data
        self.bounds = bounds
        self.eager = eager
        self._rows: dict[str, tuple[int, int]] = {}

    def rows(self, kind: str) -> tuple[int, int]:
        """[a, b): the kind's rows in the window, as positions in the whole data (the rows
        Frames.window keeps: ts_ns in [start, end), found by the same binary search)."""
        if kind not in self._rows:
            ts = self.data.ts(kind)
            start, end = self.bounds
            a = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
            b = len(ts) if end is None else max(a, int(np.searchsorted(ts, end, side="left")))
            self._rows[kind] = (a, b)
        return self._rows[kind]

    def worth(self, name: str, kind: str) -> bool:
        """The whole data's `name` is known, or worth computing now: the window is the whole
        data, or it is eager and holds at least WORTH_WHOLE of `kind`'s rows. (Asked before
        anything else: a small window of data that grows reads no whole column for it.)"""
        if self.data.known(name) or self.bounds == (None, None):
            return True
        if not self.eager:
            return False
        a, b = self.rows(kind)
        return b - a >= WORTH_WHOLE * len(self.data.ts(kind))

    def covers(self, *kinds: str) -> bool:
        """The window holds every row of these kinds (cutting would change nothing)."""
        return all(self.rows(k) == (0, len(self.data.ts(k))) for k in kinds)

    def matches(self, frames: Frames, *kinds: str) -> bool:
        """The window's frames hold exactly the rows `rows` names (a safety check)."""
        return all(frames.count(k) == self.rows(k)[1] - self.rows(k)[0] for k in kinds)


def whole_for(reuse: Window | None, frames: Frames, name: str, kinds: tuple[str, ...],
              make: Callable[[Frames], Any],
              extend: Callable[[Any, WholeData], Any] | None = None) -> Any | None:
    """The whole data's `make` for a window whose frames are `frames` (the rows of `kinds`
    checked), or None: compute on `frames` alone (no reuse, not worth it, or no match)."""
    if reuse is None or not reuse.worth(name, kinds[0]) or not reuse.matches(frames, *kinds):
        return None
    return reuse.data.result(name, make, extend)


def cut(whole_pos: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Whole-data partner positions as positions in the partner kind's window rows [lo, hi);
    -1 where there is no partner or it is outside the window."""
    return np.where((whole_pos >= lo) & (whole_pos < hi), whole_pos - lo, -1)
