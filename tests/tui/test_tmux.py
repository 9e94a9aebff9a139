"""The real `gemscope replay` in a real terminal (tmux): keys in, screen text out."""
from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support import require

ROOT = Path(__file__).resolve().parents[2]
GEMSCOPE = ROOT / ".venv" / "bin" / "gemscope"


SOCKET = f"gemscope-test-{uuid.uuid4().hex[:8]}"   # a private tmux server: others' options
                                                   # (window-size...) cannot leak in


def _tmux(*args: str) -> str:
    out = subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args], capture_output=True,
                         text=True, timeout=30).stdout
    if args[0] == "send-keys":
        time.sleep(0.5)          # a person's pace: each key is handled before the next
    return out


def _wait_for(session: str, text: str, timeout_s: float = 60.0) -> str:
    screen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-t", session, "-p")
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


@pytest.fixture
def session():
    require(shutil.which("tmux") is not None, "tmux is not installed (scripts/setup.sh --test)")
    require(GEMSCOPE.exists(), "the venv has no gemscope script (scripts/setup.sh)")
    name = f"gemscope-test-{uuid.uuid4().hex[:8]}"
    yield name
    _tmux("kill-server")


def test_replay_in_tmux_shows_views_and_answers_keys(session, fixture_path, fixture_frames,
                                                     fixture_results):
    # pytest exports COLUMNS/LINES, which Textual would prefer over the real pane size
    _tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50",
          f"cd {ROOT} && env -u COLUMNS -u LINES {GEMSCOPE} replay {fixture_path}")
    _wait_for(session, "window 0.000–1.903 s of 1.903 s (whole trace)")
    screen = _wait_for(session, "contention.resv_lock_calls")
    assert "SYNTHETIC" in screen
    assert "RECLAIM: 1 GEM object free(s) ran inside memory reclaim" in screen
    head = fixture_results["contention"].headline
    line = next(ln for ln in screen.splitlines() if "contention.resv_lock_calls" in ln)
    assert line.split()[-1] == str(head["resv_lock_calls"])

    _tmux("send-keys", "-t", session, "2")
    screen = _wait_for(session, "resv_wait_max_ns")
    line = next(ln for ln in screen.splitlines() if "resv_wait_max_ns" in ln)
    assert line.split()[-2:] == ["9", "ms"]

    _tmux("send-keys", "-t", session, "w")
    screen = _wait_for(session, "(1 s)")
    assert "window 0.903–1.903 s of 1.903 s (1 s)" in screen

    _tmux("send-keys", "-t", session, "7")
    screen = _wait_for(session, "events in the window")
    _tmux("send-keys", "-t", session, "/")
    _tmux("send-keys", "-t", session, "-l", "kind:free")
    _tmux("send-keys", "-t", session, "Enter")
    screen = _wait_for(session, "— filter: kind free")
    rows = [ln for ln in screen.splitlines() if "  free  " in ln]
    assert rows and all("obj_addr=0x" in r for r in rows)

    _tmux("send-keys", "-t", session, "Enter")
    screen = _wait_for(session, "(Esc: back)")
    free = fixture_frames["free"]
    start = fixture_frames.time_range_ns[1] + 1 - 1_000_000_000     # the 1 s window
    first = int(free.loc[free["ts_ns"] >= start, "obj_addr"].iloc[0])
    assert f"GEM object {first:#x}" in screen

    _tmux("send-keys", "-t", session, "Escape")
    _tmux("send-keys", "-t", session, "?")
    _wait_for(session, "gemscope — keys")
    _tmux("send-keys", "-t", session, "Escape")
    _tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and session in _tmux("ls"):
        time.sleep(0.2)
    assert session not in _tmux("ls"), "q did not quit the app"   # the session ends with it
