"""Each view shows exactly the analyses' numbers for the fixture recording."""
from __future__ import annotations

import pytest
from textual.widgets import Static

from tests.tui.helpers import asynctest, settle
from tracer.sources.recording_source import RecordingSource
from tui.app import GemscopeApp
from tui.fmt import fmt_cell, fmt_value
from tui.widgets.cell_table import CellTable
from tui.widgets.plots import HistogramPlot, SeriesSpark
from tui.widgets.result_panel import ResultPanel

SIZE = (160, 50)


def headline_rows(app, table_id):
    table = app.query_one(f"#{table_id}", CellTable)
    return {key: table.row(key)[1] for key in table.keys}


def panel_matches(app, name, result, t0):
    """The panel's headline and every table cell equal the Result's, through the formatter."""
    assert headline_rows(app, f"{name}-headline") == {
        k: fmt_value(k, v) for k, v in result.headline.items()}
    panel = app.query_one(f"#panel-{name}", ResultPanel)
    assert list(panel.tables) == list(result.tables)
    for tname, df in result.tables.items():
        table = panel.tables[tname]
        assert table.row_count == min(len(df), 20)
        for i in range(table.row_count):
            want = [fmt_cell(c, df[c].iloc[i], t0) for c in df.columns]
            assert table.row_at(i) == want, (tname, i)


@pytest.mark.parametrize("view,names", [
    ("contention", ["contention"]), ("trylock", ["trylock"]), ("finalizers", ["finalizers"]),
    ("retire", ["retire"]), ("shrinker", ["shrinker", "reclaim_risks"])])
@asynctest
async def test_view_shows_the_analyses_numbers(fixture_path, fixture_frames, fixture_results,
                                               view, names):
    app = GemscopeApp(RecordingSource(fixture_path), first_view=view)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t0 = fixture_frames.time_range_ns[0]
        for name in names:
            panel_matches(app, name, fixture_results[name], t0)


@asynctest
async def test_overview_health_headlines_alerts(fixture_path, fixture_results):
    app = GemscopeApp(RecordingSource(fixture_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        want = {f"{n}.{k}": fmt_value(k, v) for n, r in fixture_results.items()
                for k, v in r.headline.items()}
        assert headline_rows(app, "overview-headline") == want
        health = headline_rows(app, "overview-health")
        assert health["events"] == "299 in the window, 299 loaded"
        assert health["lost_events"] == "3"
        assert health["rate"] == f"{299 / 1.903050:,.0f} events/s"
        assert health["probes_missing"] == "gpu_submit (tracepoint not in this kernel)"
        assert health["probes_attached"].startswith("3: drm_gem_lru_scan")
        assert health["clock"] == "not stated in the recording"
        alerts = str(app.query_one("#alerts", Static).render())
        assert "CLOCK" not in alerts
        assert "RECLAIM: 1 GEM object free(s) ran inside memory reclaim" in alerts
        assert "RETIRE: 6 fence signal(s) delayed behind finalizers" in alerts
        assert app.query_one("#synthetic", Static).display is True
        rate = app.query_one("#overview-rate", SeriesSpark)
        assert sum(rate.values) == 299


@asynctest
async def test_plots_carry_the_windowed_events(fixture_path, fixture_frames):
    app = GemscopeApp(RecordingSource(fixture_path), first_view="contention")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        hist = app.query_one("#contention-hist", HistogramPlot).data["resv_lock"]
        assert hist.total == 60 and sum(hist.counts) == 60
        assert hist.count_at(8_388_608) == 1          # the one 9 ms wait
        await pilot.press("3")
        await settle(app, pilot)
        assert sum(app.query_one("#trylock-failures", SeriesSpark).values) == 14
        await pilot.press("6")
        await settle(app, pilot)
        assert sum(app.query_one("#shrinker-freed", SeriesSpark).values) == 544
        assert sum(app.query_one("#shrinker-requested", SeriesSpark).values) == 1024
        delay = app.query_one("#shrinker-reclaim-delay", CellTable)
        assert delay.row_at(0) == ["supertuxkart", "201", "14 ms", "8"]
        await pilot.press("4")
        await settle(app, pilot)
        hists = app.query_one("#finalizers-hist", HistogramPlot).data
        assert {k: h.total for k, h in hists.items()} == {"ioctl": 5, "reclaim": 1,
                                                          "retire_worker": 6}


@pytest.mark.parametrize("clock,row,alert", [
    ("CLOCK_MONOTONIC", "CLOCK_MONOTONIC", None),
    ("ftrace:local", "timestamps are not CLOCK_MONOTONIC: the trace's 'local' clock (per-CPU "
                     "sched_clock): close to CLOCK_MONOTONIC on x86 but not it",
     "CLOCK: timestamps are not CLOCK_MONOTONIC: the trace's 'local' clock")])
@asynctest
async def test_overview_says_which_clock_the_timestamps_are_in(tmp_path, clock, row, alert):
    from tests.tui import trace_fixture
    from tracer.clocks import import_clock
    meta = {"clock": clock}
    if clock.startswith("ftrace:"):
        meta["clock"], meta["clock_note"] = import_clock(clock.split(":")[1], False)
    app = GemscopeApp(RecordingSource(trace_fixture.write(tmp_path / "c.gsrec", meta)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert headline_rows(app, "overview-health")["clock"] == row
        alerts = str(app.query_one("#alerts", Static).render())
        assert (alert in alerts) if alert else ("CLOCK" not in alerts)


TRACEFS_SAMPLE = "sample-traces/guest/tracefs-6.12.gsrec"


@pytest.mark.parametrize("view,names", [
    ("contention", ["contention"]), ("trylock", ["trylock"]), ("finalizers", ["finalizers"]),
    ("shrinker", ["shrinker", "reclaim_risks"])])
@asynctest
async def test_views_of_a_real_tracefs_recording(view, names):
    """The tracefs backend's real guest recording (unknown remaining_pages, holders and hold
    times derived after mapping) shows exactly its analyses' numbers, unknowns as unknown."""
    from tests.conftest import ROOT
    from tracer.analyses import run_all
    from tracer.frames import load_frames
    path = str(ROOT / TRACEFS_SAMPLE)
    frames = load_frames(path)
    results = run_all(frames)
    assert results["shrinker"].headline["remaining_pages"] is None
    app = GemscopeApp(RecordingSource(path), first_view=view)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for name in names:
            panel_matches(app, name, results[name], frames.time_range_ns[0])
