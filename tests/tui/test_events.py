"""The Events view (virtual list, filters) and the object view; the event index underneath."""
from __future__ import annotations

import numpy as np
import pytest

from tests.tui import trace_fixture as tf
from tests.tui.helpers import asynctest, settle, until
from tracer.event_index import EventFilter, EventIndex, lifecycle_filter, parse_filter
from tracer.sources.base import Capabilities, EventBuffer
from tracer.sources.recording_source import RecordingSource
from tui.app import GemscopeApp
from tui.screens.object import ObjectScreen
from tui.widgets.event_list import EventList

COUNTED = ("stack",)


def test_index_merges_kinds_in_time_order(fixture_frames):
    idx = EventIndex(fixture_frames)
    n = sum(len(df) for k, df in fixture_frames.by_kind.items() if k not in COUNTED)
    assert len(idx) == n == 299
    assert np.all(np.diff(idx.ts) >= 0)
    kind, row = idx.locate(0)
    assert (kind, row) == ("retire_run", 0)
    assert idx.position_of(kind, row) == 0


def test_parse_filter():
    f = parse_filter("kind:free task:kworker obj:0x10")
    assert f == EventFilter(frozenset({"free"}), "kworker", frozenset({0x10}))
    assert parse_filter("free 0x20 supertux") == EventFilter(frozenset({"free"}), "supertux",
                                                             frozenset({0x20}))
    with pytest.raises(ValueError, match="unknown kind"):
        parse_filter("kind:nope")
    with pytest.raises(ValueError, match="not an address"):
        parse_filter("obj:zz")


def test_lifecycle_takes_the_object_and_its_reservation(fixture_frames):
    obj = tf.OBJS[0]
    flt = lifecycle_filter(fixture_frames, obj)
    assert flt.lock_addrs == frozenset({tf.RESV[obj]})
    pos = EventIndex(fixture_frames).filter(flt)
    expect = 0
    for kind, df in fixture_frames.by_kind.items():
        m = np.zeros(len(df), bool)
        if "obj_addr" in df:
            m |= (df["obj_addr"] == obj).fillna(False).to_numpy(bool)
        if "lock_addr" in df:
            m |= (df["lock_addr"] == tf.RESV[obj]).fillna(False).to_numpy(bool)
        expect += int(m.sum())
    assert len(pos) == expect and expect > 10


def rows_of(lst: EventList) -> list[str]:
    return [lst.line_text(i) for i in range(len(lst))]


@asynctest
async def test_filter_and_enter_opens_the_object_view(fixture_path, fixture_frames):
    app = GemscopeApp(RecordingSource(fixture_path), first_view="events")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        lst = app.query_one("#events-list", EventList)
        assert len(lst) == 299
        await pilot.press("slash")
        await pilot.press(*"kind:free", "enter")
        await settle(app, pilot)
        assert len(lst) == 12
        assert all(" free " in r for r in rows_of(lst))
        free = fixture_frames["free"]
        assert rows_of(lst)[0].split()[0] == f"{(int(free['ts_ns'][0]) - 5_000_050_000) / 1e9:.6f}"
        await pilot.press("slash", *["backspace"] * 9, *"task:supertuxkart", "enter")
        await settle(app, pilot)
        want = sum(int((df["comm"].astype(str) == "supertuxkart").sum())
                   for k, df in fixture_frames.by_kind.items() if k not in COUNTED)
        assert len(lst) == want and all("supertuxkart/201" in r for r in rows_of(lst))
        # the first supertuxkart event is a resv_lock on an object: Enter -> its lifecycle
        kind, row = lst.index.locate(lst.current_position())
        obj = int(fixture_frames[kind]["obj_addr"][row])
        await pilot.press("enter")
        for _ in range(200):
            if isinstance(app.screen, ObjectScreen) and app.screen.index is not None:
                break
            await pilot.pause(0.02)
        screen = app.screen
        assert isinstance(screen, ObjectScreen) and screen.obj_addr == obj
        expect = len(EventIndex(fixture_frames).filter(lifecycle_filter(fixture_frames, obj)))
        assert len(screen.query_one("#object-events", EventList)) == expect
        assert f"GEM object {obj:#x}" in str(screen.query_one("#object-summary").render())
        assert f"{expect} events" in str(screen.query_one("#object-summary").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, ObjectScreen)


@asynctest
async def test_bad_filter_is_a_notice(fixture_path):
    app = GemscopeApp(RecordingSource(fixture_path), first_view="events")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"kind:bogus", "enter")
        await pilot.pause(0.1)
        assert any("unknown kind 'bogus'" in n.message for n in app._notifications)
        assert len(app.query_one("#events-list", EventList)) == 299


class GrowingSource:
    """A live-like source over an EventBuffer that the test appends to (no thread)."""

    capabilities = Capabilities(is_live=True)
    name = "growing"
    done = False

    def __init__(self, meta):
        self.meta = dict(meta)
        self.buffer = EventBuffer(meta)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def snapshot(self):
        return self.buffer.snapshot()

    def notices(self) -> list[str]:
        return []


def plain_lines(frames, t0_ns: int, flt: EventFilter) -> list[str]:
    """The rows the Events view showed before its index was extended between snapshots: a
    stable sort of every kind's ts, a filter mask per kind, each row's text from its frame."""
    from tracer import event_index
    kinds = [k for k in event_index._ORDERED_KINDS if frames.has(k)]
    ts = np.concatenate([frames[k]["ts_ns"].to_numpy(np.int64) for k in kinds])
    code = np.concatenate([np.full(len(frames[k]), i) for i, k in enumerate(kinds)])
    offsets = np.concatenate([[0], np.cumsum([len(frames[k]) for k in kinds])])
    order = np.argsort(ts, kind="stable")
    keep = np.concatenate([event_index.kind_mask(frames[k], k, flt) for k in kinds])[order]
    return [event_index._line(kinds[code[f]], frames[kinds[code[f]]].iloc[f - offsets[code[f]]],
                              t0_ns) for f in order[keep]]


@asynctest
async def test_a_growing_source_shows_the_rows_of_a_plain_sort(fixture_path):
    """Snapshots that append later events, late ones and ties: after each, the list (every
    line, and with a filter) equals the plain sort of everything appended so far."""
    from tests.tui.test_incremental import _batches, _split
    batches, meta = _batches(fixture_path)
    pieces = _split(batches, 3)
    rng = np.random.default_rng(4)
    pieces = [pieces[i] for i in rng.permutation(len(pieces))]   # late rows in every kind
    src = GrowingSource(meta)
    app = GemscopeApp(src, first_view="events")
    async with app.run_test(size=(160, 50)) as pilot:
        lst = app.query_one("#events-list", EventList)
        step = len(pieces) // 4 + 1
        for i, a in enumerate(range(0, len(pieces), step)):
            for b in pieces[a:a + step]:
                src.buffer.append(b)
            if i == 2:
                app.set_event_filter(parse_filter("task:supertuxkart"))
            await until(pilot, lambda: app.snapshot is not None
                        and app.snapshot.health.events_loaded == sum(
                            src.snapshot().count(k) for k in src.snapshot().present
                            if k not in ("stack", "probe_status"))
                        and app.snapshot.request == app.current_request()
                        and app.active_view.shown_seq == app.snapshot.seq)
            snap = app.snapshot
            want = plain_lines(snap.frames, snap.span[0], app.event_filter)
            assert rows_of(lst) == want and len(want) > 10
