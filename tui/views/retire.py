"""Retire worker: each run's queue delay and run time, and what the run time went to."""
from __future__ import annotations

from textual.app import ComposeResult

from ..fmt import fmt_ns
from ..snapshot import Snapshot
from ..widgets.plots import SeriesSpark
from ..widgets.result_panel import ResultPanel
from .base import View

RUNS_SHOWN = 200


class RetireView(View):
    NAME = "retire"
    TITLE = "Retire worker"
    ANALYSES = ("retire",)
    EXPLAIN = ("The GPU retire worker (msm retire_worker): per run, how long it waited in the "
               "queue and how long it ran, and how much of the run went to finalizers, "
               "reservation waits and other work. Fence signals it delayed are user-visible "
               "latency. J jumps to the longest run.")

    def compose_body(self) -> ComposeResult:
        yield SeriesSpark("run time per run", id="retire-runtime")
        yield SeriesSpark("queue delay per run", id="retire-queue")
        yield ResultPanel("retire")

    def show_snapshot(self, snap: Snapshot) -> None:
        super().show_snapshot(snap)
        if snap.plots is None:
            return
        run_ns, queue_ns = snap.plots
        last = f"last {len(run_ns)} runs" if len(run_ns) == RUNS_SHOWN else f"{len(run_ns)} runs"
        self.query_one("#retire-runtime", SeriesSpark).draw(
            run_ns, f"run time, {last} in time order (max {fmt_ns(max(run_ns, default=0))})")
        self.query_one("#retire-queue", SeriesSpark).draw(
            queue_ns, f"queue delay, {last} (max {fmt_ns(max(queue_ns, default=0))})")

    @staticmethod
    def plot_data(frames, bounds):
        runs = frames["retire_run"].tail(RUNS_SHOWN)
        return (runs["duration_ns"].astype("Float64").fillna(0).to_numpy(dtype=float).tolist(),
                runs["queue_delay_ns"].astype("Float64").fillna(0).to_numpy(dtype=float).tolist())
