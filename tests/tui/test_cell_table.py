"""CellTable: the lines it draws, text shown literally, widths capped, and a refresh that
redraws only the rows whose cells changed."""
from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Region

from tests.tui.helpers import asynctest
from tui.widgets.cell_table import CellTable

WIDTH = 30


class _One(App):
    CSS = f"CellTable {{ width: {WIDTH}; }}"

    def __init__(self, **table_args):
        super().__init__()
        self.table_args = table_args

    def compose(self) -> ComposeResult:
        yield CellTable(("key", "value"), id="t", **self.table_args)


def _screen(table: CellTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def _content(table: CellTable):
    return list(table.columns), [table.row_at(i) for i in range(table.row_count)]


@asynctest
async def test_lines_are_the_cells_padded_to_their_columns():
    app = _One()
    async with app.run_test() as pilot:
        table = app.query_one("#t", CellTable)
        assert _screen(table) == [" key  value ".ljust(WIDTH)]     # the header before any row
        table.set_rows(("key", "value"), [("a", ("alpha", "1")), ("b", ("b", "22"))])
        await pilot.pause()
        assert table.size.height == 3                               # auto: header + rows
        assert _screen(table) == [" key    value ".ljust(WIDTH),
                                  " alpha  1     ".ljust(WIDTH),
                                  " b      22    ".ljust(WIDTH)]
        assert table.widths == (5, 5)
        assert table.keys == ("a", "b")
        assert table.row("b") == ["b", "22"] and table.row_at(0) == ["alpha", "1"]


@asynctest
async def test_markup_and_control_characters_are_shown_as_text():
    app = _One()
    async with app.run_test() as pilot:
        table = app.query_one("#t", CellTable)
        table.set_rows(("key", "value"), [("x", ("[/]", "[b]bold")), ("y", ("ab\ncd", "[red]"))])
        await pilot.pause()
        assert _screen(table)[1:] == [" [/]    [b]bold ".ljust(WIDTH),
                                      " ab?cd  [red]   ".ljust(WIDTH)]
        assert table.row("y") == ["ab\ncd", "[red]"]               # read back as given


@asynctest
async def test_a_long_cell_is_cut_at_max_width_with_an_ellipsis():
    app = _One(max_width=8)
    async with app.run_test() as pilot:
        table = app.query_one("#t", CellTable)
        table.set_rows(("key", "a long label"), [("r", ("k", "0123456789"))])
        await pilot.pause()
        assert table.widths == (3, 8)
        assert _screen(table) == [" key  a long … ".ljust(WIDTH),
                                  " k    0123456… ".ljust(WIDTH)]
        assert table.row("r") == ["k", "0123456789"]


@asynctest
async def test_a_refresh_redraws_only_the_changed_rows():
    app = _One()
    async with app.run_test() as pilot:
        table = app.query_one("#t", CellTable)
        rows = [(str(i), (f"k{i}", "1")) for i in range(4)]
        table.set_rows(("key", "value"), rows)
        await pilot.pause()
        kept = [table.line_text(i) for i in range(4)]
        refreshed = []
        real_refresh = table.refresh
        table.refresh = lambda *regions, **kw: (refreshed.append((regions, kw)),
                                                real_refresh(*regions, **kw))[1]

        table.set_rows(("key", "value"), rows)
        assert refreshed == []                                      # nothing changed: no redraw

        rows[2] = ("2", ("k2", "9"))
        table.set_rows(("key", "value"), rows)
        assert refreshed == [((Region(0, 3, WIDTH, 1),), {})]       # row 2 is screen line 3
        assert all(table.line_text(i) is kept[i] for i in (0, 1, 3))
        await pilot.pause()
        assert _screen(table)[3] == " k2   9     ".ljust(WIDTH)

        refreshed.clear()
        table.set_rows(("key", "value"), rows + [("4", ("k4", "1"))])
        assert refreshed and all(not regions for regions, _ in refreshed)   # one more row: all
        assert all(table.line_text(i) is kept[i] for i in (0, 1, 3))
        await pilot.pause()
        assert table.size.height == 6


@asynctest
async def test_rows_are_replaced_or_updated_in_place():
    app = _One()
    async with app.run_test() as pilot:
        table = app.query_one("#t", CellTable)
        table.set_rows(("key", "value"), [("a", ("a", "1")), ("b", ("b", "22"))])
        assert _content(table) == (["key", "value"], [["a", "1"], ["b", "22"]])
        table.set_rows(("key", "value"), [("a", ("a", "3333")), ("b", ("b", "22"))])
        assert _content(table) == (["key", "value"], [["a", "3333"], ["b", "22"]])
        assert table.widths == (3, 5)                               # a wider column
        table.set_rows(("key", "value"), [("b", ("b", "22")), ("c", ("c", "1"))])
        assert _content(table) == (["key", "value"], [["b", "22"], ["c", "1"]])
        assert table.row("c") == ["c", "1"]                         # other row keys
        table.set_rows(("k",), [("x", ("y",))])
        await pilot.pause()                                         # other columns
        assert _content(table) == (["k"], [["y"]])
        assert _screen(table) == [" k ".ljust(WIDTH), " y ".ljust(WIDTH)]


@asynctest
async def test_the_row_cursor_moves_with_keys_and_stays_in_view():
    app = _One(cursor=True)
    async with app.run_test() as pilot:
        table = app.query_one("#t", CellTable)
        table.styles.max_height = 4
        table.set_rows(("key", "value"), [(str(i), (f"k{i}", str(i))) for i in range(10)])
        table.focus()
        await pilot.pause()
        assert table.size.height == 4 and table.cursor_row == 0
        for _ in range(5):
            await pilot.press("down")
        await pilot.pause()
        assert table.cursor_row == 5
        assert _screen(table)[0].startswith(" key ")               # the header stays on top
        assert [line.split()[0] for line in _screen(table)[1:]] == ["k3", "k4", "k5"]
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == 9
        table.set_rows(("key", "value"), [("0", ("k0", "0"))])
        assert table.cursor_row == 0                                # kept on a row that exists
