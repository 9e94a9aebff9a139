"""Guest tier (6.12): a module that loads after `gemscope record` started gets probed.

The msm test module is inserted only once gemscope records; gemscope must see it (it polls
/sys/module every second), compile a program for its symbols, swap it in, and then record the
module's workload with the same counts the module itself counted.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.kernel import rig_paths
from tests.kernel.guest import GuestError, build_module, run_guest_script

pytestmark = pytest.mark.guest
SCRIPT = Path(__file__).with_name("guest_late_module.py")


def test_module_loaded_after_start_is_recorded_exactly():
    abi = rig_paths.guest_abi("6.12")
    res = Path(tempfile.mkdtemp(prefix="gs-late-", dir="/tmp"))
    try:
        run_guest_script(abi, SCRIPT, [str(res), str(build_module(abi))], res, timeout=1400)
    except GuestError as e:
        pytest.fail(str(e)[-3000:])
    out = json.loads((res / "late.json").read_text())
    assert out["record_exit"] == 0, out["log"]
    assert "modules changed (drm, msm): probes re-attached" in out["log"]
    c = out["counters"]
    from tracer.recording import open_recording
    from tracer.frames import load_frames
    with open_recording(res / "late.gsrec") as rec:
        assert rec.closed_cleanly
    f = load_frames(str(res / "late.gsrec"))
    assert len(f["resv_lock"]) == c["resv_lock_calls"]
    assert len(f["lock_contention"]) == c["resv_waits"]
    tr = f["resv_trylock"]
    assert len(tr) == c["trylocks"]
    assert int((~tr["success"].astype(bool)).sum()) == c["trylock_failures"]
    assert len(f["free"]) == c["frees"]
    assert f["free"]["context"].astype(str).value_counts().to_dict() == \
        {k: v for k, v in c["frees_by_context"].items() if v}
    assert len(f["shrink_scan"]) == c["scans"] and len(f["shrink_count"]) == c["counts"]
    assert len(f["retire_run"]) == c["retire_runs"]
    assert len(f["gpu_submit"]) == c["submits"]
