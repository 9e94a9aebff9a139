"""What every view has: a sentence saying what it answers, the analyses it needs, and `show`."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tracer.analyses.base import Result

from ..snapshot import Snapshot
from ..widgets.lines import forget_lines
from ..widgets.result_panel import ResultPanel

SPARK_BINS = 120


class View(VerticalScroll):
    """A tab's content. Subclasses set NAME, TITLE, EXPLAIN, ANALYSES and fill `show_snapshot`."""

    NAME = ""
    TITLE = ""
    EXPLAIN = ""
    ANALYSES: tuple[str, ...] = ()      # what the snapshot computer must run for this view
    WANTS_EVENTS = False
    DEFAULT_CSS = """
    View { scrollbar-gutter: stable; }
    View .explain { color: $text-muted; margin-bottom: 1; }
    View .section { text-style: bold; margin-top: 1; }
    View Horizontal { height: auto; }
    """

    def __init__(self):
        super().__init__(id=f"view-{self.NAME}")
        self.shown_seq = -1
        self.shown_key: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.EXPLAIN, classes="explain")
        yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        for name in self.ANALYSES:
            yield ResultPanel(name)

    def show(self, snap: Snapshot | None) -> None:
        """Render a snapshot (skipped when this one was already shown)."""
        if snap is None or snap.seq == self.shown_seq:
            return
        if snap.request.view != self.NAME:
            return                      # computed for another view: no plot data for this one
        self.shown_seq = snap.seq
        if snap.content_key == self.shown_key:
            return                      # the same data is already on screen
        self.shown_key = snap.content_key
        self.show_snapshot(snap)

    def drop_lines(self) -> None:
        """Forget the lines this (hidden) view's widgets drew: Strips with their caches, ~4-5k
        objects a view that every full garbage collection visits, released so that they are
        freed at once (tui/widgets/lines.py). Textual draws a view's lines again when it is
        shown anyway (the same key-to-frame with or without them)."""
        for widget in (self, *self.query("*")):
            forget_lines(widget)

    @staticmethod
    def plot_data(frames, bounds: tuple[int, int]):
        """The numbers behind this view's plots, computed in the snapshot worker (pure)."""
        return None

    def show_snapshot(self, snap: Snapshot) -> None:
        for name in self.ANALYSES:
            result, state = self.result(snap, name)
            self.query_one(f"#panel-{name}", ResultPanel).show(
                result, state, snap.span[0] if snap.span else 0)

    def result(self, snap: Snapshot, name: str) -> tuple[Result | None, str]:
        """The analysis result and its state: ok / computing / unavailable."""
        if name in snap.results:
            return snap.results[name], "ok"
        return None, ("computing" if name in getattr(self.app, "analysis_names", ()) else
                      "unavailable")


