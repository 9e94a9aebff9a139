"""TUI test fixtures: the fixture recording, its frames and analyses (helpers: helpers.py)."""
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
