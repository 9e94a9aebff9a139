"""A real trace.dat recorded with `trace-cmd record -C mono` in the QEMU guest (Debian 6.12) around
the test module's workload (tests/kernel/guest_ftrace_scenario.py, phase tracecmd): the module's
drm_msm_gpu tracepoints, dma_fence signals and retire_worker kthread work, decoded in pure Python.
The module's counters for that run: 32 submits, 32 retired, 32 fences, 4 retire_worker runs,
2 msm_gem_shrink events."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracer.importers import import_file

DAT = Path(__file__).resolve().parent.parent / "data" / "guest-6.12-msm-module-v7.dat"


@pytest.fixture(scope="module")
def im():
    return import_file(str(DAT))


def first(im, kind: str) -> dict:
    c = im.mapped.kinds[kind]
    i = int(np.argmin(c["ts_ns"]))
    return {n: (v[i].item() if isinstance(v, np.ndarray) else v[i].as_py()) for n, v in c.items()}


def test_counts_equal_the_module_counters(im):
    m = im.mapped
    assert (m.count("gpu_submit"), m.count("gpu_retired"), m.count("fence_signal"),
            m.count("retire_run"), m.count("shrink_tp")) == (32, 32, 32, 4, 2)
    assert m.kinds["retire_run"]["submits_retired"].to_pylist() == [1, 1, 1, 29]
    acc = im.meta["import_accounting"]
    assert acc["balanced"] and acc["events_in"] == 158 and acc["bad"] == 0
    assert im.meta["import_clock"] == "mono"


def test_exact_first_events(im):
    assert first(im, "gpu_submit") == {
        "ts_ns": 128630150961, "cpu": 1, "tid": 315, "pid": None, "comm": "sh", "submit_id": 33,
        "ring_id": 0, "nr_bos": 2, "nr_cmds": 1, "submit_pid": 315}
    r = first(im, "gpu_retired")
    assert (r["submit_id"], r["seqno"], r["gpu_elapsed_ns"], r["start_ticks"], r["end_ticks"],
            r["comm"]) == (33, 33, 417486, 2473656875, 2473664904, "gpu-worker")
    f = first(im, "fence_signal")
    assert (f["driver"], f["timeline"], f["fence_context"], f["seqno"]) == \
        ("msm", "gpu-ring-0", 1, 33)
    rr = first(im, "retire_run")
    assert (rr["ts_ns"], rr["duration_ns"], rr["queue_delay_ns"]) == (128630527829, 302612, 171259)
    s = first(im, "shrink_tp")
    assert (s["nr_to_scan_pages"], s["purged_pages"], s["evicted_pages"]) == (128, 112, 16)
