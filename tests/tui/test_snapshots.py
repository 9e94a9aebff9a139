"""Layout snapshots (pytest-textual-snapshot): overview, contention, events, help.

Deterministic: the fixture recording is seeded, every number on screen comes from trace time
(never wall-clock time), and each snapshot is taken only once the app has settled. Update with
`pytest tests/tui/test_snapshots.py --snapshot-update` after a deliberate layout change.
"""
from __future__ import annotations

import pytest

from tests.tui.helpers import settle
from tracer.sources.recording_source import RecordingSource
from tui.app import GemscopeApp

SIZE = (140, 45)


def _app(path, view):
    return GemscopeApp(RecordingSource(path), first_view=view, clock=lambda: 0.0)


@pytest.mark.parametrize("view", ["overview", "contention", "finalizers", "events"])
def test_view_layout(snap_compare, fixture_path, view):
    app = _app(fixture_path, view)

    async def ready(pilot):
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_help_screen_layout(snap_compare, fixture_path):
    app = _app(fixture_path, "overview")

    async def ready(pilot):
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
