"""Shows one analysis Result: whether it can answer, its headline numbers, its notes and tables.

The analyses own the numbers; this widget only formats them (tui.fmt) so that a test can compare
each cell with `run_all` on the same frames.
"""
from __future__ import annotations

import re
import weakref

import pandas as pd
from textual.app import ComposeResult
from textual.containers import Vertical
from rich.text import Text
from textual.widgets import DataTable, Label, Static

from tracer.analyses.base import Result

from ..fmt import fmt_cell, fmt_value

TABLE_ROWS = 20   # top-N rows per table: the Events view is where every event lives


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


class ResultPanel(Vertical):
    """Headline table + notes + the analysis' tables, for the analysis named `analysis`."""

    DEFAULT_CSS = """
    ResultPanel { height: auto; }
    ResultPanel DataTable { height: auto; max-height: 24; }
    ResultPanel .state { color: $warning; height: auto; }
    ResultPanel .notes { color: $text-muted; height: auto; }
    ResultPanel .table-title { text-style: bold; margin-top: 1; }
    """

    def __init__(self, analysis: str, *, id: str | None = None):
        super().__init__(id=id or f"panel-{analysis}")
        self.analysis = analysis
        self._shown: Result | None | str = "nothing yet"
        self.tables: dict[str, DataTable] = {}      # analysis table name -> its DataTable
        self._titles: dict[str, Label] = {}
        self._generation = 0
        self.t0_ns = 0

    def compose(self) -> ComposeResult:
        yield Static("", classes="state", id=f"{self.analysis}-state")
        headline = DataTable(id=f"{self.analysis}-headline", show_cursor=False, zebra_stripes=True)
        headline.add_columns("headline", "value")
        yield headline
        yield Static("", classes="notes", id=f"{self.analysis}-notes")
        yield Vertical(id=f"{self.analysis}-tables")

    def show(self, result: Result | None, state: str = "ok", t0_ns: int = 0) -> None:
        """state: 'ok', 'computing' (requested, not ready) or 'unavailable' (no such analysis).
        Timestamps in tables are shown as seconds after t0_ns (the start of the trace)."""
        if result is self._shown and state == "ok":
            return
        self._shown = result
        self.t0_ns = t0_ns
        status = self.query_one(f"#{self.analysis}-state", Static)
        if result is None:
            status.update("computing…" if state == "computing" else
                          f"the {self.analysis} analysis is not available in this gemscope build")
            return
        if result.missing:
            status.update(f"cannot answer: no {', '.join(result.missing)} events were recorded "
                          "(probe missing or not supported by this source)")
        else:
            status.update("")
        self._fill_headline(result)
        self.query_one(f"#{self.analysis}-notes", Static).update(Text("\n".join(result.notes)))
        self._fill_tables(result)

    def _fill_headline(self, result: Result) -> None:
        table = self.query_one(f"#{self.analysis}-headline", DataTable)
        set_rows(table, ("headline", "value"),
                 [(key, (key, fmt_value(key, value))) for key, value in result.headline.items()])
        table.display = bool(result.headline)

    def _fill_tables(self, result: Result) -> None:
        """Tables are rebuilt only when the set of table names changes; else refilled in place."""
        box = self.query_one(f"#{self.analysis}-tables", Vertical)
        if tuple(result.tables) != tuple(self.tables):
            box.remove_children()
            self.tables, self._titles = {}, {}
            self._generation += 1
            for name in result.tables:
                title = Label("", classes="table-title")
                table = DataTable(id=f"{self.analysis}-{_ident(name)}-{self._generation}",
                                  zebra_stripes=True, cursor_type="row")
                self._titles[name], self.tables[name] = title, table
                box.mount(title, table)
        for name, df in result.tables.items():
            more = f", top {TABLE_ROWS}" if len(df) > TABLE_ROWS else ""
            self._titles[name].update(f"{name.replace('_', ' ')}  ({len(df)} rows{more})")
            fill_table(self.tables[name], df, t0_ns=self.t0_ns)


def fill_table(table: DataTable, df: pd.DataFrame, rows: int = TABLE_ROWS,
               t0_ns: int = 0) -> None:
    """Replace a DataTable's contents with the first `rows` rows of df, formatted by column;
    a `ts_ns` column is shown as `t_s`, seconds after t0_ns."""
    df = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    cols = [str(c) for c in df.columns]
    set_rows(table, ["t_s" if c == "ts_ns" else c for c in cols],
             [(str(i), [fmt_cell(c, v, t0_ns) for c, v in zip(cols, rec)])
              for i, rec in enumerate(df.head(rows).itertuples(index=False, name=None))])


def set_rows(table: DataTable, columns, rows, max_width: int = 80) -> None:
    """Replace columns and rows; column widths are computed here from the text (never left to
    the table's lazy auto-width, so a screenshot taken right after shows the final layout).
    Cells go in as plain rich Text: a string would be parsed as markup, and a task name such as
    "[/]" (any process can name itself so) would raise MarkupError and end the TUI.

    A live source sends a snapshot several times a second and most cells stay the same: when the
    columns, their widths and the row keys are unchanged, only the changed cells are updated
    (and nothing at all when every cell is the same), instead of rebuilding the table."""
    columns = tuple(columns)
    rows = [(key, tuple(cells)) for key, cells in rows]
    widths = tuple(min(max([len(name), *(len(r[1][i]) for r in rows)]), max_width)
                   for i, name in enumerate(columns))
    shown = _SHOWN.get(table)
    if shown is not None and shown[0] == columns and shown[1] == widths \
            and [k for k, _ in shown[2]] == [k for k, _ in rows]:
        for (key, cells), (_, before) in zip(rows, shown[2]):
            for name, cell, old in zip(columns, cells, before):
                if cell != old:
                    table.update_cell(key, name, Text(cell))
    else:
        table.clear(columns=True)
        for name, width in zip(columns, widths):
            table.add_column(name, width=width, key=name)
        for key, cells in rows:
            table.add_row(*map(Text, cells), key=key)
    _SHOWN[table] = (columns, widths, rows)


_SHOWN: "weakref.WeakKeyDictionary[DataTable, tuple]" = weakref.WeakKeyDictionary()
