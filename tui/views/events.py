"""Events: every event in the window, time-ordered, filterable; Enter opens the object view."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input, Static

from tracer.event_index import EventFilter, parse_filter

from ..snapshot import Snapshot
from ..widgets.event_list import EventList
from .base import View


class EventsView(View):
    NAME = "events"
    TITLE = "Events"
    WANTS_EVENTS = True
    EXPLAIN = ("Every event in the window, in time order (t = seconds from the start of the "
               "trace). / to filter: `kind:free`, `task:kworker` (name or tid), `obj:0xffff...` "
               "(object or lock address), or bare words; empty = all. Enter on an event opens "
               "the whole lifecycle of its GEM object.")
    DEFAULT_CSS = """
    EventsView { overflow-y: hidden; }
    #events-status { color: $text-muted; height: 1; }
    """

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="filter: kind:free task:kworker obj:0x... (Enter applies)",
                    id="events-filter")
        yield Static("", id="events-status")
        yield EventList(id="events-list")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            flt = parse_filter(event.value)
        except ValueError as e:
            self.app.notify(str(e), title="filter", severity="error")
            return
        self.app.set_event_filter(flt)
        self.query_one(EventList).focus()

    def show_snapshot(self, snap: Snapshot) -> None:
        lst = self.query_one(EventList)
        if snap.events is None:
            self.query_one("#events-status", Static).update("indexing events…")
            return
        lst.set_events(snap.events, snap.event_positions, snap.span[0] if snap.span else 0)
        flt = snap.request.event_filter
        self.query_one("#events-status", Static).update(Text(
            f"{len(lst):,} of {len(snap.events):,} events in the window"
            + ("" if flt.empty else f" — filter: {flt.describe()}")))

    def current_filter(self) -> EventFilter:
        return parse_filter(self.query_one("#events-filter", Input).value)
