"""Shows one analysis Result: whether it can answer, its headline numbers, its notes and tables.

The analyses own the numbers; this widget only formats them (tui.fmt) so that a test can compare
each cell with `run_all` on the same frames.
"""
from __future__ import annotations

import re

import pandas as pd
from textual.app import ComposeResult
from textual.containers import Vertical
from rich.text import Text
from textual.widgets import Label, Static

from tracer.analyses.base import Result

from ..fmt import fmt_cell, fmt_value
from .cell_table import CellTable

TABLE_ROWS = 20   # top-N rows per table: the Events view is where every event lives


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


class ResultPanel(Vertical):
    """Headline table + notes + the analysis' tables, for the analysis named `analysis`."""

    DEFAULT_CSS = """
    ResultPanel { height: auto; }
    ResultPanel CellTable { max-height: 24; }
    ResultPanel .state { color: $warning; height: auto; }
    ResultPanel .notes { color: $text-muted; height: auto; }
    ResultPanel .table-title { text-style: bold; margin-top: 1; }
    """

    def __init__(self, analysis: str, *, id: str | None = None):
        super().__init__(id=id or f"panel-{analysis}")
        self.analysis = analysis
        self._shown: Result | None | str = "nothing yet"
        self.tables: dict[str, CellTable] = {}      # analysis table name -> its CellTable
        self._titles: dict[str, Label] = {}
        self._generation = 0
        self.t0_ns = 0

    def compose(self) -> ComposeResult:
        yield Static("", classes="state", id=f"{self.analysis}-state")
        yield CellTable(("headline", "value"), id=f"{self.analysis}-headline",
                        zebra_stripes=True)
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
        table = self.query_one(f"#{self.analysis}-headline", CellTable)
        table.set_rows(("headline", "value"), [(key, (key, fmt_value(key, value)))
                                               for key, value in result.headline.items()])
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
                table = CellTable(id=f"{self.analysis}-{_ident(name)}-{self._generation}",
                                  zebra_stripes=True, cursor=True)
                self._titles[name], self.tables[name] = title, table
                box.mount(title, table)
        for name, df in result.tables.items():
            more = f", top {TABLE_ROWS}" if len(df) > TABLE_ROWS else ""
            self._titles[name].update(f"{name.replace('_', ' ')}  ({len(df)} rows{more})")
            fill_table(self.tables[name], df, t0_ns=self.t0_ns)


def fill_table(table: CellTable, df: pd.DataFrame, rows: int = TABLE_ROWS,
               t0_ns: int = 0) -> None:
    """Show the first `rows` rows of df in `table`, formatted by column; a `ts_ns` column is
    shown as `t_s`, seconds after t0_ns. Unchanged cells cost nothing (CellTable.set_rows)."""
    df = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    cols = [str(c) for c in df.columns]
    table.set_rows(["t_s" if c == "ts_ns" else c for c in cols],
                   [(str(i), [fmt_cell(c, v, t0_ns) for c, v in zip(cols, rec)])
                    for i, rec in enumerate(df.head(rows).itertuples(index=False, name=None))])
