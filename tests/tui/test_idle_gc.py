"""Full garbage collections wait for an idle moment (tui/collector.py): CPython's automatic ones
are held back while the app runs, and the app runs one itself once input stopped."""
from __future__ import annotations

import gc
import threading

from textual.strip import Strip

from tests.tui.helpers import asynctest, gated, settle, until
from tracer.sources.recording_source import RecordingSource
from tui.app import GemscopeApp
from tui.collector import BACKSTOP_GEN1, CHECK_S, IDLE_S
from tui.widgets.lines import MEMO_SLOTS, release_drawn


class Clock:
    """A clock the test moves by hand (the app's ticks and the idle collector read it)."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FullCollections:
    """Counts the full collections run on the UI thread (gc.callbacks)."""

    def __init__(self):
        self.n = 0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2 and \
                threading.current_thread() is threading.main_thread():
            self.n += 1

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


@asynctest
async def test_the_generation_2_threshold_is_raised_while_the_app_runs(fixture_path):
    before = gc.get_threshold()
    app = GemscopeApp(RecordingSource(fixture_path))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        assert gc.get_threshold() == (before[0], before[1], BACKSTOP_GEN1)
        assert BACKSTOP_GEN1 > before[2]
    assert gc.get_threshold() == before


@asynctest
async def test_a_full_collection_runs_once_input_stops_not_during_a_burst_of_keys(fixture_path):
    clock = Clock()
    app = GemscopeApp(RecordingSource(fixture_path), clock=clock)
    with FullCollections() as full:
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(app, pilot)
            junk = [[] for _ in range(150_000)]     # ~20 younger collections: one is due
            del junk
            assert app.collector.due()
            ran, collections = full.n, app.collector.collections
            for key in ["w", "left_square_bracket", "2", "right_square_bracket", "3", "0"] * 2:
                clock.t += 0.4 * IDLE_S         # each key well within IDLE_S of the last
                await pilot.press(key)
                await pilot.pause(1.5 * CHECK_S)    # the idle timer looks at least once
            await settle(app, pilot)
            clock.t += 0.5 * IDLE_S
            await pilot.pause(2 * CHECK_S)
            assert (full.n, app.collector.collections) == (ran, collections)
            assert app.collector.due()
            clock.t += IDLE_S                   # input stopped IDLE_S ago, the screen settled
            await until(pilot, lambda: app.collector.collections > collections, steps=200)
            assert full.n == ran + 1 and app.collector.collections == collections + 1
            assert not app.collector.due()
            await pilot.pause(2 * CHECK_S)      # not due any more: no other collection
            assert full.n == ran + 1


@asynctest
async def test_while_the_screen_waits_for_data_the_idle_collection_waits_longer(fixture_path):
    clock = Clock()
    gate = threading.Event()
    gate.set()
    app = GemscopeApp(RecordingSource(fixture_path), clock=clock, first_view="contention",
                      analyses=gated(gate))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        gate.clear()                                # the next contention run hangs
        await pilot.press("w")
        await until(pilot, lambda: "computing…" in app.status_bar.text, steps=200)
        junk = [[] for _ in range(150_000)]
        del junk
        assert app.collector.due()
        collections = app.collector.collections
        clock.t += 2 * IDLE_S                       # idle, but the data asked is not shown
        await pilot.pause(2 * CHECK_S)
        assert app.collector.collections == collections
        clock.t += 5 * IDLE_S                       # a computation that never ends
        await until(pilot, lambda: app.collector.collections > collections, steps=200)
        gate.set()
        await settle(app, pilot)


def drawn_lines(view) -> int:
    """Lines the view's widgets keep drawn (Textual's styles and render caches)."""
    return sum(len(w._styles_cache._cache) + len(w._render_cache.lines)
               for w in (view, *view.query("*")))


def drawn_strips(view) -> list:
    """The lines the view's widgets keep drawn, as Strips."""
    return [strip for w in (view, *view.query("*"))
            for strip in (*w._styles_cache._cache.values(), *w._render_cache.lines)]


def memoised(strip) -> int:
    """How many derived strips `strip` keeps in its memo caches."""
    return sum(len(getattr(strip, slot)) for slot in MEMO_SLOTS)


@asynctest
async def test_after_a_view_switch_the_hidden_view_keeps_its_lines_released(fixture_path):
    app = GemscopeApp(RecordingSource(fixture_path), first_view="contention")
    async with app.run_test(size=(160, 50)) as pilot:
        for key in "42":
            await pilot.press(key)
            await settle(app, pilot)
        shown = app.export_screenshot()
        contention, finalizers = app.views["contention"], app.views["finalizers"]
        lines = drawn_strips(contention)
        assert lines and any(memoised(strip) for strip in lines)
        await pilot.press("4")
        await settle(app, pilot)
        assert drawn_strips(contention) == lines                        # kept
        assert [memoised(strip) for strip in lines] == [0] * len(lines)    # released
        assert drawn_lines(finalizers) > 0
        await pilot.press("2")
        await settle(app, pilot)
        assert app.export_screenshot() == shown


@asynctest
async def test_an_idle_collection_drops_lines_a_hidden_view_still_holds(fixture_path):
    clock = Clock()
    app = GemscopeApp(RecordingSource(fixture_path), clock=clock, first_view="contention")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await settle(app, pilot)
        contention = app.views["contention"]
        # a line drawn while the switch was on its way (two keys before the first is handled)
        contention._styles_cache._cache[0] = Strip.blank(20)
        junk = [[] for _ in range(150_000)]         # ~20 younger collections: one is due
        del junk
        collections = app.collector.collections
        clock.t += 2 * IDLE_S
        await until(pilot, lambda: app.collector.collections > collections, steps=200)
        assert drawn_lines(contention) == 0 and drawn_lines(app.views["finalizers"]) > 0


@asynctest
async def test_released_screen_lines_keep_their_text_and_are_derived_again(fixture_path):
    app = GemscopeApp(RecordingSource(fixture_path), first_view="contention")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        shown = app.export_screenshot()
        assert any(memoised(strip) for strip in drawn_strips(app.screen))
        texts = [strip.text for strip in drawn_strips(app.screen)]
        assert release_drawn(app.screen) > 0
        assert [memoised(strip) for strip in drawn_strips(app.screen)] == [0] * len(texts)
        assert [strip.text for strip in drawn_strips(app.screen)] == texts
        app.screen.refresh()
        await settle(app, pilot)
        assert any(memoised(strip) for strip in drawn_strips(app.screen))
        assert app.export_screenshot() == shown
