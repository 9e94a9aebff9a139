"""Run INSIDE the QEMU guest (by test_guest_late_module.py): the msm test module loads AFTER
`gemscope record` started; gemscope must notice (it polls /sys/module each second), build and
attach a program for the new symbols, and then record the workload exactly.

Writes late.json (timings, the module's counters, the record log tail) into the results dir.
"""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.kernel import guest_scenario as gs  # noqa: E402

KPROBES_LIST = Path("/sys/kernel/debug/kprobes/list")


def main() -> int:
    res, kmod = Path(sys.argv[1]), sys.argv[2]
    gemscope = str(Path(sys.executable).parent / "gemscope")
    out: dict = {}
    subprocess.run("modprobe vgem", shell=True, check=False)   # drm only; no msm yet
    rec, logp = res / "late.gsrec", res / "late.log"
    log = open(logp, "w")
    p = subprocess.Popen([gemscope, "record", "-o", str(rec)], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        t0 = time.monotonic()
        while "recording to" not in logp.read_text():
            if p.poll() is not None or time.monotonic() - t0 > 600:
                raise RuntimeError(f"record did not start: {logp.read_text()[-1500:]}")
            time.sleep(1)
        out["started_s"] = time.monotonic() - t0
        subprocess.run(["insmod", kmod], check=True)
        t1 = time.monotonic()
        while "msm_gem_free_object" not in (KPROBES_LIST.read_text()
                                            if KPROBES_LIST.exists() else ""):
            if p.poll() is not None or time.monotonic() - t1 > 600:
                raise RuntimeError(f"no re-attach: {logp.read_text()[-1500:]}")
            time.sleep(1)
        out["reattach_s"] = time.monotonic() - t1
        time.sleep(2)   # the new program is enabled right after its kprobes attach
        gs.ctl("reset")
        gs.workload(4)
        out["counters"] = gs.counters()
        time.sleep(2)   # drain
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        p.wait(timeout=120)
        log.close()
    out["record_exit"] = p.returncode
    out["log"] = logp.read_text()[-3000:]
    (res / "late.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
