"""Plots inside the terminal: a bar histogram (textual-plotext) and a titled sparkline."""
from __future__ import annotations

from typing import Callable, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline
from textual_plotext import PlotextPlot

from ..fmt import fmt_ns
from ..plotdata import Histogram


class HistogramPlot(PlotextPlot):
    """Vertical bars of one or more histograms sharing buckets (e.g. free latency by context)."""

    DEFAULT_CSS = "HistogramPlot { height: 14; min-width: 40; }"

    def __init__(self, title: str, *, id: str | None = None):
        super().__init__(id=id)
        self.title = title
        self.data: dict[str, Histogram] = {}

    def draw(self, histograms: dict[str, Histogram], xlabel: str = "",
             fmt: Callable[[int], str] = fmt_ns) -> None:
        """One histogram per series name over the union of their buckets (labels by `fmt`)."""
        self.data = dict(histograms)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        edges = sorted({e for h in histograms.values() for e in h.lower})
        labels = [fmt(e) for e in edges]
        if labels:
            series = [[h.count_at(e) for e in edges] for h in histograms.values()]
            if len(series) == 1:
                plt.bar(labels, series[0], label=next(iter(histograms)))
            else:
                plt.multiple_bar(labels, series, labels=list(histograms))
            plt.xlabel(xlabel)
        else:
            plt.xlabel("no events in this window")
        self.refresh()


class SeriesSpark(Vertical):
    """A caption over a Sparkline; `draw(values, caption)` replaces both."""

    DEFAULT_CSS = """
    SeriesSpark { height: 4; }
    SeriesSpark Label { color: $text-muted; }
    SeriesSpark Sparkline { height: 2; }
    """

    def __init__(self, caption: str, *, id: str | None = None):
        super().__init__(id=id)
        self.caption = caption
        self.values: list[float] = []

    def compose(self) -> ComposeResult:
        yield Label(self.caption)
        yield Sparkline([], summary_function=max)

    def draw(self, values: Sequence[float], caption: str | None = None) -> None:
        self.values = [float(v) for v in values]
        self.query_one(Sparkline).data = self.values
        if caption is not None:
            self.query_one(Label).update(caption)
