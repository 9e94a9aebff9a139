"""GemscopeApp: the views over one Source, fed by a timer tick and a snapshot worker.

The app receives its Source by injection and looks only at `source.capabilities` (live, can
pause, can seek). A timer tick (4 Hz) moves the replay cursor, turns the source's notices into
notifications, and asks a worker thread for a new frozen Snapshot of the current request (time
window, the analyses the visible view needs, the Events filter). Widgets render the last Snapshot;
no message is ever sent per event. Errors become notices; the app keeps showing what it has.
"""
from __future__ import annotations

import asyncio
import gc
import sys
import time
from typing import Any, Callable

from rich.markup import escape
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, TabbedContent, TabPane

from tracer.event_index import EventFilter

from .collector import CHECK_S, IdleCollector
from .screens.help import HelpScreen
from .screens.object import ObjectScreen
from .snapshot import Request, Snapshot, SnapshotComputer, Superseded
from .timewindow import TimeWindow
from .views.base import View
from .views.contention import ContentionView
from .views.events import EventsView
from .views.finalizers import FinalizersView
from .views.overview import OverviewView
from .views.retire import RetireView
from .views.shrinker import ShrinkerView
from .views.trylock import TrylockView
from .widgets.event_list import EventList
from .widgets.lines import release_drawn
from .widgets.status_bar import StatusBar
from .worst import worst_event

VIEW_CLASSES: tuple[type[View], ...] = (OverviewView, ContentionView, TrylockView, FinalizersView,
                                        RetireView,
                                        ShrinkerView, EventsView)
LIVE_DEFAULT_WIDTH_NS = 10_000_000_000
# The snapshot worker runs pandas over millions of rows in a thread; the UI thread gives up the
# GIL at every event-loop turn and must win it back each time. Python makes a running thread
# hand the GIL over only every switch interval (default 5 ms), so a key that takes many loop
# turns waited ~5 ms per turn; 0.5 ms keeps the UI responsive (benchmarks/tui.py).
UI_SWITCH_INTERVAL_S = 0.0005
LOADING_REFRESH_GROWTH = 1.5
FIRST_BATCH_POLL_S = 0.02


