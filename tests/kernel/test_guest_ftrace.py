"""Guest tier for the tracefs backend: in Debian 6.12 under QEMU, `gemscope record --backend
ftrace` records the test module's msm-named functions through kprobe_events (gemscope_<pid>
group, MOD:SYM targets) and its drm_msm_gpu tracepoints; counts equal the module's own counters,
`gemscope report` agrees with them, and nothing is left in tracefs afterwards."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import require
from tests.kernel import rig_paths
from tests.kernel.guest import ROOT, GuestError, build_module, run_guest_script
from tests.kernel.test_guest import (BUSY, HOLD, PARAMS, PROBE_SLACK_NS, _callers,
                                     _nonzero)

pytestmark = pytest.mark.guest
SCENARIO = Path(__file__).with_name("guest_ftrace_scenario.py")
SERIES = "6.12"


@pytest.fixture(scope="module")
def run():
    missing = rig_paths.rig_missing()
    require(missing is None, missing or "")
    reuse = os.environ.get("GEMSCOPE_GUEST_FTRACE_REUSE")
    base = Path(reuse) if reuse else Path(tempfile.mkdtemp(prefix="gemscope-guest-ftrace-"))
    if not reuse:
        abi = rig_paths.kernels()[SERIES]
        try:
            run_guest_script(abi, SCENARIO, ["--results", str(base), "--kmod",
                                             str(build_module(abi)), "--params",
                                             json.dumps(PARAMS), "--hold", str(HOLD),
                                             "--busy", str(BUSY)],
                             base, timeout=900)
        except GuestError as e:
            pytest.fail(str(e))
    for phase in ("sanity", "ftrace_record", "tracecmd"):
        p = base / f"{phase}.json"
        assert p.exists(), f"phase {phase} left no results"
        data = json.loads(p.read_text())
        assert data["ok"], f"{phase}: {data.get('error')}\n{data.get('traceback', '')}"
    return base, json.loads((base / "ftrace_record.json").read_text())


def test_kprobes_registered_and_removed(run):
    _, r = run
    assert "msm:msm_gem_free_object" in r["kprobe_events"]
    assert "msm:msm_gem_shrinker_scan" in r["kprobe_events"]
    assert r["record_exit"] == 0, r["record_log_tail"]
    assert not [n for n in r["instances_after"] if n.startswith("gemscope-")]
    assert "gemscope_" not in r["kprobe_events_after"]


def test_counts_match_module(run):
    from tracer.frames import load_frames
    from tracer.recording import open_recording
    base, r = run
    c = r["counters"]
    f = load_frames(str(base / "ftrace.gsrec"))
    assert len(f["free"]) == c["frees"]
    assert len(f["shrink_scan"]) == c["scans"]
    assert len(f["shrink_count"]) == c["counts"]
    assert len(f["gpu_submit"]) == c["submits"]
    assert len(f["gpu_retired"]) == c["submits_retired"]
    assert len(f["retire_run"]) == c["retire_runs"]
    tl = f["resv_trylock"]
    assert int((~tl["success"].astype(bool)).sum()) == c["trylock_failures"]
    assert int(f["shrink_scan"]["freed_pages"].fillna(0).sum()) == c["freed_pages"]
    # the active stages' waits on the busy objects (tests/kmod/gs_busy.c), through the
    # dma_resv_wait_timeout kprobe pair, its timeout in ns with the kernel's HZ
    fw = f["fence_wait"]
    assert len(fw) == c["fence_waits"] > 0
    assert int((fw["ret"] == 0).sum()) == c["fence_wait_timeouts"] > 0
    diff = c["fence_wait_total_ns"] - int(fw["duration_ns"].sum())
    assert 0 <= diff <= c["fence_waits"] * PROBE_SLACK_NS
    hz = open_recording(str(base / "ftrace.gsrec")).meta["kernel_hz"]
    assert set(fw["timeout_ns"]) == {10 * 1_000_000_000 // hz}


def _report(base: Path) -> dict:
    p = subprocess.run([str(ROOT / ".venv" / "bin" / "gemscope"), "report",
                        str(base / "ftrace.gsrec"), "--format", "json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)["analyses"]


def test_report_agrees_with_module(run):
    """The questions the BCC path answers (test_guest.py's report tests), answered from
    kprobe_events and tracepoints alone, equal to the module's counters: blocking waits (through
    ww_mutex_lock_interruptible too) by caller and task, trylock failures by caller, stage
    (from the drm_gem_lru_scan call around them), holder (the last acquisition of the lock) and
    bytes (the object's size read beside its own resv), frees by context, the shrinker's
    outcomes per stage and its fence waits; a user task's context (`ioctl`) from
    /proc/<tid>/stat; the waits' holders' hold times (ww_mutex_unlock). What kprobe_events cannot give: drm_gem_lru_scan's `remaining` is unknown
    (a kretprobe cannot read the pointer)."""
    base, r = run
    check_report(_report(base), r["counters"])


def check_report(a: dict, c: dict) -> None:
    """`gemscope report --format json`'s analyses of a tracefs recording of the module workload
    against the module's counters (also run on sample-traces/guest/tracefs-6.12.gsrec)."""
    h = {n: x.get("headline") or {} for n, x in a.items()}
    con = h["contention"]
    assert con["resv_lock_calls"] == c["resv_lock_calls"]
    assert con["resv_waits"] == c["resv_waits"] > 0
    assert _callers(con["waits_by_caller"]) == {"submit_lock_objects": c["resv_waits"]}
    assert con["waits_by_task"] == {c["waits_comm"]: c["resv_waits"]}
    # lock:contention_* on reservations (their locks are the kept calls' own resvs)
    assert con["contended_resv_acquisitions"] == c["resv_waits"]
    # each wait's holder and its hold (lock return .. ww_mutex_unlock): gs_hold.c's contender,
    # whose own hold_ns (after its lock .. before its unlock) lies inside gemscope's
    worst = a["contention"]["tables"]["worst_waits"]
    assert len(worst) == c["resv_waits"]
    assert {w["holder_comm"] for w in worst} == {c["holder_comm"]}
    assert set(_callers({w["hold_caller"]: 1 for w in worst})) == {"gs_contender_fn"}
    diff = sum(w["hold_duration_ns"] for w in worst) - c["hold_ns_total"]
    assert 0 <= diff <= c["resv_waits"] * PROBE_SLACK_NS, (diff, worst)
    assert abs(c["resv_wait_total_ns"] - con["resv_wait_total_ns"]) <= \
        c["resv_waits"] * PROBE_SLACK_NS, (c["resv_wait_total_ns"], con)
    t = h["trylock"]
    assert t["trylocks"] == c["trylocks"]
    assert t["trylock_failures"] == c["trylock_failures"] > 0
    assert _callers(t["failures_by_caller"]) == {"drm_gem_lru_scan": c["trylock_failures"]}
    assert _nonzero(t["failures_by_stage"]) == _nonzero(c["failures_by_stage"])
    assert t["failures_by_holder"] == {c["holder_comm"]: c["trylock_failures"]}
    assert t["failed_bytes"] == c["failed_bytes"]
    f = h["finalizers"]
    assert f["frees"] == c["frees"]
    # ioctl: a user task (the live source read PF_KTHREAD from /proc/<tid>/stat)
    assert _nonzero(f["frees_by_context"]) == _nonzero(c["frees_by_context"])
    assert abs(f["free_total_ns"] - c["free_total_ns"]) <= c["frees"] * PROBE_SLACK_NS
    assert f["last_puts_by_context"] == {"ioctl": c["frees_by_context"]["ioctl"],
                                         "retire_worker": c["frees_by_context"]["retire_worker"]}
    s = h["shrinker"]
    assert (s["scans"], s["counts"]) == (c["scans"], c["counts"])
    assert s["requested_pages"] == c["requested_pages"]
    assert s["freed_pages"] == c["freed_pages"]
    assert _nonzero(s["freed_pages_by_stage"]) == _nonzero(c["freed_pages_by_stage"])
    assert s["trylock_skipped_bytes"] == c["failed_bytes"]
    assert s["fence_waits"] == c["fence_waits"]
    assert s["fence_wait_timeouts"] == c["fence_wait_timeouts"]
    # their stage from the drm_gem_lru_scan call around them (no shrink_object here)
    rows = a["shrinker"]["tables"]["fence_waits_by_stage"]
    assert {r["stage"]: r["waits"] for r in rows} == {"active_purge": c["fence_waits"]}
    # *remaining cannot be read by a kretprobe: unknown, never 0
    assert s["remaining_pages"] is None
    assert h["retire"]["retire_runs"] == c["retire_runs"]


def test_guest_tracedat_imports_with_module_truth(run, tmp_path):
    """A trace.dat recorded by trace-cmd in the guest: every event accounted for, the msm
    tracepoints and retire worker runs equal the module's counters, and its trace-cmd report
    text imports to the same events."""
    import shutil
    from tests.ftrace_capture import canonical, event_lines
    from tracer.importers import import_file
    base, _ = run
    c = json.loads((base / "tracecmd.json").read_text())["counters"]
    dat = base / "guest.dat"
    im = import_file(str(dat))
    acc = im.meta["import_accounting"]
    assert acc["balanced"] and acc["bad"] == 0
    assert im.meta["import_clock"] == "mono"
    m = im.mapped
    assert m.count("gpu_submit") == c["submits"]
    assert m.count("gpu_retired") == c["submits_retired"]
    assert m.count("shrink_tp") == c["msm_gem_shrink_events"]
    assert m.count("retire_run") == c["retire_runs"]
    assert sum(m.kinds["retire_run"]["submits_retired"].to_pylist()) == c["submits_retired"]
    require(shutil.which("trace-cmd") is not None, "trace-cmd not installed")
    txt = tmp_path / "guest.txt"
    with open(txt, "w") as f:
        subprocess.run(["trace-cmd", "report", "-t", str(dat)], stdout=f, check=True,
                       stderr=subprocess.DEVNULL, timeout=300)
    assert acc["events_in"] == event_lines(txt)
    a, b = canonical(im), canonical(import_file(str(txt)))
    assert set(a) == set(b)
    for kind in a:
        # generic events: the text has no system name and prints fields by the print fmt
        skip = ("pid", "comm") + (("event_name", "payload") if kind == "generic" else ())
        names = [n for n in a[kind][0] if n not in skip]
        rows = lambda x: sorted((tuple(r[x[kind][0].index(n)] for n in names)  # noqa: E731
                                 for r in x[kind][1]), key=repr)
        assert rows(a) == rows(b), kind
