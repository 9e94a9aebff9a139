"""Contention: who waited on which reservation, how long, who held it, and the worst waits."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal

from ..fmt import fmt_ns
from ..plotdata import log2_histogram, time_series
from ..snapshot import Snapshot
from ..widgets.plots import HistogramPlot, SeriesSpark
from ..widgets.result_panel import ResultPanel
from .base import SPARK_BINS, View, bounds_of


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
        locks = snap.frames["resv_lock"]
        self.query_one("#contention-hist", HistogramPlot).draw(
            {"resv_lock": log2_histogram(locks["duration_ns"])}, "time in the call (≥)")
        b = bounds_of(snap)
        if b:
            series = time_series(locks["ts_ns"].to_numpy(), b, SPARK_BINS, locks["duration_ns"])
            self.query_one("#contention-series", SeriesSpark).draw(
                series, f"total time in resv_lock per bin (max {fmt_ns(series.max())})")
