"""The real recordings in sample-traces/guest/ (gemscope record in the QEMU guest against the test
module) still report what the module counted when they were made (kmod-*.truth.json beside them).

Runs anywhere: it needs no guest, only the stored files. It pins the parts of the report that
already equal the ground truth; tests/kernel/test_guest.py checks everything on fresh runs.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import SAMPLES
from tracer.cli import main

GUEST = SAMPLES / "guest"
FILES = sorted(GUEST.glob("kmod-*.gsrec"))


def _report(capsys, path) -> dict:
    capsys.readouterr()
    assert main(["report", str(path), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_real_samples_exist():
    assert {p.stem for p in FILES} >= {"kmod-6.1", "kmod-6.12"}


@pytest.mark.parametrize("sample", FILES, ids=lambda p: p.stem)
def test_real_sample_matches_module_counters(sample, capsys):
    truth = json.loads((GUEST / f"{sample.stem}.truth.json").read_text())
    c = truth["counters"]
    rep = _report(capsys, sample)
    assert not rep["meta"].get("synthetic"), "a guest recording is real, never synthetic"
    assert rep["meta"]["kernel_release"] == c["kernel"]
    h = {n: a.get("headline") or {} for n, a in rep["analyses"].items()}
    f = h["finalizers"]
    assert f["frees"] == c["frees"]
    assert {k: v for k, v in f["frees_by_context"].items() if v} == \
        {k: v for k, v in c["frees_by_context"].items() if v}
    assert h["contention"]["resv_lock_calls"] == c["resv_lock_calls"]
    assert h["contention"]["contended_resv_acquisitions"] == c["resv_waits"]
    assert h["contention"]["resv_waits"] == c["resv_waits"]
    t = h["trylock"]
    assert (t["trylocks"], t["trylock_failures"]) == (c["trylocks"], c["trylock_failures"])
    assert t["failed_bytes"] == c["failed_bytes"]
    assert t["failures_by_holder"] == {c["holder_comm"]: c["trylock_failures"]}
    nz = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
    assert nz(t["failures_by_stage"]) == nz(c["failures_by_stage"])
    s = h["shrinker"]
    assert (s["scans"], s["counts"], s["requested_pages"], s["freed_pages"]) == \
        (c["scans"], c["counts"], c["requested_pages"], c["freed_pages"])
    assert nz(s["freed_pages_by_stage"]) == nz(c["freed_pages_by_stage"])
    assert s["remaining_pages"] == c["remaining_pages_kernel"]
    assert s["trylock_skipped_bytes"] == c["failed_bytes"]
    assert (s["fence_waits"], s["fence_wait_timeouts"]) == \
        (c["fence_waits"], c["fence_wait_timeouts"])
    assert h["retire"]["retire_runs"] == c["retire_runs"]
    assert h["retire"]["fences_signaled_in_retire"] == c["fences_signalled"]


def test_real_tracefs_sample_matches_module_counters(capsys):
    """The tracefs backend's recording of the same workload (no BCC: kprobe_events and
    tracepoints) reports the module's counters as test_guest_ftrace.py checks on fresh runs."""
    from tests.kernel.test_guest_ftrace import check_report
    truth = json.loads((GUEST / "tracefs-6.12.truth.json").read_text())
    rep = _report(capsys, GUEST / "tracefs-6.12.gsrec")
    assert rep["meta"]["source"] == "tracefs" and not rep["meta"].get("synthetic")
    assert rep["meta"]["kernel_release"] == truth["counters"]["kernel"]
    check_report(rep["analyses"], truth["counters"])
