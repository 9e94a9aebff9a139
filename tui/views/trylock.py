"""Trylock failures: which callers and shrinker stages failed to take a reservation, and when."""
from __future__ import annotations

import numpy as np
from textual.app import ComposeResult

from ..plotdata import time_series
from ..snapshot import Snapshot
from ..widgets.plots import SeriesSpark
from ..widgets.result_panel import ResultPanel
from .base import SPARK_BINS, View


class TrylockView(View):
    NAME = "trylock"
    TITLE = "Trylock failures"
    ANALYSES = ("trylock",)
    EXPLAIN = ("Reservation trylocks that failed (the shrinker skips such objects; their pages "
               "stay resident): by caller, by shrinker stage, and who held the lock. The "
               "sparklines show failures and the failure rate over the window. J jumps to the "
               "largest object whose trylock failed.")

    def compose_body(self) -> ComposeResult:
        yield SeriesSpark("failed trylocks per time bin", id="trylock-failures")
        yield SeriesSpark("failure rate per time bin", id="trylock-rate")
        yield ResultPanel("trylock")

    def show_snapshot(self, snap: Snapshot) -> None:
        super().show_snapshot(snap)
        if snap.plots is None:
            return
        fails, rate, total = snap.plots
        self.query_one("#trylock-failures", SeriesSpark).draw(
            fails, f"failed trylocks per bin (max {int(fails.max())}, total {total})")
        self.query_one("#trylock-rate", SeriesSpark).draw(
            rate, f"failure rate per bin (max {100 * rate.max():.1f} %)")

    @staticmethod
    def plot_data(frames, bounds):
        df = frames["resv_trylock"]
        ts = df["ts_ns"].to_numpy()
        failed = (df["success"].fillna(True) == False).to_numpy(dtype=bool)  # noqa: E712
        fails = time_series(ts[failed], bounds, SPARK_BINS)
        tries = time_series(ts, bounds, SPARK_BINS)
        rate = np.divide(fails, tries, out=np.zeros_like(fails), where=tries > 0)
        return fails, rate, int(failed.sum())
