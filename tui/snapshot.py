"""The frozen snapshot widgets render, and the computer that makes it off the UI thread.

Data flow (memray's live TUI): the source's reader thread fills its buffer; the app's timer tick
asks a worker thread for a `Snapshot` of one `Request` (time window, which analyses the visible
view needs, the Events filter); widgets render the last Snapshot. Nothing here imports textual, so
benchmarks and tests can time and check it directly.

Work is cached by (source frames, window): switching views reuses every analysis already run on
the same data, and an unchanged request costs nothing. A window's analyses cut the as-of joins
already computed on the whole snapshot instead of joining the window's rows again
(tracer/analyses/reuse.py: same results).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from tracer.analyses.base import Result
from tracer.analyses.reuse import WholeData
from tracer.clocks import clock_warning
from tracer.event_index import EventFilter, EventIndex, MergeBase
from tracer.frames import Frames

from .timewindow import TimeWindow

NOT_COUNTED = ("stack", "probe_status")
# Event indexes kept to extend (one per window asked): each of a 10M-event window holds ~260 MB
KEPT_EVENT_INDEXES = 2
# "modelled": the simulator's stand-in for a probe (its events are there, marked synthetic)
ATTACHED_STATUSES = ("attached", "modelled")


def available_analyses() -> list:
    """The analyses tracer provides (an empty list while none exist yet)."""
    try:
        from tracer.analyses import ALL
    except ImportError:
        return []
    return list(ALL)


@dataclass(frozen=True)
class Request:
    # (width_ns, end_ns) of the TimeWindow; resolved against the data when computing, so that a
    # window following the end of a growing source stays the same request
    window: tuple[int | None, int | None] = (None, None)
    analyses: tuple[str, ...] = ()          # names; "*" = every analysis
    want_events: bool = False
    event_filter: EventFilter = EventFilter()
    view: str = ""                          # whose plot data to compute (see `plotters`)


def effective_bounds(span, window) -> tuple[int, int] | None:
    """The window's [start, end) in ns, open ends closed with the data's span."""
    if span is None:
        return None
    start, end = window
    return (span[0] if start is None else start, span[1] + 1 if end is None else end)


@dataclass(frozen=True)
class Health:
    events: int                 # events in the window
    events_loaded: int          # events in the whole snapshot
    rate_per_s: float | None    # events per second of trace time in the window
    lost_events: int | None     # None: the source cannot report lost events
    kinds: Mapping[str, int]
    attached: tuple[str, ...]
    missing: Mapping[str, str]  # probe -> reason
    cannot_answer: Mapping[str, tuple[str, ...]]   # analysis -> kinds not recorded
    truncated: bool
    synthetic: bool
    scenario: str | None
    loading: bool
    clock: str = "CLOCK_MONOTONIC"   # which clock ts_ns are in (meta "clock"; imports keep theirs)
    clock_warning: str | None = None  # tracer.clocks.clock_warning: set when not CLOCK_MONOTONIC


@dataclass(frozen=True)
class Snapshot:
    seq: int
    request: Request
    span: tuple[int, int] | None            # whole loaded data, ns
    window: tuple[int | None, int | None]
    frames: Frames                          # the window's events
    results: Mapping[str, Result]
    health: Health
    events: EventIndex | None = None
    event_positions: np.ndarray | None = None
    errors: tuple[str, ...] = ()
    compute_s: float = 0.0
    full_frames: Frames | None = field(default=None, repr=False)
    plots: Any = None                       # the view's plot data, computed off the UI thread
    compute_cpu_s: float = 0.0              # CPU time of the computing thread (compute_s: wall)

    @property
    def content_key(self) -> tuple:
        """Equal keys = the same data on screen (the same frames, window and filter)."""
        return (id(self.full_frames), self.window, self.request.event_filter,
                self.health.loading)


class Superseded(Exception):
    """The request was replaced by a newer one while it was being computed; what was computed
    so far stays cached for when it is asked again."""


class SnapshotComputer:
    """Turns (source snapshot, Request) into a Snapshot; call from one worker thread at a time."""

    def __init__(self, source: Any, analyses: list | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 plotters: Mapping[str, Callable[[Frames, tuple[int, int]], Any]] | None = None):
        self.source = source
        self.plotters = dict(plotters or {})
        self.analyses = {a.name: a for a in (available_analyses() if analyses is None
                                             else analyses)}
        self._clock = clock
        self._seq = 0
        self._frames: Frames | None = None
        self._span: tuple[int, int] | None = None
        self._cache: dict[tuple, Any] = {}
        self._whole: WholeData | None = None    # the snapshot's joins the windows reuse
        self._wanted: Callable[[], bool] | None = None
        # what the next EventIndex extends: the last ones built, by window asked (oldest first)
        self._last_events: dict[tuple, MergeBase] = {}
        self.last: Snapshot | None = None

    def frames_and_span(self) -> tuple[Frames, tuple[int, int] | None]:
        frames = self.source.snapshot()
        if frames is not self._frames:
            self._frames, self._span, self._cache = frames, frames.time_range_ns, {}
            # a snapshot that only adds later events extends the joins of the one before
            self._whole = WholeData(frames, previous=self._whole)
        return frames, self._span

    def compute(self, req: Request, loading: bool = False,
                wanted: Callable[[Request], bool] | None = None) -> Snapshot | None:
        """A new Snapshot, or None when nothing changed since the last one.

        `wanted(req)` is asked before each piece of work not cached yet (an analysis, the event
        index, the plots): when it says no (the person moved on), this raises Superseded, so
        the worker turns to the new request instead of finishing an old one."""
        t0, c0 = self._clock(), time.thread_time()
        self._wanted = (lambda: wanted(req)) if wanted is not None else None
        frames, span = self.frames_and_span()
        last = self.last
        if last is not None and last.request == req and last.full_frames is frames \
                and last.health.loading == loading:
            return None
        window = TimeWindow(*req.window).bounds(span)
        win = self._window(frames, window)
        errors: list[str] = []
        results = self._results(frames, req, window, win, errors, loading)
        events = positions = None
        if req.want_events:
            events = self._cached(("events", window),
                                  lambda: self._event_index(win, req.window), check=True)
            positions = self._cached(("filter", window, req.event_filter),
                                     lambda: events.filter(req.event_filter))
        plots = None
        bounds = effective_bounds(span, window)
        if req.view in self.plotters and bounds is not None:
            plots = self._cached(("plots", window, req.view),
                                 lambda: self.plotters[req.view](win, bounds), check=True)
        self._seq += 1
        snap = Snapshot(self._seq, req, span, window, win, MappingProxyType(results),
                        health(win, frames, results, loading), events, positions,
                        tuple(errors), self._clock() - t0, frames, plots,
                        time.thread_time() - c0)
        self.last = snap
        return snap

    def _event_index(self, win: Frames, spec) -> EventIndex:
        """The window's EventIndex, extended from the last one built for the same window asked
        (`spec`: the whole trace, the last N s...; else from the last one built): only the rows
        that are not in it are merged in, not every event of the window sorted again
        (tracer/event_index.py). Why per window: a person who switches views meets the Events
        view again in the window they left it in, while other windows came in between."""
        previous = self._last_events.get(spec) or next(reversed(self._last_events.values()),
                                                       None)
        index = EventIndex(win, previous=previous)
        self._last_events.pop(spec, None)
        self._last_events[spec] = index.merge_base()
        while len(self._last_events) > KEPT_EVENT_INDEXES:
            self._last_events.pop(next(iter(self._last_events)))
        return index

    def _window(self, frames: Frames, window) -> Frames:
        if window == (None, None):
            return frames
        return self._cached(("window", window), lambda: frames.window(*window))

    def _results(self, frames, req, window, win, errors, loading) -> dict[str, Result]:
        names = list(self.analyses) if "*" in req.analyses else \
            [n for n in req.analyses if n in self.analyses]
        out = {}
        # while the data grows, the next window is of other data: no whole joins for one
        reuse = self._whole.window(window, eager=not loading) if self._whole is not None \
            else None
        for name in names:
            key = ("result", window, name)
            if key not in self._cache:
                self._check()
                try:
                    self._cache[key] = self.analyses[name](win, reuse)
                except Exception as e:  # noqa: BLE001 - a failing analysis is a notice
                    msg = (str(e).splitlines() or [type(e).__name__])[0][:160]
                    a = self.analyses[name]
                    self._cache[key] = Result(name, a.title, a.needs,
                                              notes=[f"analysis failed: {type(e).__name__}: {msg}"])
                    errors.append(f"analysis {name} failed: {type(e).__name__}: {msg}")
            out[name] = self._cache[key]
        return out

    def _cached(self, key, make, check: bool = False):
        if key not in self._cache:
            if check:
                self._check()
            self._cache[key] = make()
        return self._cache[key]

    def _check(self) -> None:
        if self._wanted is not None and not self._wanted():
            raise Superseded()


def health(win: Frames, full: Frames, results: Mapping[str, Result], loading: bool) -> Health:
    kinds = {k: win.count(k) for k in win.by_kind if win.count(k) and k not in NOT_COUNTED}
    n = sum(kinds.values())
    span = win.time_range_ns
    rate = n / ((span[1] - span[0]) / 1e9) if span and span[1] > span[0] else None
    lost = int(win["lost"]["lost_count"].sum()) if win.recorded("lost") else None
    plan = full.probe_plan
    attached = tuple(sorted(p for p, v in plan.items()
                            if (v or {}).get("status") in ATTACHED_STATUSES))
    missing = {p: str((v or {}).get("reason") or (v or {}).get("status") or "?")
               for p, v in sorted(plan.items())
               if (v or {}).get("status") not in ATTACHED_STATUSES}
    cannot = {name: tuple(r.missing) for name, r in results.items() if r.missing}
    return Health(n, sum(full.count(k) for k in full.by_kind if k not in NOT_COUNTED),
                  rate, lost, MappingProxyType(kinds), attached, MappingProxyType(missing),
                  MappingProxyType(cannot), bool(full.truncated), bool(full.meta.get("synthetic")),
                  full.meta.get("scenario"), loading, str(full.meta.get("clock") or "not stated in the recording"),
                  clock_warning(full.meta))
