"""The time window: the pure model's exact bounds, and every view following the keys."""
from __future__ import annotations

from tests.tui.helpers import asynctest, settle
from tracer.analyses import run_all
from tracer.sources.recording_source import RecordingSource
from tui.app import GemscopeApp
from tui.fmt import fmt_value
from tui.timewindow import MS, S, TimeWindow
from tui.widgets.cell_table import CellTable

SPAN = (10 * S, 12 * S)


def test_whole_trace_is_unbounded():
    assert TimeWindow().bounds(SPAN) == (None, None)


def test_width_cycle_skips_widths_longer_than_the_trace():
    w = TimeWindow()
    w.cycle_width(SPAN)
    assert w.width_ns == S                      # 60 s and 10 s are longer than 2 s
    assert w.bounds(SPAN) == (11 * S + 1, None)
    w.cycle_width(SPAN)
    assert w.width_ns == 100 * MS


def test_shift_moves_by_half_a_width_and_stops_at_the_start():
    w = TimeWindow(width_ns=S)
    assert w.shift(-1, SPAN)
    assert w.bounds(SPAN) == (10 * S + S // 2 + 1, 11 * S + S // 2 + 1)
    for _ in range(10):
        w.shift(-1, SPAN)
    assert w.bounds(SPAN) == (10 * S, 11 * S)
    w.shift(1, SPAN)
    w.shift(1, SPAN)
    w.shift(1, SPAN)
    assert w.end_ns is None                       # back to following the end
    assert not TimeWindow().shift(1, SPAN)        # whole trace: nothing to move


def test_playback_advances_by_speed_and_stops_at_the_end():
    w = TimeWindow()
    w.toggle_play(SPAN)
    assert (w.playing, w.end_ns) == (True, 10 * S)
    w.faster(1)
    assert w.speed == 2.0
    w.advance(0.25, SPAN, data_complete=True)
    assert w.bounds(SPAN) == (None, 10 * S + S // 2)
    w.advance(5.0, SPAN, data_complete=True)
    assert (w.playing, w.end_ns) == (False, None)


def test_jump_centres_an_event():
    w = TimeWindow()
    w.jump_to(11 * S, 2 * MS, SPAN)
    assert w.width_ns == 10 * MS
    assert w.bounds(SPAN) == (11 * S + MS - 5 * MS, 11 * S + MS + 5 * MS)


@asynctest
async def test_window_keys_change_every_view(fixture_path, fixture_frames, fixture_results):
    app = GemscopeApp(RecordingSource(fixture_path), first_view="contention")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        table = app.query_one("#contention-headline", CellTable)
        whole = table.row("resv_lock_calls")[1]
        assert whole == "60"
        await pilot.press("w")                    # 1 s: the last second of the trace
        await settle(app, pilot)
        start, end = app.snapshot.window
        lo, hi = fixture_frames.time_range_ns
        assert (start, end) == (hi + 1 - S, None)
        want = run_all(fixture_frames.window(start, end))["contention"].headline
        assert table.row("resv_lock_calls")[1] == fmt_value("x", want["resv_lock_calls"])
        assert want["resv_lock_calls"] < 60
        await pilot.press("left_square_bracket")  # half a second earlier
        await settle(app, pilot)
        start2, end2 = app.snapshot.window
        assert (start2, end2) == (start - S // 2, hi + 1 - S // 2)
        want = run_all(fixture_frames.window(start2, end2))
        assert table.row("resv_wait_total_ns")[1] == fmt_value(
            "resv_wait_total_ns", want["contention"].headline["resv_wait_total_ns"])
        await pilot.press("1")                    # the overview follows the same window
        await settle(app, pilot)
        health = app.query_one("#overview-health", CellTable)
        n = sum(len(df) for k, df in fixture_frames.window(start2, end2).by_kind.items()
                if k not in ("stack", "probe_status"))
        assert health.row("events")[1] == f"{n:,} in the window, 299 loaded"
        await pilot.press("0")
        await settle(app, pilot)
        assert app.snapshot.window == (None, None)
        assert app.query_one("#overview-headline", CellTable).row(
            "contention.resv_lock_calls")[1] == "60"


@asynctest
async def test_space_replays_from_the_start_and_J_jumps_to_the_worst_wait(fixture_path,
                                                                         fixture_frames):
    t = [0.0]
    app = GemscopeApp(RecordingSource(fixture_path), first_view="contention",
                      clock=lambda: t[0])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.press("space")
        await settle(app, pilot)
        lo = fixture_frames.time_range_ns[0]
        assert app.window.playing and app.snapshot.window == (None, lo)
        t[0] += 0.5                                # half a second of wall time at x1
        app.tick()
        await settle(app, pilot)
        assert app.snapshot.window == (None, lo + S // 2)
        want = run_all(fixture_frames.window(None, lo + S // 2))["contention"]
        table = app.query_one("#contention-headline", CellTable)
        assert table.row("resv_lock_calls")[1] == str(want.headline["resv_lock_calls"])
        await pilot.press("space")
        assert not app.window.playing
        await pilot.press("J")
        await settle(app, pilot)
        worst = app.jumped_to
        locks = fixture_frames["resv_lock"]
        assert (worst.kind, worst.value) == ("resv_lock", 9_000_000)
        assert worst.ts_ns == int(locks.loc[locks["duration_ns"].idxmax(), "ts_ns"])
        start, end = app.snapshot.window
        assert start <= worst.ts_ns < end and end - start == 100 * MS
