"""One guest boot for the tracefs backend (run INSIDE the QEMU guest as root): load the test
module (guest_scenario.phase_sanity), start `gemscope record --backend ftrace`, wait until its
kprobe_events are registered, run the module workload, stop with SIGINT, and leave the module's
counters, the record log and what tracefs looked like afterwards in --results."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.kernel.guest_scenario import CTL, counters, ctl, phase_sanity, workload  # noqa: E402
from tests.kernel.workloads import stop_recorder  # noqa: E402

TRACING = Path("/sys/kernel/tracing")


def _wait_kprobes(proc, log: Path, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"gemscope record exited early ({proc.returncode}): "
                               f"{log.read_text()[-1500:]}")
        events = (TRACING / "kprobe_events").read_text()
        if "recording to" in log.read_text() and f"gemscope_{proc.pid}/free " in events:
            return time.monotonic() - t0
        if time.monotonic() - t0 > 30 and not hasattr(proc, "_gs_dumped"):
            proc._gs_dumped = True   # where is a slow start spending its time?
            subprocess.run(["sh", "-c", f"cat /proc/{proc.pid}/stack /proc/{proc.pid}/wchan "
                                        f"> {log}.stack 2>&1"], check=False)
        time.sleep(0.2)
    raise RuntimeError(f"gemscope record --backend ftrace did not attach within {timeout:.0f} s")


def phase_record(a, out: dict) -> None:
    rec = Path(a.results) / "ftrace.gsrec"
    logpath = Path(a.results) / "record.log"
    log = open(logpath, "w")
    cmd = [a.gemscope, "record", "--backend", "ftrace", "-o", str(rec)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        out["attach_s"] = _wait_kprobes(proc, logpath, a.attach_timeout)
        out["kprobe_events"] = (TRACING / "kprobe_events").read_text()
        time.sleep(1)
        ctl("reset")
        out["timings"] = workload(a.hold, a.busy)
        out["counters"] = counters()
        time.sleep(2)
    finally:
        out["record_log_tail"] = stop_recorder(proc, log, logpath)
    out["record_exit"] = proc.returncode
    out["instances_after"] = sorted(os.listdir(TRACING / "instances"))
    out["kprobe_events_after"] = (TRACING / "kprobe_events").read_text()


TRACECMD_EVENTS = ("drm_msm_gpu", "lock:contention_begin", "lock:contention_end", "vmscan",
                   "dma_fence:dma_fence_signaled", "sched:sched_kthread_work_queue_work",
                   "sched:sched_kthread_work_execute_start",
                   "sched:sched_kthread_work_execute_end")


def phase_tracecmd(a, out: dict) -> None:
    """`trace-cmd record` (works in the guest, unlike on the host) around the same workload: a
    real trace.dat with the module's msm tracepoints for the importer."""
    dat = Path(a.results) / "guest.dat"
    ctl("reset")
    script = (f"echo run > {CTL}; echo hold {a.hold} > {CTL}; echo 2 > /proc/sys/vm/drop_caches; "
              f"echo release > {CTL}; echo close_all > {CTL}")
    cmd = ["trace-cmd", "record", "-q", "-C", "mono", "-o", str(dat)]
    for e in TRACECMD_EVENTS:
        cmd += ["-e", e]
    p = subprocess.run(cmd + ["sh", "-c", script], capture_output=True, text=True, timeout=600)
    out["returncode"], out["stderr"] = p.returncode, p.stderr[-2000:]
    if p.returncode != 0:
        raise RuntimeError(f"trace-cmd record failed: {p.stderr[-800:]}")
    out["counters"] = counters()
    out["bytes"] = dat.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--kmod", required=True)
    ap.add_argument("--params", default="{}")
    ap.add_argument("--hold", type=int, default=4)
    ap.add_argument("--busy", type=int, default=4)
    ap.add_argument("--gemscope", default=str(Path(sys.executable).parent / "gemscope"))
    ap.add_argument("--attach-timeout", type=float, default=400)  # TCG on a busy host is slow
    a = ap.parse_args()
    res = Path(a.results)
    res.mkdir(parents=True, exist_ok=True)
    for name, phase in (("sanity", phase_sanity), ("ftrace_record", phase_record),
                        ("tracecmd", phase_tracecmd)):
        out: dict = {"phase": name}
        try:
            phase(a, out)
            out["ok"] = True
        except Exception as e:  # noqa: BLE001 - reported in the JSON
            out["ok"], out["error"] = False, f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc()
        (res / f"{name}.json").write_text(json.dumps(out, indent=1))
        print(f"GS_PHASE {name} ok={out['ok']}", flush=True)
        if not out["ok"]:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
