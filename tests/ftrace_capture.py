"""Record a real trace.dat on this host: events enabled by hand in a tracefs instance, then
`trace-cmd extract` (trace-cmd record fails on the test host; extract works, see test-rig.md).

Used by tests/data/make_ftrace_fixtures.py (the committed fixtures) and by the kernel-tier tests
that regenerate one live. The instance is named gemscope-fixture-<pid> and always removed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

TRACEFS = "/sys/kernel/tracing"
EVENTS = ("lock/contention_begin", "lock/contention_end", "vmscan/mm_shrink_slab_start",
          "vmscan/mm_shrink_slab_end", "vmscan/mm_vmscan_direct_reclaim_begin",
          "vmscan/mm_vmscan_direct_reclaim_end", "dma_fence", "sched/sched_kthread_work_queue_work",
          "sched/sched_kthread_work_execute_start", "sched/sched_kthread_work_execute_end")


def can_capture() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "needs root"
    if not os.path.isdir(f"{TRACEFS}/instances"):
        return False, f"no {TRACEFS}/instances"
    if not shutil.which("trace-cmd"):
        return False, "trace-cmd is not installed (scripts/setup.sh --test installs it)"
    return True, ""


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def workload(seconds: float = 0.6, tmpdir: str = "/tmp") -> None:
    """Page-cache churn + drop_caches (shrink_slab), and threads hammering one file (locks)."""
    stop = time.monotonic() + seconds
    path = os.path.join(tmpdir, f"gemscope-fixture-{os.getpid()}.bin")

    def writer(i):
        with open(f"{path}.{i}", "wb") as f:
            while time.monotonic() < stop:
                f.write(b"\0" * (1 << 20))
                f.flush()
                os.fsync(f.fileno())
                f.seek(0)
    ts = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for i in range(3):
        os.unlink(f"{path}.{i}")
    _write("/proc/sys/vm/drop_caches", "2")


def capture_tracedat(out: str, seconds: float = 0.6, clock: str = "mono",
                     buffer_kb: int = 64, stacks: bool = False) -> str:
    name = f"gemscope-fixture-{os.getpid()}"
    inst = f"{TRACEFS}/instances/{name}"
    os.mkdir(inst)
    try:
        _write(f"{inst}/buffer_size_kb", str(buffer_kb))
        _write(f"{inst}/trace_clock", clock)
        for e in EVENTS:
            if os.path.exists(f"{inst}/events/{e}/enable"):
                _write(f"{inst}/events/{e}/enable", "1")
        if stacks:
            _write(f"{inst}/events/lock/contention_begin/trigger", "stacktrace")
        _write(f"{inst}/tracing_on", "1")
        workload(seconds, os.path.dirname(os.path.abspath(out)))
        _write(f"{inst}/tracing_on", "0")
        subprocess.run(["trace-cmd", "extract", "-B", name, "-o", out], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    finally:
        if os.path.isdir(inst):
            os.rmdir(inst)
    return out


def report_text(dat: str, out: str) -> str:
    """`trace-cmd report -t` (full ns timestamps) of a trace.dat."""
    with open(out, "w") as f:
        subprocess.run(["trace-cmd", "report", "-t", dat], check=True, stdout=f,
                       stderr=subprocess.DEVNULL, timeout=300)
    return out


def event_lines(text_path) -> int:
    """Event lines of a `trace-cmd report` text (what trace-cmd itself decoded)."""
    from pathlib import Path
    return sum(1 for line in Path(text_path).read_text().splitlines()
               if "]" in line and ": " in line)


def canonical(imported) -> dict:
    """Every mapped event as sorted tuples of its columns (order-free comparison)."""
    out = {}
    for kind, cols in imported.mapped.kinds.items():
        names = sorted(cols)
        vals = [cols[n].tolist() if hasattr(cols[n], "tolist") else cols[n].to_pylist()
                for n in names]
        out[kind] = (names, sorted(zip(*vals), key=repr))
    return out
