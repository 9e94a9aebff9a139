"""RecordingSource, and errors that become notices while the app keeps working."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.tui.helpers import asynctest, settle
from tracer.analyses import ALL
from tracer.analyses.base import Analysis
from tracer.errors import RecordingError
from tracer.frames import load_frames
from tracer.sources.recording_source import RecordingSource
from tui.app import GemscopeApp
from tui.widgets.cell_table import CellTable

ROOT = Path(__file__).resolve().parents[2]


def truncated_copy(src: str, dst: Path) -> Path:
    """The fixture cut in the middle of its last batches (as a crashed disk would leave it)."""
    data = Path(src).read_bytes()
    dst.write_bytes(data[: int(len(data) * 0.8)])
    return dst


def test_source_reads_everything_and_declares_replay_capabilities(fixture_path):
    src = RecordingSource(fixture_path)
    caps = src.capabilities
    assert (caps.is_live, caps.can_pause, caps.can_seek) == (False, True, True)
    assert not src.done
    src.start()
    assert src.wait(10)
    assert src.events_loaded == 299 + 2          # + the two stack records
    assert src.notices() == []
    assert len(src.snapshot()["free"]) == 12
    assert src.snapshot() is src.snapshot()      # unchanged buffer: the same frozen frames


def test_truncated_file_is_a_notice_and_keeps_complete_batches(fixture_path, tmp_path):
    src = RecordingSource(truncated_copy(fixture_path, tmp_path / "cut.gsrec"))
    src.start()
    assert src.wait(10)
    [notice] = src.notices()
    assert "cut.gsrec is truncated" in notice
    assert src.snapshot().truncated
    assert 0 < src.events_loaded < 301


def test_bad_files_fail_at_once_with_one_line(tmp_path):
    with pytest.raises(RecordingError, match="no such file"):
        RecordingSource(tmp_path / "missing.gsrec")
    junk = tmp_path / "junk.gsrec"
    junk.write_bytes(b"not arrow at all" * 10)
    with pytest.raises(RecordingError, match="not a gemscope recording"):
        RecordingSource(junk)


def test_replay_command_on_a_bad_file_prints_one_line(tmp_path):
    junk = tmp_path / "junk.gsrec"
    junk.write_bytes(b"\x00" * 64)
    r = subprocess.run([sys.executable, "-m", "tui.entry", "replay", str(junk)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("gemscope: error: ")


def test_live_on_a_machine_that_cannot_trace_is_one_line():
    """`gemscope live` starts tracer's live source before the app opens: a machine without
    root / BCC / kernel headers gets one actionable line and exit status 2."""
    try:
        r = subprocess.run([sys.executable, "-m", "tui.entry", "live", "--backend", "bcc",
                            "-o", "/dev/null"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip("this machine can trace live: the error path does not apply")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("gemscope: error: ")


@asynctest
async def test_app_notices_truncation_and_shows_what_it_has(fixture_path, tmp_path):
    cut = truncated_copy(fixture_path, tmp_path / "cut.gsrec")
    expect = load_frames(cut)
    n = sum(len(df) for k, df in expect.by_kind.items() if k not in ("stack", "probe_status"))
    assert expect.truncated and 0 < n < 299
    app = GemscopeApp(RecordingSource(cut))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.pause(0.3)
        assert any("cut.gsrec is truncated" in n.message for n in app._notifications)
        health = app.query_one("#overview-health", CellTable)
        assert health.row("truncated")[1] == "yes: the end of the trace is missing"
        assert health.row("events")[1] == f"{n:,} in the window, {n:,} loaded"


def _explode(frames):
    raise ValueError("boom in the analysis")


@asynctest
async def test_a_failing_analysis_is_a_notice_and_the_others_still_show(fixture_path,
                                                                       fixture_results):
    bad = Analysis("contention", "Contention", ("resv_lock",), _explode)
    analyses = [bad] + [a for a in ALL if a.name != "contention"]
    app = GemscopeApp(RecordingSource(fixture_path), analyses=analyses)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.pause(0.1)
        assert any("analysis contention failed: ValueError: boom in the analysis" in n.message
                   for n in app._notifications)
        head = app.query_one("#overview-headline", CellTable)
        assert head.row("trylock.trylock_failures")[1] == str(
            fixture_results["trylock"].headline["trylock_failures"])
        await pilot.press("2")
        await settle(app, pilot)
        assert "analysis failed: ValueError" in str(app.query_one("#contention-notes").render())


def test_tracer_does_not_import_textual():
    code = ("import sys, tracer, tracer.analyses, tracer.sources.recording_source, "
            "tracer.event_index; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('textual', 'tui')]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


class _StopRunsItsOwnLoop(RecordingSource):
    """A source whose stop() runs an asyncio loop of its own, as the live source's taskstats
    close does (pyroute2's netlink socket); found by the guest's `gemscope live` test."""
    stopped_with = None

    def stop(self):
        import asyncio
        self.stopped_with = asyncio.run(asyncio.sleep(0, result="its own loop ran"))
        super().stop()


@asynctest
async def test_quitting_stops_the_source_outside_textuals_event_loop(fixture_path):
    src = _StopRunsItsOwnLoop(fixture_path)
    app = GemscopeApp(src)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
    assert src.stopped_with == "its own loop ran"
