"""A small table of plain-text cells drawn through the Line API (render_line + a line cache).

Textual's DataTable renders each cell through Rich the first time it is shown (0.3-0.45 ms a
cell), so the first frame of a view with ~560 cells took 200-350 ms. Here a row is one line of
text, its cells padded to their column's width, made once and kept until that row changes: a
live refresh that changes a few cells redraws those rows only, and one that changes nothing
draws nothing.

Cells are plain text, never Rich markup: any process can name itself "[/]".
"""
from __future__ import annotations

from typing import Iterable, Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

MAX_WIDTH = 80
PAGE = 10
# a control character in a cell (a task name can hold one) would break the line apart
_PRINTABLE = str.maketrans({c: "?" for c in [*range(32), 127]})


def shown_width(text: str) -> int:
    """How many terminal cells `text` takes once drawn (control characters shown as "?")."""
    return cell_len(text.translate(_PRINTABLE))


def fit(text: str, width: int) -> str:
    """`text` in exactly `width` terminal cells: padded, or cut with an ellipsis."""
    text = text.translate(_PRINTABLE)
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


class CellTable(ScrollView):
    """A header line and rows of text; `set_rows` replaces them, redrawing only what changed.

    Column widths come from the text (the widest cell or label, at most `max_width`). With
    `cursor=True` the table takes focus and a row cursor moves with up/down/pageup/pagedown/
    home/end or a click. Read back what is shown with `columns`, `widths`, `keys`, `row_count`,
    `row_at(i)` and `row(key)`."""

    COMPONENT_CLASSES = {"cell-table--header", "cell-table--even-row", "cell-table--cursor"}
    DEFAULT_CSS = """
    CellTable { height: auto; max-height: 100%; background: $surface; color: $foreground; }
    CellTable > .cell-table--header { text-style: bold; background: $panel; color: $foreground; }
    CellTable > .cell-table--even-row { background: $surface-lighten-1 50%; }
    CellTable:dark > .cell-table--even-row { background: $surface-darken-1 40%; }
    CellTable > .cell-table--cursor {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    CellTable:focus > .cell-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """
    BINDINGS = [
        Binding("up", "move(-1)", "up", show=False),
        Binding("down", "move(1)", "down", show=False),
        Binding("pageup", f"move(-{PAGE})", "page up", show=False),
        Binding("pagedown", f"move({PAGE})", "page down", show=False),
        Binding("home", "move(-1_000_000)", "first", show=False),
        Binding("end", "move(1_000_000)", "last", show=False),
    ]

    cursor_row = reactive(0)

    def __init__(self, columns: Sequence[str] = (), *, id: str | None = None,
                 classes: str | None = None, zebra_stripes: bool = False, cursor: bool = False,
                 max_width: int = MAX_WIDTH):
        super().__init__(id=id, classes=classes)
        self.zebra_stripes = zebra_stripes
        self.show_cursor = cursor
        self.can_focus = cursor
        self.max_width = max_width
        self.columns: tuple[str, ...] = ()
        self.widths: tuple[int, ...] = ()
        self.keys: tuple[str, ...] = ()
        self._rows: list[tuple[str, ...]] = []
        self._index: dict[str, int] = {}
        self._lines: dict[int, str] = {}        # row (-1: the header) -> its text, padded
        self.set_rows(columns, ())

    # -- what is shown -------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._rows)

    def row_at(self, i: int) -> list[str]:
        return list(self._rows[i])

    def row(self, key: str) -> list[str]:
        return list(self._rows[self._index[key]])

    # -- filling -------------------------------------------------------------------------
    def set_rows(self, columns: Iterable[str], rows: Iterable[tuple[str, Sequence[str]]]) -> None:
        """Show these columns and rows ((key, cells) pairs, cells as text). With the same
        columns and widths only the rows whose cells changed are redrawn."""
        columns = tuple(map(str, columns))
        keyed = [(str(key), tuple(map(str, cells))) for key, cells in rows]
        new = [cells for _, cells in keyed]
        widths = tuple(min(max([shown_width(name),
                                *(shown_width(r[i]) for r in new if i < len(r))]),
                           self.max_width) for i, name in enumerate(columns))
        self.keys = tuple(key for key, _ in keyed)
        self._index = {key: i for i, key in enumerate(self.keys)}
        old, self._rows = self._rows, new
        if columns != self.columns or widths != self.widths:
            self.columns, self.widths = columns, widths
            self._lines.clear()
            self._resize()
            self.refresh()
        else:
            changed = [i for i in range(max(len(old), len(new)))
                       if i >= len(old) or i >= len(new) or old[i] != new[i]]
            for i in changed:
                self._lines.pop(i, None)
            if len(old) != len(new):
                self._resize()
                self.refresh()
            else:
                for i in changed:
                    self.refresh_lines(i + 1)
        if self.cursor_row >= len(new):
            self.cursor_row = max(0, len(new) - 1)

    def _resize(self) -> None:
        self.virtual_size = Size(sum(w + 2 for w in self.widths), len(self._rows) + 1)

    # -- drawing -------------------------------------------------------------------------
    def line_text(self, row: int) -> str:
        """Row `row` (-1: the header) as one line: each cell padded by a space either side."""
        text = self._lines.get(row)
        if text is None:
            cells = self.columns if row < 0 else self._rows[row]
            text = "".join(f" {fit(c, w)} " for c, w in zip(cells, self.widths))
            self._lines[row] = text
        return text

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        row = -1 if y == 0 else y - 1 + scroll_y         # the header stays on top
        if row >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        if row < 0:
            style = self.get_component_rich_style("cell-table--header")
        elif self.show_cursor and row == self.cursor_row:
            style = self.get_component_rich_style("cell-table--cursor")
        elif self.zebra_stripes and row % 2 == 0:
            style = self.get_component_rich_style("cell-table--even-row")
        else:
            style = self.rich_style
        text = self.line_text(row)                       # virtual_size.width cells
        pad = max(0, scroll_x + width - self.virtual_size.width)
        return Strip([Segment(text + " " * pad, style)],
                     self.virtual_size.width + pad).crop(scroll_x, scroll_x + width)

    # -- the row cursor ------------------------------------------------------------------
    def watch_cursor_row(self, old: int, new: int) -> None:
        if not self.show_cursor:
            return
        self.refresh_lines(old + 1)
        self.refresh_lines(new + 1)
        rows_visible = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + rows_visible:
            self.scroll_to(y=new - rows_visible + 1, animate=False)

    def action_move(self, delta: int) -> None:
        if self._rows:
            self.cursor_row = max(0, min(len(self._rows) - 1, self.cursor_row + delta))

    def on_click(self, event: events.Click) -> None:
        row = event.y - 1 + self.scroll_offset.y
        if self.show_cursor and event.y >= 1 and row < len(self._rows):
            self.cursor_row = row
