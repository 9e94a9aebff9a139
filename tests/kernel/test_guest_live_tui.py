"""Guest tier (6.12): the real `gemscope live` TUI, in tmux, on the ground-truth module.

tests/kernel/guest_live_tui.py drives the app key by key inside the guest and saves what each view
showed once the module's workload ran. Here: every view's headline numbers equal the module's
own counters, `q` quits with status 0, the recording written during the session holds the same
counts, and no kprobe is left behind.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.kernel import rig_paths
from tests.kernel.guest import GuestError, build_module, run_guest_script
from tests.kernel.guest_live_tui import VIEWS, headline_rows
from tests.kernel.test_guest import HOLD, PARAMS

pytestmark = pytest.mark.guest
SCRIPT = Path(__file__).with_name("guest_live_tui.py")


@pytest.fixture(scope="module")
def live():
    abi = rig_paths.guest_abi("6.12")
    res = Path(tempfile.mkdtemp(prefix="gs-live-tui-", dir="/tmp"))
    try:
        run_guest_script(abi, SCRIPT, [str(res), str(build_module(abi)), json.dumps(PARAMS),
                                       str(HOLD)], res, timeout=1400)
    except GuestError as e:
        pytest.fail(str(e)[-3000:])
    out = json.loads((res / "live.json").read_text())
    if "error" in out:
        pytest.fail(f"{out['error']} (exit {out.get('exit')}); the pane showed:\n{out.get('first_screen')}")
    out["dir"] = res
    return out


def test_headline_row_parser():
    screen = ("  headline                  value\n"
              "  frees                     100\n"
              "  frees_by_context          ioctl: 66, retire_worker: 32\n"
              "  context        frees  total_ns\n"
              "  frees  7\n")
    assert headline_rows(screen) == {"headline": "value", "frees": "100",
                                     "frees_by_context": "ioctl: 66, retire_worker: 32",
                                     "context": "frees  total_ns"}


@pytest.mark.parametrize("view_key", sorted(VIEWS))
def test_live_view_shows_the_module_counters(live, view_key):
    view, want = VIEWS[view_key]
    assert live["attached_before_workload"], live["first_screen"]
    screen = live["views"][view]["screen"]
    rows = headline_rows(screen)
    c = live["counters"]
    assert {h: rows.get(h) for h in want} == {h: str(c[f]) for h, f in want.items()}, screen
    assert "gemscope live" in screen


def test_live_quits_cleanly_and_leaves_a_recording_and_no_probes(live):
    assert live["exit"] == "0", live["last_screen"]
    assert live["kprobes_left"] == []
    from tracer.frames import load_frames
    from tracer.recording import open_recording
    rec = live["dir"] / "live.gsrec"
    with open_recording(rec) as r:
        assert r.closed_cleanly
    f = load_frames(str(rec))
    c = live["counters"]
    assert len(f["free"]) == c["frees"]
    assert int((~f["resv_trylock"]["success"].astype(bool)).sum()) == c["trylock_failures"]
    assert len(f["shrink_scan"]) == c["scans"]
