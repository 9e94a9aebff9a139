"""Overview: is the trace healthy, what are the headline numbers, and what must I look at."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from ..alerts import alerts
from ..fmt import fmt_value
from ..plotdata import time_series
from ..snapshot import NOT_COUNTED, Snapshot
from ..widgets.cell_table import CellTable
from ..widgets.plots import SeriesSpark
from .base import SPARK_BINS, View


class OverviewView(View):
    NAME = "overview"
    TITLE = "Overview"
    ANALYSES = ("*",)
    EXPLAIN = ("Health of the trace, the headline number of every analysis, and alerts "
               "(reclaim lock-order risks, frees in reclaim, retire runs delayed by finalizers). "
               "Every number follows the time window in the status bar: [ ] move it, w width, "
               "0 whole trace. Keys 1-7 switch views, ? help.")
    DEFAULT_CSS = """
    #synthetic { background: $warning; color: $background; text-style: bold; padding: 0 1; }
    #alerts { color: $error; height: auto; }
    """

    def compose_body(self) -> ComposeResult:
        yield Static("", id="synthetic")
        yield Static("Alerts", classes="section")
        yield Static("", id="alerts")
        yield SeriesSpark("events per time bin", id="overview-rate")
        yield Static("Health", classes="section")
        yield CellTable(("health", "value"), id="overview-health")
        yield Static("Headline numbers (analysis.key)", classes="section")
        yield CellTable(("headline", "value"), id="overview-headline", zebra_stripes=True)

    def show_snapshot(self, snap: Snapshot) -> None:
        h = snap.health
        banner = self.query_one("#synthetic", Static)
        banner.display = h.synthetic
        banner.update(Text(f"SYNTHETIC: made by the gemscope workload model (scenario "
                           f"{h.scenario or '?'}), not recorded from a kernel"))
        found = alerts(snap.results, h)
        self.query_one("#alerts", Static).update(
            Text("\n".join(f"• {a}" for a in found) if found else "none"))
        self._fill_health(snap)
        self._fill_headlines(snap)
        if snap.plots is not None:
            counts, width_ms = snap.plots
            self.query_one("#overview-rate", SeriesSpark).draw(
                counts, f"events per {width_ms:.3g} ms bin (max {int(counts.max())})")

    @staticmethod
    def plot_data(frames, bounds):
        counts = sum((time_series(df["ts_ns"].to_numpy(), bounds, SPARK_BINS)
                      for k, df in frames.by_kind.items() if k not in NOT_COUNTED and len(df)),
                     start=time_series([], bounds, SPARK_BINS))
        return counts, (bounds[1] - bounds[0]) / SPARK_BINS / 1e6

    def _fill_health(self, snap: Snapshot) -> None:
        h = snap.health
        rows = [
            ("events", f"{h.events:,} in the window, {h.events_loaded:,} loaded"
                       + (" (still loading…)" if h.loading else "")),
            ("rate", "—" if h.rate_per_s is None else f"{h.rate_per_s:,.0f} events/s"),
            ("lost_events", "not reported by this source" if h.lost_events is None
             else f"{h.lost_events:,}"),
            ("probes_attached", f"{len(h.attached)}: {', '.join(h.attached)}" if h.attached
             else "no probe plan in this recording"),
            ("probes_missing", "; ".join(f"{p} ({r})" for p, r in h.missing.items()) or "none"),
            ("cannot_answer", "; ".join(f"{a} (no {', '.join(k)})"
                                        for a, k in h.cannot_answer.items()) or "nothing"),
            ("truncated", "yes: the end of the trace is missing" if h.truncated else "no"),
            ("clock", h.clock_warning.removeprefix("CLOCK: ") if h.clock_warning else h.clock),
        ]
        self.query_one("#overview-health", CellTable).set_rows(
            ("health", "value"), [(key, (key, value)) for key, value in rows])

    def _fill_headlines(self, snap: Snapshot) -> None:
        rows = []
        for name, result in snap.results.items():
            if result.missing:
                rows.append((name, (name, "cannot answer: no " + ", ".join(result.missing))))
                continue
            rows += [(f"{name}.{key}", (f"{name}.{key}", fmt_value(key, value)))
                     for key, value in result.headline.items()]
        if not snap.results:
            rows.append(("none", ("analyses", "computing…" if getattr(
                self.app, "analysis_names", ()) else "no analyses in this gemscope build")))
        self.query_one("#overview-headline", CellTable).set_rows(("headline", "value"), rows)
