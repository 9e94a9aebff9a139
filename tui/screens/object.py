"""The object view: the whole lifecycle of one GEM object, over the whole loaded trace.

Every event naming the object (obj_addr) and every event on its reservation (the lock_addr its
own events name), time-ordered. Built in a worker thread: the selection is vectorized per kind,
then only the few matching rows are indexed.
"""
from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from tracer.event_index import EventFilter, EventIndex, lifecycle_filter, select_frames
from tracer.frames import Frames

from ..fmt import fmt_bytes
from ..widgets.event_list import EventList


class ObjectScreen(Screen):
    """Escape goes back to the Events view."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "back")]
    DEFAULT_CSS = """
    #object-summary { height: auto; padding: 0 1; background: $boost; }
    """

    def __init__(self, frames: Frames, obj_addr: int, t0_ns: int):
        super().__init__()
        self.frames, self.obj_addr, self.t0_ns = frames, obj_addr, t0_ns
        self.index: EventIndex | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"GEM object {self.obj_addr:#x}: collecting its lifecycle…",
                     id="object-summary")
        yield EventList(id="object-events")
        yield Footer()

    def on_mount(self) -> None:
        self.collect()

    @work(thread=True, exit_on_error=False)
    def collect(self) -> None:
        flt = lifecycle_filter(self.frames, self.obj_addr)
        index = EventIndex(select_frames(self.frames, flt))
        self.app.call_from_thread(self._show, index, flt.lock_addrs)

    def _show(self, index: EventIndex, locks) -> None:
        self.index = index
        lst = self.query_one(EventList)
        lst.set_events(index, index.filter(EventFilter()), self.t0_ns)
        lst.focus()
        self.query_one("#object-summary", Static).update(Text(self.summary(index, locks)))

    def summary(self, index: EventIndex, locks) -> str:
        if not len(index):
            return f"GEM object {self.obj_addr:#x}: no events name it"
        first, last = (int(index.ts[0]) - self.t0_ns) / 1e9, (int(index.ts[-1]) - self.t0_ns) / 1e9
        kinds = {k: len(index.frames[k]) for k in index.kinds}
        sizes = [int(s) for k in ("free", "last_put", "shrink_object", "resv_trylock")
                 for s in self.frames_sizes(index, k)]
        size = fmt_bytes(max(sizes)) if sizes else "unknown size"
        return (f"GEM object {self.obj_addr:#x} ({size}), reservation "
                f"{', '.join(hex(a) for a in sorted(locks)) or 'unknown'}: {len(index)} events "
                f"from {first:.6f} s to {last:.6f} s — "
                + ", ".join(f"{k} {n}" for k, n in kinds.items()) + "   (Esc: back)")

    @staticmethod
    def frames_sizes(index: EventIndex, kind: str):
        df = index.frames[kind]
        return df["size_bytes"].dropna() if "size_bytes" in df else []
