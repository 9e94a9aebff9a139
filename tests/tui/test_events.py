"""The Events view (virtual list, filters) and the object view; the event index underneath."""
from __future__ import annotations

import numpy as np
import pytest

from tests.tui import trace_fixture as tf
from tests.tui.helpers import asynctest, settle
from tracer.event_index import EventFilter, EventIndex, lifecycle_filter, parse_filter
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
