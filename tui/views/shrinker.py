"""Shrinker: what reclaim asked of the msm shrinker, what it freed, and what trylocks skipped."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from ..plotdata import reclaim_delay_by_task, time_series
from ..snapshot import Snapshot
from ..widgets.plots import SeriesSpark
from ..widgets.cell_table import CellTable
from ..widgets.result_panel import ResultPanel, fill_table
from .base import SPARK_BINS, View


class ShrinkerView(View):
    NAME = "shrinker"
    TITLE = "Shrinker"
    ANALYSES = ("shrinker", "reclaim_risks")
    EXPLAIN = ("The msm GEM shrinker under memory pressure: pages offered (count) and scans over "
               "time, pages freed vs requested, per-stage outcomes, what the LRU scans left "
               "(remaining) and skipped because the reservation trylock failed, the active "
               "stages' fence waits on busy objects, "
               "frees overlapping scans, reclaim lock-order risks, and direct-reclaim delay per "
               "task when taskstats were recorded. J jumps to the longest scan.")

    def compose_body(self) -> ComposeResult:
        yield SeriesSpark("pages offered (count) per time bin", id="shrinker-count")
        yield SeriesSpark("pages requested per time bin", id="shrinker-requested")
        yield SeriesSpark("pages freed per time bin", id="shrinker-freed")
        yield ResultPanel("shrinker")
        yield ResultPanel("reclaim_risks")
        yield Static("Direct-reclaim delay per task (taskstats)", classes="section")
        yield CellTable(id="shrinker-reclaim-delay")

    def show_snapshot(self, snap: Snapshot) -> None:
        super().show_snapshot(snap)
        if snap.plots is None:
            return
        series, delay = snap.plots
        for wid, (values, calls, what) in series.items():
            self.query_one(wid, SeriesSpark).draw(
                values, f"{what} per bin (total {int(values.sum()):,}, {calls:,} calls)")
        table = self.query_one("#shrinker-reclaim-delay", CellTable)
        if delay is not None:
            fill_table(table, delay)
        else:
            table.set_rows(("not recorded",), [
                ("none", ("taskstats were not recorded: reclaim delay per task is unknown",))])

    @staticmethod
    def plot_data(frames, bounds):
        count, scan = frames["shrink_count"], frames["shrink_scan"]
        series = {}
        for wid, df, col, what in (
                ("#shrinker-count", count, "count_pages", "pages offered"),
                ("#shrinker-requested", scan, "nr_to_scan_pages", "pages requested"),
                ("#shrinker-freed", scan, "freed_pages", "pages freed")):
            series[wid] = (time_series(df["ts_ns"].to_numpy(), bounds, SPARK_BINS, df[col]),
                           len(df), what)
        delay = reclaim_delay_by_task(frames["taskstats"]) if frames.recorded("taskstats") \
            else None
        return series, delay
