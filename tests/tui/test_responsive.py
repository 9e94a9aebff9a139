"""Slow work never blocks the UI: while an analysis runs, keys are handled, the view keeps the
previous data and the status bar says "computing…"; J's search runs in a worker too."""
from __future__ import annotations

import threading

from tests.tui.helpers import asynctest, gated, settle, until
from tracer.analyses import run_all
from tracer.sources.recording_source import RecordingSource
from tui.app import GemscopeApp
from tui.fmt import fmt_value
from tui.timewindow import S
from tui.widgets.cell_table import CellTable


@asynctest
async def test_a_slow_analysis_leaves_the_previous_data_marked_computing(fixture_path,
                                                                        fixture_frames):
    gate = threading.Event()
    gate.set()
    app = GemscopeApp(RecordingSource(fixture_path), first_view="contention",
                      analyses=gated(gate))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        table = app.query_one("#contention-headline", CellTable)
        assert table.row("resv_lock_calls")[1] == "60"
        gate.clear()                                    # the next contention run hangs
        await pilot.press("w")                          # 1 s window: a new computation
        await until(pilot, lambda: "computing…" in app.status_bar.text)
        assert app.window.width_ns == S
        assert table.row("resv_lock_calls")[1] == "60"     # the previous data stays
        await pilot.press("2")                          # keys are still handled
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        gate.set()
        await settle(app, pilot)
        start, end = app.snapshot.window
        want = run_all(fixture_frames.window(start, end))["contention"].headline
        assert table.row("resv_lock_calls")[1] == fmt_value("x", want["resv_lock_calls"])
        assert "computing…" not in app.status_bar.text


@asynctest
async def test_J_searches_in_a_worker_and_then_moves_the_window(fixture_path, fixture_frames):
    app = GemscopeApp(RecordingSource(fixture_path), first_view="finalizers")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        started = threading.Event()
        release = threading.Event()
        import tui.app as app_module
        real = app_module.worst_event

        def slow_worst(frames, view):
            started.set()
            release.wait(30)
            return real(frames, view)
        app_module.worst_event = slow_worst
        try:
            await pilot.press("J")
            await until(pilot, started.is_set)
            assert app.finding_worst and "finding the worst event…" in app.status_bar.text
            assert app.window.width_ns is None            # not moved yet
            release.set()
            await settle(app, pilot)
        finally:
            app_module.worst_event = real
        frees = fixture_frames["free"]
        worst = app.jumped_to
        assert (worst.kind, worst.value) == ("free", int(frees["duration_ns"].max()))
        assert worst.ts_ns == int(frees.loc[frees["duration_ns"].idxmax(), "ts_ns"])
        start, end = app.snapshot.window
        assert start <= worst.ts_ns < end
        assert not app.finding_worst


@asynctest
async def test_the_widgets_are_out_of_the_collectors_sight_while_the_app_runs(fixture_path):
    """A full garbage collection visits every tracked object, on whichever thread triggers it:
    the app freezes what lives as long as it does (modules, widgets) and unfreezes at exit."""
    import gc
    app = GemscopeApp(RecordingSource(fixture_path))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        view = app.views["overview"]
        assert gc.get_freeze_count() > 0
        assert not any(o is view for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(o is view for o in gc.get_objects())
