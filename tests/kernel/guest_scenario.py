"""What one guest boot does (run INSIDE the QEMU guest by tests/kernel/guest.py, as root).

Phases, each writing JSON into --results so that the host-side tests only read files:
  sanity    uname, modprobe vgem (is DRM alive in this kernel?), modprobe drm, insmod the module
  raw       tracefs kprobe_events on the module's msm-named functions + the drm_msm_gpu
            tracepoints, the workload, then hit counts vs the module's own counters
            (proves the rig without gemscope)
  record    `gemscope record` in the background; once its kprobes are registered, the same
            workload; the module's counters saved for comparison with `gemscope report`
The workload: reset counters; `run` (submits with contention rounds, frees in the retire worker
and process context); `hold N` + `busy M` + `echo 2 > drop_caches` (shrinker with trylock
failures, frees from the shrinker, and the active stages' fence waits on busy objects: half of
them signalled during the wait, half timing out) + `idle` + `release`; `close_all`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from tests.kernel.workloads import stop_recorder

CTL = Path("/sys/kernel/debug/gemscope_kmod/ctl")
COUNTERS = Path("/sys/kernel/debug/gemscope_kmod/counters")
TRACING = Path("/sys/kernel/tracing")
KPROBES_LIST = Path("/sys/kernel/debug/kprobes/list")
# raw probe name -> (p|r, MOD:SYM, the module counter its hit count must equal). The kretprobes
# check that the kernel accepts MOD:SYM return probes on module functions (gemscope needs them).
RAW_KPROBES = {
    "free": ("p", "msm:msm_gem_free_object", "frees"),
    "free_ret": ("r", "msm:msm_gem_free_object", "frees"),
    "scan": ("p", "msm:msm_gem_shrinker_scan", "scans"),
    "scan_ret": ("r", "msm:msm_gem_shrinker_scan", "scans"),
    "count": ("p", "msm:msm_gem_shrinker_count", "counts"),
    "retire": ("p", "msm:retire_worker", "retire_runs"),
    "submit_retire": ("p", "msm:msm_submit_retire", "submits_retired"),
    "gpu_retire": ("p", "msm:msm_gpu_retire", "gpu_irqs"),
}
TRACEPOINTS = {"msm_gpu_submit": "submits", "msm_gpu_submit_retired": "submits_retired",
               "msm_gem_shrink": "msm_gem_shrink_events"}


def sh(cmd: str, check: bool = True, timeout: float = 120) -> str:
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    return p.stdout


def ctl(cmd: str) -> None:
    with open(CTL, "w") as f:
        f.write(cmd)


def counters() -> dict:
    return json.loads(COUNTERS.read_text())


def workload(hold: int, busy: int = 0) -> dict:
    """The module workload; returns the wall-clock seconds of each step."""
    t = {}
    t0 = time.monotonic()
    ctl("run")
    t["run_s"] = time.monotonic() - t0
    ctl(f"hold {hold}")
    if busy:
        ctl(f"busy {busy}")
    t1 = time.monotonic()
    Path("/proc/sys/vm/drop_caches").write_text("2")
    t["drop_caches_s"] = time.monotonic() - t1
    if busy:
        ctl("idle")
    ctl("release")
    ctl("close_all")
    return t


def phase_sanity(a, out: dict) -> None:
    out["uname"] = os.uname().release
    for d, fs in (("/sys/kernel/debug", "debugfs"), ("/sys/kernel/tracing", "tracefs")):
        if not os.path.ismount(d):
            sh(f"mount -t {fs} {fs} {d}", check=False)
    sh("modprobe vgem")
    out["vgem"] = os.path.isdir("/sys/module/vgem") and any(Path("/dev/dri").glob("card*"))
    sh("modprobe drm")
    params = " ".join(f"{k}={v}" for k, v in json.loads(a.params).items())
    sh(f"insmod {a.kmod} {params}")
    out["module_loaded"] = CTL.exists()
    out["module_params"] = {p.name: p.read_text().strip()
                            for p in Path("/sys/module/msm/parameters").iterdir()}


def phase_raw(a, out: dict) -> None:
    ev = TRACING / "kprobe_events"
    defs = [f"{t}:gsraw/{n} {sym}" for n, (t, sym, _) in RAW_KPROBES.items()]
    out["rejected"] = {}
    for d in defs:  # one write per definition: a bad one names itself
        try:
            fd = os.open(ev, os.O_WRONLY | os.O_APPEND)  # not open("a"): tracefs refuses its lseek
            try:
                os.write(fd, (d + "\n").encode())
            finally:
                os.close(fd)
        except OSError as e:
            err = (TRACING / "error_log").read_text()[-600:] if (TRACING / "error_log").exists() else ""
            out["rejected"][d] = f"{e}; error_log: {err}"
            # does the same return probe work with the plain (unique) name?
            plain = d.replace(" msm:", " ").replace(":gsraw/", ":gsraw/plain_")
            try:
                fd = os.open(ev, os.O_WRONLY | os.O_APPEND)
                try:
                    os.write(fd, (plain + "\n").encode())
                finally:
                    os.close(fd)
                out["rejected"][d] += f"; plain-name form `{plain}` accepted"
            except OSError as e2:
                out["rejected"][d] += f"; plain-name form `{plain}` also rejected: {e2}"
    (TRACING / "trace").write_text("")
    (TRACING / "events/gsraw/enable").write_text("1")
    for tp in TRACEPOINTS:
        (TRACING / f"events/drm_msm_gpu/{tp}/enable").write_text("1")
    ctl("reset")
    out["timings"] = workload(a.hold, a.busy)
    out["counters"] = counters()
    (TRACING / "events/gsraw/enable").write_text("0")
    for tp in TRACEPOINTS:
        (TRACING / f"events/drm_msm_gpu/{tp}/enable").write_text("0")
    hits = {}
    for line in (TRACING / "kprobe_profile").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:  # "[gsraw/]NAME  HITS  MISSES"
            name = parts[0].split("/")[-1]
            if name in RAW_KPROBES or name.startswith("plain_"):
                hits[name] = int(parts[1])
    out["kprobe_hits"] = hits
    text = (TRACING / "trace").read_text()
    out["tracepoint_hits"] = {tp: text.count(f" {tp}:") for tp in TRACEPOINTS}
    out["trace_sample"] = [ln for ln in text.splitlines() if "msm_gem_shrink:" in ln][:3]
    (TRACING / "kprobe_events").write_text("")


def _wait_attached(proc, log: Path, timeout: float) -> float:
    """Seconds until `gemscope record` says it records (it prints that once probes are attached)
    and its kprobes on the module are registered (kprobes/list)."""
    t0 = time.monotonic()
    # module functions are always on kprobes (the module has no BTF); ww_mutex_* may be on
    # fentry (BPF trampolines, not in kprobes/list), attached before "recording to" is printed
    want = ("msm_gem_free_object", "msm_gem_shrinker_scan")
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"gemscope record exited early ({proc.returncode}): "
                               f"{log.read_text()[-1500:]}")
        listing = KPROBES_LIST.read_text() if KPROBES_LIST.exists() else ""
        if "recording to" in log.read_text() and all(w in listing for w in want):
            return time.monotonic() - t0
        time.sleep(0.5)
    raise RuntimeError(f"gemscope record did not attach within {timeout:.0f} s")


def phase_record(a, out: dict) -> None:
    rec = Path(a.results) / "module.gsrec"
    logpath = Path(a.results) / "record.log"
    log = open(logpath, "w")
    cmd = [a.gemscope, "record", "-d", str(a.record_seconds), "-o", str(rec)]
    out["command"] = ("GEMSCOPE_NO_FENTRY=1 " if a.no_fentry else "") + " ".join(cmd)
    env = dict(os.environ, **({"GEMSCOPE_NO_FENTRY": "1"} if a.no_fentry else {}))
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        out["attach_s"] = _wait_attached(proc, logpath, a.attach_timeout)
        time.sleep(2)  # the reader thread starts polling right after attach
        ctl("reset")
        t0 = time.monotonic()
        out["timings"] = workload(a.hold, a.busy)
        out["workload_s"] = time.monotonic() - t0
        out["counters"] = counters()
        time.sleep(2)  # let the last events drain from the ring buffer
    finally:
        out["record_log_tail"] = stop_recorder(proc, log, logpath)
    out["record_exit"] = proc.returncode
    out["recording_bytes"] = rec.stat().st_size if rec.exists() else None


def phase_vgem(a, out: dict) -> None:
    """gemscope record around the vgem workload (for a real-kernel sample of generic DRM code)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import vgem_workload

    rec = Path(a.results) / "vgem.gsrec"
    logpath = Path(a.results) / "vgem-record.log"
    log = open(logpath, "w")
    cmd = [a.gemscope, "record", "-d", str(a.record_seconds), "-o", str(rec)]
    out["command"] = " ".join(cmd)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.monotonic()
        while "recording to" not in logpath.read_text():
            if proc.poll() is not None or time.monotonic() - t0 > a.attach_timeout:
                raise RuntimeError(f"gemscope record did not start: {logpath.read_text()[-1500:]}")
            time.sleep(0.5)
        time.sleep(2)
        out["workload"] = vgem_workload.run()
        time.sleep(2)
    finally:
        out["record_log_tail"] = stop_recorder(proc, log, logpath)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--kmod", required=True)
    ap.add_argument("--phases", default="sanity,raw,record")
    ap.add_argument("--params", default="{}", help="module parameters as JSON")
    ap.add_argument("--hold", type=int, default=4)
    ap.add_argument("--busy", type=int, default=4)
    ap.add_argument("--gemscope", default=str(Path(sys.executable).parent / "gemscope"))
    ap.add_argument("--record-seconds", type=int, default=600)
    ap.add_argument("--attach-timeout", type=float, default=480)  # BCC compile: 100-250 s under TCG
    ap.add_argument("--no-fentry", action="store_true",
                    help="record with every kernel function on kprobes (GEMSCOPE_NO_FENTRY=1)")
    a = ap.parse_args()
    res = Path(a.results)
    res.mkdir(parents=True, exist_ok=True)
    ok = True
    for phase in a.phases.split(","):
        out: dict = {"phase": phase}
        t0 = time.monotonic()
        try:
            {"sanity": phase_sanity, "raw": phase_raw, "record": phase_record,
             "vgem": phase_vgem}[phase](a, out)
            out["ok"] = True
        except Exception as e:  # noqa: BLE001 - every failure is reported in the JSON
            out["ok"], out["error"] = False, f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc()
            print(f"GS_PHASE_FAILED {phase}: {out['error']}", flush=True)
            ok = False
        out["seconds"] = time.monotonic() - t0
        (res / f"{phase}.json").write_text(json.dumps(out, indent=1))
        print(f"GS_PHASE {phase} ok={out['ok']} {out['seconds']:.1f}s", flush=True)
        if not out["ok"] and phase == "sanity":
            break
    sh("dmesg > " + str(res / "dmesg.txt"), check=False)
    # phase failures are in the JSON for the tests to report; only a failed boot-up is fatal here
    return 0 if ok or a.phases.split(",")[0] != "sanity" or json.loads(
        (res / "sanity.json").read_text())["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
