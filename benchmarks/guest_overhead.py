"""Tracing overhead in the QEMU guest: the test module's workload with no tracing, under
`gemscope record`, and under bcc's funclatency on the same kernel functions, in ONE guest boot.

    .venv/bin/python benchmarks/guest_overhead.py [--kernel 6.12] [--submits 2000 8000]

Prints, per workload size: submits/s for each mode and the slowdown against no tracing; for
gemscope also the events it decoded per second of workload and the events the kernel dropped
(lost), the last size being the highest rate tried. TCG makes every figure slower than real
hardware; the RATIOS are what this measures. Needs tests/kernel/rig/setup.sh.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CTL = Path("/sys/kernel/debug/gemscope_kmod/ctl")
COUNTERS = Path("/sys/kernel/debug/gemscope_kmod/counters")
# What gemscope's plan attaches kprobes to on this workload's path (no shrinker in this run, and
# `purge`/`evict` are ambiguous names funclatency cannot qualify): funclatency gets the same list.
FUNCS = ("ww_mutex_lock", "ww_mutex_lock_interruptible", "ww_mutex_trylock", "ww_mutex_unlock",
         "dma_resv_init", "dma_resv_fini", "drm_gem_object_free", "msm_gem_free_object",
         "msm_submit_retire", "msm_gpu_retire")
# Throughput knobs: no designed contention or slow frees; every submit frees one BO in the worker.
PARAMS = dict(nobjs=64, obj_pages=1, contention=0, free_delay_us=0, gpu_us=50, shrinker_frees=0,
              ioctl_frees=0, transient=1)


# ------------------------------------------------------------------ guest side
def _ctl(cmd: str) -> None:
    with open(CTL, "w") as f:
        f.write(cmd)


def _workload(nsubmits: int) -> tuple[float, int, int]:
    """One run of `nsubmits`; returns (seconds, t0_ns, t1_ns) on CLOCK_MONOTONIC."""
    Path("/sys/module/msm/parameters/nsubmits").write_text(str(nsubmits))
    _ctl("reset")
    t0 = time.monotonic_ns()
    _ctl("run")
    t1 = time.monotonic_ns()
    _ctl("close_all")
    c = json.loads(COUNTERS.read_text())
    assert c["submits_retired"] == nsubmits, c
    return (t1 - t0) / 1e9, t0, t1


def _start_bg(cmd: list[str], log: Path, ready, timeout: float = 600):
    f = open(log, "w")
    # unbuffered: funclatency prints its "Tracing ..." line to stdout, block-buffered into a file
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
    t0 = time.monotonic()
    while not ready(log.read_text()):
        if p.poll() is not None or time.monotonic() - t0 > timeout:
            p.kill()
            raise RuntimeError(f"{cmd[0]} did not start: {log.read_text()[-1500:]}")
        time.sleep(0.5)
    time.sleep(2)
    return p, f


def _stop(p, f) -> None:
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    f.close()


def _events_in(path: Path, t0: int, t1: int) -> int:
    from tracer.recording import open_recording
    n = 0
    for b in open_recording(str(path)).iter_batches():
        ts = b.column(b.schema.get_field_index("ts_ns")).to_numpy(zero_copy_only=False)
        n += int(((ts >= t0) & (ts <= t1)).sum())
    return n


def guest(a) -> None:
    out = Path(a.results)
    subprocess.run("modprobe drm", shell=True, check=True)
    params = " ".join(f"{k}={v}" for k, v in PARAMS.items())
    subprocess.run(f"insmod {a.kmod} {params}", shell=True, check=True)
    gemscope = str(Path(sys.executable).parent / "gemscope")
    res = {"kernel": os.uname().release, "sizes": a.submits, "modes": {}}
    _workload(200)  # warm-up: page cache, slab caches
    res["modes"]["none"] = [_workload(n)[0] for n in a.submits]
    # gemscope: one recording per size, so lost events belong to one rate
    g = []
    for n in a.submits:
        rec = out / f"bench-{n}.gsrec"
        p, f = _start_bg([gemscope, "record", "-o", str(rec)], out / f"record-{n}.log",
                         lambda s: "recording to" in s)
        secs, t0, t1 = _workload(n)
        time.sleep(2)
        _stop(p, f)
        log = (out / f"record-{n}.log").read_text()
        lost = re.search(r"^  lost\s+(\d+)", log, re.M)  # the summary line, not the `lost` kind
        g.append({"seconds": secs, "events_in_window": _events_in(rec, t0, t1),
                  "lost": int(lost.group(1)) if lost else None, "log_tail": log[-1200:]})
        rec.unlink()
    res["modes"]["gemscope"] = g
    (out / "bench.json").write_text(json.dumps(res, indent=1))  # partial results survive
    regex = "^(" + "|".join(FUNCS) + ")$"
    try:
        p, f = _start_bg(["funclatency-bpfcc", "-r", regex], out / "funclatency.log",
                         lambda s: "Tracing" in s)
        res["modes"]["funclatency"] = [_workload(n)[0] for n in a.submits]
        _stop(p, f)
    except RuntimeError as e:
        res["funclatency_error"] = str(e)[-1500:]
    res["funclatency_log_tail"] = (out / "funclatency.log").read_text()[-1500:]
    (out / "bench.json").write_text(json.dumps(res, indent=1))


# ------------------------------------------------------------------ host side
def host(a) -> int:
    from tests.kernel import rig_paths
    from tests.kernel.guest import build_module, run_guest_script

    secs = "?"
    if a.from_results:  # reprint an earlier run
        results = Path(a.from_results)
        return _print(results, secs)
    abi = rig_paths.kernels()[a.kernel]
    kmod = build_module(abi)
    results = Path(tempfile.mkdtemp(prefix="gemscope-bench-"))
    args = ["--inner", "--results", str(results), "--kmod", str(kmod),
            "--submits", *map(str, a.submits)]
    try:
        run = run_guest_script(abi, Path(__file__).resolve(), args, results, timeout=2400)
        secs = f"{run.seconds:.0f}"
    except Exception as e:  # noqa: BLE001 - print what was measured before the failure
        print(f"guest run failed: {str(e)[-2000:]}")
        secs = "?"
    return _print(results, secs)


def _print(results: Path, secs: str) -> int:
    if not (results / "bench.json").exists():
        return 1
    r = json.loads((results / "bench.json").read_text())
    if "funclatency_error" in r:
        print(f"funclatency failed: {r['funclatency_error'][-500:]}")
    print(f"guest overhead, kernel {r['kernel']} (QEMU TCG, 2 vCPUs), guest boot+run {secs} s")
    print(f"{'submits':>8} {'none/s':>9} {'gemscope/s':>11} {'slowdown':>9} {'funclat/s':>10} "
          f"{'slowdown':>9} {'gs events/s':>12} {'gs lost':>8}")
    for i, n in enumerate(r["sizes"]):
        base = n / r["modes"]["none"][i]
        g = r["modes"]["gemscope"][i]
        m = re.search(r"^  lost\s+(\d+)", (results / f"record-{n}.log").read_text(), re.M)
        g["lost"] = int(m.group(1)) if m else None
        gs = n / g["seconds"]
        fl = n / r["modes"]["funclatency"][i] if "funclatency" in r["modes"] else float("nan")
        print(f"{n:>8} {base:>9.0f} {gs:>11.0f} {base / gs:>8.2f}x {fl:>10.0f} {base / fl:>8.2f}x "
              f"{g['events_in_window'] / g['seconds']:>12.0f} {g['lost']!s:>8}")
    print("gs events/s: events gemscope decoded with timestamps inside the workload window, per "
          "second of workload; gs lost: events the kernel dropped (ring buffer full)")
    print(f"(results and logs: {results})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default="6.12", choices=("6.1", "6.12"))
    ap.add_argument("--submits", type=int, nargs="+", default=[2000, 8000])
    ap.add_argument("--from-results", metavar="DIR", help="reprint the table of an earlier run")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--results", help=argparse.SUPPRESS)
    ap.add_argument("--kmod", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        guest(a)
        return 0
    return host(a)


if __name__ == "__main__":
    sys.exit(main())
