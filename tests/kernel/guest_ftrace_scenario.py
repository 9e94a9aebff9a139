"""One guest boot for the tracefs backend (run INSIDE the QEMU guest as root): load the test
module (guest_scenario.phase_sanity), start `gemscope record --backend ftrace`, wait until its
kprobe_events are registered, run the module workload, stop with SIGINT, and leave the module's
counters, the record log and what tracefs looked like afterwards in --results."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.kernel.guest_scenario import counters, ctl, phase_sanity, workload  # noqa: E402

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
        out["timings"] = workload(a.hold)
        out["counters"] = counters()
        time.sleep(2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    out["record_exit"] = proc.returncode
    out["record_log_tail"] = logpath.read_text()[-3000:]
    out["instances_after"] = sorted(os.listdir(TRACING / "instances"))
    out["kprobe_events_after"] = (TRACING / "kprobe_events").read_text()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--kmod", required=True)
    ap.add_argument("--params", default="{}")
    ap.add_argument("--hold", type=int, default=4)
    ap.add_argument("--gemscope", default=str(Path(sys.executable).parent / "gemscope"))
    ap.add_argument("--attach-timeout", type=float, default=120)
    a = ap.parse_args()
    res = Path(a.results)
    res.mkdir(parents=True, exist_ok=True)
    for name, phase in (("sanity", phase_sanity), ("ftrace_record", phase_record)):
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
