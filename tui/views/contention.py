"""Contention: who waited on which reservation, how long, who held it, and the worst waits."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal

from ..fmt import fmt_ns
from ..plotdata import log2_histogram, time_series
from ..snapshot import Snapshot
from ..widgets.plots import HistogramPlot, SeriesSpark
from ..widgets.result_panel import ResultPanel
from .base import SPARK_BINS, View


class ContentionView(View):
    NAME = "contention"
    TITLE = "Contention"
    ANALYSES = ("contention",)
    EXPLAIN = ("Blocking reservation (dma_resv / ww_mutex) acquisitions: how long tasks waited, on "
               "which reservation, from which call site, and who held the lock at the time. "
               "The tables list the worst waits with their stacks. J jumps the window to the longest wait.")

    def compose_body(self) -> ComposeResult:
        with Horizontal():
            yield HistogramPlot("time in resv_lock calls (log2 buckets)", id="contention-hist")
        yield SeriesSpark("total wait per time bin", id="contention-series")
        yield ResultPanel("contention")

    def show_snapshot(self, snap: Snapshot) -> None:
        super().show_snapshot(snap)
        if snap.plots is None:
            return
        hist, series = snap.plots
        self.query_one("#contention-hist", HistogramPlot).draw({"resv_lock": hist},
                                                              "time in the call (≥)")
        self.query_one("#contention-series", SeriesSpark).draw(
            series, f"total time in resv_lock per bin (max {fmt_ns(series.max())})")

    @staticmethod
    def plot_data(frames, bounds):
        locks = frames["resv_lock"]
        return (log2_histogram(locks["duration_ns"]),
                time_series(locks["ts_ns"].to_numpy(), bounds, SPARK_BINS, locks["duration_ns"]))
