"""Finalizers: how long msm_gem_free_object took, where it ran, and for which object sizes."""
from __future__ import annotations

from textual.app import ComposeResult

from ..plotdata import log2_histogram
from ..snapshot import Snapshot
from ..widgets.plots import HistogramPlot
from ..widgets.result_panel import ResultPanel
from .base import View


class FinalizersView(View):
    NAME = "finalizers"
    TITLE = "Finalizers"
    ANALYSES = ("finalizers",)
    EXPLAIN = ("GEM object frees (msm_gem_free_object): latency by the context they ran in "
               "(retire worker, ioctl, shrinker, reclaim) and by object size class. A free in "
               "the retire worker delays fence signals; a free in reclaim delays an allocation. "
               "J jumps to the slowest free.")

    def compose_body(self) -> ComposeResult:
        yield HistogramPlot("free latency by context (log2 buckets)", id="finalizers-hist")
        yield ResultPanel("finalizers")

    def show_snapshot(self, snap: Snapshot) -> None:
        super().show_snapshot(snap)
        if snap.plots is not None:
            self.query_one("#finalizers-hist", HistogramPlot).draw(snap.plots, "free latency (≥)")

    @staticmethod
    def plot_data(frames, bounds):
        frees = frames["free"]
        ctx = frees["context"].astype(str).where(frees["context"].notna(), "unknown")
        return {c: log2_histogram(frees.loc[ctx == c, "duration_ns"]) for c in sorted(ctx.unique())}