class GemscopeApp(App):
    """The gemscope TUI over any Source."""

    CSS_PATH = "app.tcss"
    TITLE = "gemscope"
    BINDINGS = [
        *(Binding(str(i + 1), f"view('{v.NAME}')", v.TITLE, show=False)
          for i, v in enumerate(VIEW_CLASSES)),
        Binding("question_mark", "help", "help"),
        Binding("left_square_bracket", "shift(-1)", "earlier"),
        Binding("right_square_bracket", "shift(1)", "later"),
        Binding("w", "width", "width"),
        Binding("0", "whole", "whole"),
        Binding("space", "play", "play/pause"),
        Binding("plus,equals_sign", "speed(1)", "faster"),
        Binding("minus", "speed(-1)", "slower"),
        Binding("J", "worst", "worst"),
        Binding("slash", "filter", "filter", show=False),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, source: Any, *, tick_hz: float = 4.0,
                 clock: Callable[[], float] = time.monotonic, analyses: list | None = None,
                 first_view: str = "overview", source_started: bool = False):
        super().__init__()
        self.first_view = first_view
        self.source_started = source_started
        self.source = source
        self.caps = source.capabilities
        self.tick_hz = tick_hz
        self._clock = clock
        self.computer = SnapshotComputer(source, analyses, plotters={
            cls.NAME: cls.plot_data for cls in VIEW_CLASSES})
        self.analysis_names = tuple(self.computer.analyses)
        self.window = TimeWindow(width_ns=LIVE_DEFAULT_WIDTH_NS if self.caps.is_live else None)
        self.event_filter = EventFilter()
        self.snapshot: Snapshot | None = None
        self._computing = False
        self._wanted: Request | None = None     # the latest request (read by the worker)
        self._polling_first = False
        self._notices_shown = 0
        self._errors_shown: set[str] = set()
        self._last_tick = clock()
        self.ticks = 0
        self.jumped_to = None
        self.finding_worst = False      # a J search is running in its worker
        self._status_text = ""
        self.collector = IdleCollector(clock)
        self._drawn_view: str | None = None     # the view shown last (see tab_activated)

    # --- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with TabbedContent(id="views", initial=self.first_view):
            for i, cls in enumerate(VIEW_CLASSES):
                with TabPane(f"{i + 1} {cls.TITLE}", id=cls.NAME):
                    yield cls()
        yield Footer()

    def _title_text(self) -> str:
        name = getattr(self.source, "name", None) or self.source.meta.get("source", "source")
        mode = "live" if self.caps.is_live else "replay"
        syn = "  [b reverse] SYNTHETIC [/]" if self.source.meta.get("synthetic") else ""
        return f"[b]gemscope[/b] {mode} {escape(str(name))}{syn}"

    def on_mount(self) -> None:
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
        # Kept as references: app.query_one looks at the active screen, which may be the help
        # or object screen when a tick arrives.
        self.status_bar = self.query_one("#status", StatusBar)
        self.tabs = self.query_one("#views", TabbedContent)
        self.views = {cls.NAME: self.query_one(f"#view-{cls.NAME}", View) for cls in VIEW_CLASSES}
        if not self.source_started:
            try:
                self.source.start()
            except Exception as e:  # noqa: BLE001 - a notice; the app shows what it has
                self.notify(f"the source could not start: {e}", severity="error", timeout=30,
                            markup=False)
        self.set_interval(1 / self.tick_hz, self.tick)
        self.tick()
        # A full (generation 2) garbage collection stops the UI thread, or holds the GIL in
        # the snapshot worker, for as long as it takes to visit every tracked object: ~150 ms
        # with a recording shown, the longest frames left (benchmarks/tui.py). About half of
        # those objects are the imported modules and the widgets, alive until the app ends:
        # frozen, the collector skips them (a full collection then takes ~70 ms).
        gc.freeze()
        # and the full collections left run when nobody waits for the screen (tui/collector.py)
        self.collector.start()
        self.set_interval(CHECK_S, self._idle_collect)

    async def on_unmount(self) -> None:
        self.collector.stop()
        gc.unfreeze()
        sys.setswitchinterval(self._switch_interval)
        # off the event loop: a source's stop joins its reader and may run an asyncio loop of its
        # own (pyroute2's taskstats close does), which cannot run inside Textual's
        await asyncio.to_thread(self.source.stop)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.collector.activity()
        await super().on_event(event)

    def _settled(self) -> bool:
        """The screen shows the data the last input asked for (nothing is awaited)."""
        snap = self.snapshot
        return snap is not None and snap.request == self.current_request() and \
            self.active_view.shown_seq == snap.seq and not self.finding_worst

    def _idle_collect(self) -> None:
        self.collector.maybe_collect(self._settled(), before=self._drop_hidden_lines)

    def _drop_hidden_lines(self) -> None:
        for name, view in self.views.items():
            if name != self.tabs.active:
                view.drop_lines()

    # --- the tick -------------------------------------------------------------------------
    @property
    def span(self) -> tuple[int, int] | None:
        return self.snapshot.span if self.snapshot else None

    @property
    def active_view(self) -> View:
        return self.views[self.tabs.active or VIEW_CLASSES[0].NAME]

    def current_request(self) -> Request:
        view = self.active_view
        return Request((self.window.width_ns, self.window.end_ns), view.ANALYSES,
                       view.WANTS_EVENTS,
                       self.event_filter if view.WANTS_EVENTS else EventFilter(), view.NAME)

    def tick(self) -> None:
        now = self._clock()
        self.window.advance(now - self._last_tick, self.span, self.source.done)
        self._last_tick = now
        self.ticks += 1
        self._poll_notices()
        self.request_snapshot()
        self._update_status()

    def request_snapshot(self) -> None:
        """Start the worker unless one is running (then the next tick asks again) or the source
        has nothing yet (the first snapshot then starts with the first batch, not before it).
        While a recording loads, the same request is computed again only once the loaded
        events grew by LOADING_REFRESH_GROWTH (each run reads everything loaded so far: a
        run per tick would spend more CPU on half-loaded data than on loading it)."""
        self._wanted = self.current_request()
        if self._computing:
            return
        if not self.caps.is_live and not self.source.done:
            loaded = self._events_so_far()
            if loaded == 0:
                if self.snapshot is None and not self._polling_first:
                    # the first frame: look again soon, not at the next tick (one poll chain)
                    self._polling_first = True
                    self.set_timer(FIRST_BATCH_POLL_S, self._poll_first_batch)
                return
            snap = self.snapshot
            if loaded is not None and snap is not None and snap.request == self._wanted \
                    and loaded < LOADING_REFRESH_GROWTH * snap.health.events_loaded:
                return
        self._computing = True
        self._compute(self._wanted, not self.source.done)

    def _poll_first_batch(self) -> None:
        self._polling_first = False
        self.request_snapshot()

    def _still_wanted(self, req: Request) -> bool:
        """Asked by the worker between analyses: is this still what the screen needs?"""
        return self._wanted == req

    def _events_so_far(self) -> int | None:
        """Events the source's buffer holds, when it says (None: unknown)."""
        return getattr(getattr(self.source, "buffer", None), "events", None)

    @work(thread=True, exit_on_error=False, group="snapshot")
    def _compute(self, req: Request, loading: bool) -> None:
        try:
            snap, err = self.computer.compute(req, loading, self._still_wanted), None
        except Superseded:
            snap, err = None, None
        except Exception as e:  # noqa: BLE001 - shown as a notice; the last snapshot stays
            snap, err = None, f"could not compute: {type(e).__name__}: {str(e)[:160]}"
        try:
            self.call_from_thread(self._apply, snap, err)
        except RuntimeError:
            pass  # the app is shutting down

    def _apply(self, snap: Snapshot | None, err: str | None) -> None:
        self._computing = False
        if err:
            self._notify_once(err, severity="error")
        if snap is None:
            if self.snapshot is None or self.snapshot.request != self.current_request():
                self.request_snapshot()     # superseded: compute what is wanted now
            return
        if self.snapshot is None or snap.request != self.snapshot.request:
            self.collector.activity()       # the screen answers an input: idle from now on
        self.snapshot = snap
        for e in snap.errors:
            self._notify_once(e, severity="error")
        self.active_view.show(snap)
        self._update_status()
        if snap.request != self.current_request():
            self.request_snapshot()   # the person moved on while we computed

    def _poll_notices(self) -> None:
        notes = self.source.notices()
        for text in notes[self._notices_shown:]:
            self.notify(text, title="source", severity="warning", timeout=10, markup=False)
        self._notices_shown = len(notes)

    def _notify_once(self, text: str, severity: str = "warning") -> None:
        if text not in self._errors_shown:
            self._errors_shown.add(text)
            self.notify(text, severity=severity, timeout=10, markup=False)

    def _update_status(self) -> None:
        parts = [self._title_text(), self.window.describe(self.span)]
        if self.snapshot is not None and self.snapshot.health.loading:
            loaded = self._events_so_far()
            loaded = self.snapshot.health.events_loaded if loaded is None else loaded
            parts.append(f"loading… {loaded:,} events")
        if self._computing and self.snapshot is not None and \
                self.snapshot.request != self.current_request():
            parts.append("computing…")
        if self.finding_worst:
            parts.append("finding the worst event…")
        text = "  │  ".join(parts)
        if text != self._status_text:       # an update lays the screen out again: only on change
            self._status_text = text
            self.status_bar.text = text

    # --- actions --------------------------------------------------------------------------
    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # every line drawn (the hidden views' too) forgets what was derived from it for the
        # old layout: strips that would stay, with their caches, in the heap every full
        # collection visits (the lines stay: a view shown again is not drawn again)
        if self._drawn_view not in (None, self.tabs.active):
            self.call_after_refresh(release_drawn, self.screen)
        self._drawn_view = self.tabs.active
        self.active_view.show(self.snapshot)
        self.request_snapshot()
        self._update_status()

    def action_view(self, name: str) -> None:
        self.tabs.active = name

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def _window_changed(self) -> None:
        self.request_snapshot()
        self._update_status()

    def action_shift(self, direction: int) -> None:
        if not self.window.shift(direction, self.span):
            self.notify("the window is the whole trace: press w to choose a width first")
        self._window_changed()

    def action_width(self) -> None:
        self.window.cycle_width(self.span, live=self.caps.is_live)
        self._window_changed()

    def action_whole(self) -> None:
        self.window.whole()
        self._window_changed()

    def action_play(self) -> None:
        if not self.caps.can_pause or self.caps.is_live:
            self.notify("this source is live: it cannot be paused or replayed")
            return
        self.window.toggle_play(self.span)
        self._last_tick = self._clock()
        self._window_changed()

    def action_speed(self, direction: int) -> None:
        self.window.faster(direction)
        self._update_status()

    def action_worst(self) -> None:
        """Find the view's worst event in a worker (a scan of the whole loaded trace), then
        centre the window on it; the key itself only starts the search."""
        snap = self.snapshot
        if snap is None or snap.full_frames is None:
            return
        self.finding_worst = True
        self._update_status()
        self._find_worst(snap, self.active_view.NAME)

    @work(thread=True, exclusive=True, exit_on_error=False, group="worst")
    def _find_worst(self, snap: Snapshot, view: str) -> None:
        try:
            worst, err = worst_event(snap.full_frames, view), None
        except Exception as e:  # noqa: BLE001 - a notice; the window stays where it is
            worst, err = None, f"could not find the worst event: {type(e).__name__}: {e}"[:200]
        try:
            self.call_from_thread(self._jump_to_worst, snap, worst, err)
        except RuntimeError:
            pass  # the app is shutting down

    def _jump_to_worst(self, snap: Snapshot, worst, err: str | None) -> None:
        self.finding_worst = False
        if err:
            self._notify_once(err, severity="error")
        elif worst is None:
            self.notify("no event to jump to in this view")
        else:
            self.window.jump_to(worst.ts_ns, worst.duration_ns, self.span)
            self.notify(worst.describe(snap.span[0] if snap.span else 0), title="J", markup=False)
            self.jumped_to = worst
        self._window_changed()

    def action_filter(self) -> None:
        self.action_view("events")
        self.views["events"].query_one("#events-filter", Input).focus()

    def set_event_filter(self, flt: EventFilter) -> None:
        self.event_filter = flt
        self.request_snapshot()

    def on_event_list_chosen(self, event: EventList.Chosen) -> None:
        df = event.index.frames[event.kind]
        obj = df["obj_addr"].iloc[event.row] if "obj_addr" in df else None
        if obj is None or str(obj) == "<NA>":
            lock = df["lock_addr"].iloc[event.row] if "lock_addr" in df else None
            if lock is None or str(lock) == "<NA>":
                self.notify(f"this {event.kind} event names no GEM object")
                return
            obj = lock
        snap = self.snapshot
        self.push_screen(ObjectScreen(snap.full_frames, int(obj), snap.span[0] if snap.span else 0))
