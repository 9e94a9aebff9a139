"""Plots inside the terminal: log2 bar histograms (as text) and a titled sparkline."""
from __future__ import annotations

from typing import Callable, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from rich.text import Text
from textual.widgets import Label, Sparkline, Static

from ..fmt import fmt_ns
from ..plotdata import Histogram


class HistogramPlot(Static):
    """Log2 histograms drawn as horizontal bars, one row per bucket (like BCC's `hist`), one
    column per series (e.g. free latency by context). Deterministic text, so snapshots are too."""

    DEFAULT_CSS = "HistogramPlot { height: auto; }"
    BAR_CELLS = 30

    def __init__(self, title: str, *, id: str | None = None):
        super().__init__("", id=id)
        self.title = title
        self.data: dict[str, Histogram] = {}

    def draw(self, histograms: dict[str, Histogram], xlabel: str = "",
             fmt: Callable[[int], str] = fmt_ns) -> None:
        """One histogram per series name over the union of their buckets (labels by `fmt`)."""
        self.data = dict(histograms)
        self.update(histogram_text(self.title, histograms, xlabel, fmt, self.BAR_CELLS))


def histogram_text(title: str, histograms: dict[str, Histogram], xlabel: str,
                   fmt: Callable[[int], str], cells: int) -> Text:
    edges = sorted({e for h in histograms.values() for e in h.lower})
    out = Text(title + "\n", style="bold")
    if not edges:
        out.append("no events in this window", style="dim")
        return out
    top = max(max(h.counts) for h in histograms.values() if h.counts) or 1
    label_w = max(len(xlabel), *(len(fmt(e)) for e in edges))
    col_w = max(cells + 8, *(len(n) + 2 for n in histograms))
    out.append(f"{xlabel:>{label_w}} ", style="dim")
    for name in histograms:
        out.append(f"│ {name:<{col_w - 2}}", style="bold")
    out.append("\n")
    for e in edges:
        out.append(f"{fmt(e):>{label_w}} ")
        for h in histograms.values():
            n = h.count_at(e)
            bar = "█" * (round(cells * n / top) if n else 0)
            if n and not bar:
                bar = "▏"
            out.append("│ ")
            out.append(f"{n:>5} ", style="dim" if not n else "")
            out.append(f"{bar:<{col_w - 8}}", style="green")
        out.append("\n")
    return out


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
