"""TUI test helpers: the fixture recording, its frames and analyses, and waiting for the app."""
from __future__ import annotations

import pytest

from tests.tui import trace_fixture
from tracer.analyses import run_all
from tracer.frames import load_frames


@pytest.fixture(scope="session")
def fixture_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    return trace_fixture.write(d / "tui-fixture.gsrec")


@pytest.fixture(scope="session")
def fixture_frames(fixture_path):
    return load_frames(fixture_path)


@pytest.fixture(scope="session")
def fixture_results(fixture_frames):
    return run_all(fixture_frames)


def _settled(app) -> int | None:
    snap = app.snapshot
    if snap is not None and app.source.done and not snap.health.loading \
            and snap.request == app.current_request() and not app._computing \
            and app.active_view.shown_seq == snap.seq:
        return snap.seq
    return None


async def settle(app, pilot, timeout_s: float = 30.0) -> None:
    """Wait until the source is read, the shown snapshot answers the current request, and it
    stayed so for 0.15 s (tables lay themselves out when the app is idle)."""
    for _ in range(int(timeout_s / 0.02)):
        seq = _settled(app)
        if seq is not None:
            for _ in range(3):
                await pilot.pause(0.05)
            if _settled(app) == seq:
                return
        await pilot.pause(0.02)
    raise AssertionError("the app did not settle")


def asynctest(func):
    """Run an async test function with asyncio.run (no pytest async plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return asyncio.run(func(*args, **kwargs))
    return wrapper
