"""A virtual list of millions of events: the Line API (render_line + a line cache), as toolong does.

Only the visible lines are turned into text, and each at most once while it stays in the cache;
the list itself is an array of merged positions into an EventIndex.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tracer.event_index import EventIndex

CACHE_LINES = 4096
BLOCK_LINES = 64
LINE_WIDTH = 240


class EventList(ScrollView, can_focus=True):
    """Rows are `index.describe(positions[i])`; Enter posts `EventList.Chosen`."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "up", show=False),
        Binding("down,j", "move(1)", "down", show=False),
        Binding("pageup", "move(-20)", "page up", show=False),
        Binding("pagedown", "move(20)", "page down", show=False),
        Binding("home,g", "edge(0)", "first", show=False),
        Binding("end,G", "edge(1)", "last", show=False),
        Binding("enter", "choose", "object view"),
    ]
    DEFAULT_CSS = "EventList { height: 1fr; }"

    cursor = reactive(0, always_update=True)

    class Chosen(Message):
        """The person pressed Enter on an event: (kind, row) in the index's frames."""

        def __init__(self, index: EventIndex, kind: str, row: int):
            super().__init__()
            self.index, self.kind, self.row = index, kind, row

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.index: EventIndex | None = None
        self.positions = np.zeros(0, np.int64)
        self.t0_ns = 0
        self._lines: OrderedDict[int, str] = OrderedDict()

    def set_events(self, index: EventIndex | None, positions: np.ndarray | None,
                   t0_ns: int = 0) -> None:
        """Show these positions of `index`; keeps the cursor on the same event when possible."""
        old = self.current_position()
        self.index = index
        self.positions = np.zeros(0, np.int64) if positions is None else positions
        self.t0_ns = t0_ns
        self._lines.clear()
        self.virtual_size = Size(LINE_WIDTH, len(self.positions))
        n = len(self.positions)
        if old is not None and n:
            self.cursor = min(int(np.searchsorted(self.positions, old)), n - 1)
        else:
            self.cursor = 0
        self.refresh()

    def __len__(self) -> int:
        return len(self.positions)

    def current_position(self) -> int | None:
        if not len(self.positions) or self.index is None:
            return None
        return int(self.positions[min(self.cursor, len(self.positions) - 1)])

    def line_text(self, i: int) -> str:
        """The text of line i (cached). A miss describes the BLOCK_LINES-aligned block around it
        at once: the index reads each kind's rows of the block as one small frame, where one
        line at a time would build one per line."""
        text = self._lines.get(i)
        if text is None:
            a = i - i % BLOCK_LINES
            b = min(a + BLOCK_LINES, len(self.positions))
            texts = self.index.describe_many(self.positions[a:b], self.t0_ns)
            for j, t in enumerate(texts, start=a):
                self._lines[j] = t
            while len(self._lines) > CACHE_LINES:
                self._lines.popitem(last=False)
            text = texts[i - a]
        return text

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        i = scroll_y + y
        width = self.size.width
        if self.index is None or i >= len(self.positions):
            return Strip.blank(width)
        style = self.get_component_rich_style("event-list--cursor") if i == self.cursor \
            else Style()
        text = self.line_text(i).ljust(LINE_WIDTH)
        return Strip([Segment(text, style)]).crop(scroll_x, scroll_x + width)

    COMPONENT_CLASSES = {"event-list--cursor"}
    DEFAULT_CSS += """
    EventList > .event-list--cursor { background: $accent 40%; text-style: bold; }
    """

    def watch_cursor(self, value: int) -> None:
        if value < self.scroll_offset.y:
            self.scroll_to(y=value, animate=False)
        elif value >= self.scroll_offset.y + self.size.height:
            self.scroll_to(y=value - self.size.height + 1, animate=False)
        self.refresh()

    def action_move(self, delta: int) -> None:
        if len(self.positions):
            self.cursor = max(0, min(len(self.positions) - 1, self.cursor + delta))

    def action_edge(self, last: int) -> None:
        if len(self.positions):
            self.cursor = len(self.positions) - 1 if last else 0

    def move_to_position(self, pos: int) -> None:
        """Put the cursor on merged position `pos` (or the first event after it)."""
        if len(self.positions):
            self.cursor = min(int(np.searchsorted(self.positions, pos)), len(self.positions) - 1)

    def action_choose(self) -> None:
        pos = self.current_position()
        if pos is not None:
            kind, row = self.index.locate(pos)
            self.post_message(self.Chosen(self.index, kind, row))
