"""set_rows: a table shows exactly the rows given, whether it was rebuilt or updated in place."""
from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tests.tui.helpers import asynctest
from tui.widgets.result_panel import set_rows


class _One(App):
    def compose(self) -> ComposeResult:
        yield DataTable(id="t")


def _content(table: DataTable):
    return ([str(c.label) for c in table.columns.values()],
            [[str(x) for x in table.get_row_at(i)] for i in range(table.row_count)])


@asynctest
async def test_rows_are_replaced_or_updated_in_place():
    app = _One()
    async with app.run_test() as pilot:
        table = app.query_one("#t", DataTable)
        set_rows(table, ("key", "value"), [("a", ("a", "1")), ("b", ("b", "22"))])
        await pilot.pause()
        assert _content(table) == (["key", "value"], [["a", "1"], ["b", "22"]])
        first_a = table.rows["a"]

        set_rows(table, ("key", "value"), [("a", ("a", "3")), ("b", ("b", "22"))])
        await pilot.pause()
        assert _content(table) == (["key", "value"], [["a", "3"], ["b", "22"]])
        assert table.rows["a"] is first_a          # same widths and keys: updated in place

        set_rows(table, ("key", "value"), [("a", ("a", "3333")), ("b", ("b", "22"))])
        await pilot.pause()                        # a wider column: rebuilt
        assert _content(table) == (["key", "value"], [["a", "3333"], ["b", "22"]])
        assert table.columns["value"].width == 5

        set_rows(table, ("key", "value"), [("b", ("b", "22")), ("c", ("c", "1"))])
        await pilot.pause()                        # other row keys: rebuilt
        assert _content(table) == (["key", "value"], [["b", "22"], ["c", "1"]])

        set_rows(table, ("k",), [("x", ("y",))])
        await pilot.pause()                        # other columns: rebuilt
        assert _content(table) == (["k"], [["y"]])
