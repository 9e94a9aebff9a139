"""Host tier: the BPF program on THIS machine's real kernel (root, BCC, Debian headers).

1. Every variant of the combined program (for a 6.1 and a 6.12 msm kernel, for this host, with a
   perf buffer) compiles with BCC against Debian 6.1 and 6.12 headers, and every kprobe and
   tracepoint function passes this kernel's verifier (load without attach).
2. `gemscope record` attaches the tracepoint parts here and records real lock:contention and
   vmscan:mm_shrink_slab events made by a workload; the probe plan says kprobes are unavailable.
3. taskstats sampling of this test process gives plausible delay accounting.
Compile/load/attach times are printed (pytest -s), never asserted.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import ROOT, require

pytestmark = pytest.mark.kernel
sys.path.insert(0, str(Path(__file__).parent))
FIX = ROOT / "tests" / "unit" / "fixtures" / "kallsyms"
GEMSCOPE = str(ROOT / ".venv" / "bin" / "gemscope")
MSM_TP = frozenset({"drm_msm_gpu:msm_gpu_submit", "drm_msm_gpu:msm_gpu_submit_retired",
                    "drm_msm_gpu:msm_gem_shrink"})


def _bcc():
    try:
        from bcc import BPF
        return BPF
    except ImportError:
        return None


def _root_bpf() -> None:
    require(os.geteuid() == 0, "needs root")
    require(_bcc() is not None, "BCC (python3-bpfcc) not importable")


_HEADERS: dict[str, str] = {}


def headers(series: str) -> str:
    """BCC_KERNEL_SOURCE tree for Debian `series` headers (cached by headers.sh)."""
    if series not in _HEADERS:
        r = subprocess.run([str(ROOT / "tests/kernel/rig/headers.sh"), series],
                           capture_output=True, text=True, timeout=600)
        require(r.returncode == 0, f"headers.sh {series} failed: {r.stderr.strip()[-200:]}")
        _HEADERS[series] = r.stdout.strip()
    return _HEADERS[series]


def _tracefs_tracepoints() -> frozenset[str]:
    from tracer.live import features
    features.ensure_tracefs()
    return features.tracepoints(features.tracefs_path())


def _variants() -> dict[str, object]:
    """name -> Plan for the target kernels the program must build for."""
    from probes.kallsyms import Kallsyms
    from probes.plan import Features, make_plan
    host_tp = _tracefs_tracepoints()
    out = {}
    for name, release, fixture in (("msm-6.1", "6.1.0-56", "arm64-6.1-msm.txt"),
                                   ("msm-6.12", "6.12.95", "arm64-6.12-msm.txt"),
                                   ("msm-6.6-lto", "6.6.30", "arm64-6.6-lto.txt")):
        f = Features(release, kprobes=True, ringbuf=True, tracepoints=host_tp | MSM_TP,
                     headers_match=True)
        out[name] = make_plan(f, Kallsyms.from_text((FIX / fixture).read_text()))
    # offsets from BTF instead of headers (what a guest/device with BTF uses)
    f = Features("6.12.95", kprobes=True, ringbuf=True, tracepoints=host_tp | MSM_TP,
                 offsets=(("drm_gem_object.lru", 288), ("drm_gem_object.resv", 256),
                          ("drm_gem_object._resv", 264),
                          ("drm_gem_object.size", 40), ("task_struct.comm", 1752),
                          ("task_struct.flags", 44), ("task_struct.pid", 1264)))
    out["msm-6.12-btf"] = make_plan(f, Kallsyms.from_text(
        (FIX / "arm64-6.12-msm.txt").read_text()))
    # every stack walked (record --all-lock-stacks --all-free-stacks)
    out["msm-6.12-all-stacks"] = make_plan(f, Kallsyms.from_text(
        (FIX / "arm64-6.12-msm.txt").read_text()))
    out["msm-6.12-all-stacks"].defines.update(GS_ALL_LOCK_STACKS=True, GS_ALL_FREE_STACKS=True)
    from tracer.live.features import gather
    out["host"] = make_plan(gather(), Kallsyms.read())
    f = Features("6.1.0-56", kprobes=True, ringbuf=False, tracepoints=host_tp | MSM_TP)
    out["msm-6.1-perfbuf"] = make_plan(f, Kallsyms.from_text(
        (FIX / "arm64-6.1-msm.txt").read_text()))
    return out


@pytest.mark.parametrize("series", ["6.1", "6.12"])
def test_every_variant_compiles_and_verifies(series, monkeypatch):
    _root_bpf()
    BPF = _bcc()
    from probes import program
    from probes.catalog import SPECS
    from tracer.live.features import compile_bpf
    monkeypatch.setenv("BCC_KERNEL_SOURCE", headers(series))
    for name, plan in _variants().items():
        t0 = time.monotonic()
        b = compile_bpf(BPF, program.source_text(), program.cflags(plan.defines))
        t1 = time.monotonic()
        loaded = []
        try:
            for e in plan.attachable():
                s = e.spec
                if s.method in ("kprobe", "kretprobe"):
                    b.load_func(s.fn.encode(), BPF.KPROBE)   # the real verifier, no attach
                    loaded.append(s.fn)
                elif s.method == "tracepoint" and s.fn:
                    b.load_func(s.fn.encode(), BPF.TRACEPOINT)
                    loaded.append(s.fn)
            # BCC attached the TRACEPOINT_PROBE / RAW_TRACEPOINT_PROBE parts while loading
            tp_attached = len(b.tracepoint_fds) + len(b.raw_tracepoint_fds)
            t2 = time.monotonic()
        finally:
            b.cleanup()
        print(f"\n[{series} headers] {name}: compile {t1 - t0:.2f} s, verify {len(loaded)} "
              f"kprobe/tp functions {t2 - t1:.3f} s, {tp_attached} tracepoints "
              "attached")
        if name.startswith("msm"):
            # every kernel-function probe of the catalog that applies to the version, and the
            # three drm_msm_gpu tracepoint functions, passed the verifier
            want = {sp.fn for sp in SPECS if sp.method in ("kprobe", "kretprobe")
                    and sp.min_version <= plan.version <= sp.max_version}
            want |= {"gs_tp_msm_gpu_submit", "gs_tp_msm_gpu_submit_retired",
                     "gs_tp_msm_gem_shrink"}
            assert set(loaded) == want and len(want) == 29
            # contention x2, shrink_slab x2, direct reclaim x2, fence, kthread_work x3
            assert tp_attached == 10
        else:
            assert loaded == [] and tp_attached == 7


def _fentry_plan(host_tp: frozenset[str]):
    """The 6.12 msm plan with every lock function on the fentry rung (BTF offsets)."""
    from probes.catalog import SPECS
    from probes.kallsyms import Kallsyms
    from probes.plan import Features, make_plan
    funcs = frozenset(sp.target for sp in SPECS if sp.fentry)
    f = Features("6.12.95", kprobes=True, ringbuf=True, tracepoints=host_tp | MSM_TP, fentry=True,
                 fentry_funcs=funcs,
                 offsets=(("task_struct.comm", 1752), ("task_struct.flags", 44),
                          ("task_struct.pid", 1264)))
    return make_plan(f, Kallsyms.from_text((FIX / "arm64-6.12-msm.txt").read_text()))


def test_fentry_probe_agrees_with_bcc_and_the_fentry_variant_builds(monkeypatch):
    """The raw-syscall fentry test load (tracer/live/fentry_probe.py) gives the same answer as BCC
    loading the combined program's fentry variant here: both load, or the kernel refuses both
    with the same errno. Either way clang compiled the fentry variant (a compile error would
    be an `error:` line, not the kernel's refusal)."""
    _root_bpf()
    BPF = _bcc()
    from probes import program
    from tracer.live.features import SetupError, compile_bpf
    from tracer.live.fentry_probe import fentry_functions
    monkeypatch.setenv("BCC_KERNEL_SOURCE", headers("6.12"))
    plan = _fentry_plan(_tracefs_tracepoints())
    targets = sorted({e.spec.target for e in plan.fentry_entries()})
    assert targets == ["dma_resv_fini", "dma_resv_init", "ww_mutex_lock",
                       "ww_mutex_lock_interruptible", "ww_mutex_trylock", "ww_mutex_unlock"]
    funcs, why = fentry_functions(targets)
    t0 = time.monotonic()
    try:
        b = compile_bpf(BPF, program.source_text(), program.cflags(plan.defines))
    except SetupError as e:
        print(f"\nfentry variant: kernel refused it after {time.monotonic() - t0:.2f} s: {e}")
        assert "bpf: Failed to load program" in str(e), e   # compiled, then refused
        assert funcs == frozenset() and why.startswith("a test fentry program did not load")
        errno_name = str(e).rsplit(":", 1)[1].strip()       # e.g. "Operation not permitted"
        assert errno_name in why, (e, why)
        return
    try:
        print(f"\nfentry variant loaded and attached in {time.monotonic() - t0:.2f} s")
        assert sorted(k.decode()[len("kfunc__"):] for k in b.kfunc_entry_fds) == targets
        assert sorted(k.decode()[len("kretfunc__"):] for k in b.kfunc_exit_fds) == [
            "ww_mutex_lock", "ww_mutex_lock_interruptible", "ww_mutex_trylock"]
        assert funcs == frozenset(targets) and why is None
    finally:
        b.cleanup()


def _run_record(args: list[str], env: dict, workload) -> tuple[subprocess.CompletedProcess, float]:
    p = subprocess.Popen([GEMSCOPE, "record", *args], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # wait for "recording to" (probes attached) on stderr
    line = p.stderr.readline()
    require("recording to" in line, f"record did not start: {line.strip()}")
    t0 = time.monotonic()
    workload()
    return p, t0


@pytest.mark.parametrize("buffer", ["ringbuf", "perfbuf"])
def test_record_tracepoints_live_on_this_host(tmp_path, buffer):
    _root_bpf()
    from workloads import drop_caches, pipe_contention
    from tracer.frames import load_frames
    from tracer.recording import open_recording
    out = tmp_path / "host.gsrec"
    env = dict(os.environ, BCC_KERNEL_SOURCE=headers("6.12"))
    if buffer == "perfbuf":
        env["GEMSCOPE_PERF_BUFFER"] = "1"
    writes = {}

    def workload():
        # 4 KiB writes hold the pipe mutex longer: contention even on a busy shared machine
        writes["n"] = pipe_contention(2.0, writers=6, chunk=4096)
        drop_caches()
        time.sleep(0.5)

    t_start = time.monotonic()
    p, _ = _run_record(["-o", str(out), "--pid", str(os.getpid())], env, workload)
    p.send_signal(signal.SIGTERM)              # stop cleanly on SIGTERM, no duration given
    stdout, stderr = p.communicate(timeout=30)
    print(f"\nrecord (compile+attach+run+stop) {time.monotonic() - t_start:.2f} s\n{stdout}")
    assert p.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped by SIGTERM" in stdout

    with open_recording(out) as rec:
        assert rec.closed_cleanly and not rec.truncated
        meta = rec.meta
        assert ("-DGS_RINGBUF" in meta["bpf_cflags"]) is (buffer == "ringbuf")
        s = rec.summary()
    if buffer == "ringbuf":
        assert s.lost_events == 0
    else:
        # a perf buffer can only be opened after BPF() attached the tracepoints, so events in
        # that window fail perf_event_output and are counted as lost, never silently
        assert s.lost_events == 0 or "lost" in s.by_kind
    plan = meta["probe_plan"]
    kprobe_entries = {n: v for n, v in plan.items() if n.startswith(("kprobe:", "kretprobe:"))}
    assert kprobe_entries and all(v["status"] == "missing" for v in kprobe_entries.values())
    assert plan["kprobe:ww_mutex_lock"]["reason"] == "kprobes unavailable"
    # the ladder's top rung was tried and said why not (this host refuses tracing programs)
    from tracer.live.features import fentry_status
    funcs, why = fentry_status(buffer == "ringbuf")
    if "ww_mutex_lock" not in funcs:
        assert plan["kprobe:ww_mutex_lock"]["method_reason"] == f"no fentry: {why}"
    assert plan["raw_tracepoint:lock:contention_begin"]["status"] == "attached"
    assert plan["tracepoint:vmscan:mm_shrink_slab_start"]["status"] == "attached"
    assert {"lock_contention", "shrink_slab", "taskstats"} <= set(meta["recorded_kinds"])
    assert "resv_lock" not in meta["recorded_kinds"]
    # only kinds the tracepoints make (a mis-sized record would decode as garbage kinds)
    assert set(s.by_kind) <= {"lock_contention", "shrink_slab", "direct_reclaim", "fence_signal",
                              "taskstats", "probe_status", "stack", "generic", "lost"}
    assert s.first_ts_ns > 0
    assert set(meta["unanswerable"]) == {"Q2", "Q3", "Q4", "Q5", "Q6"}

    f = load_frames(str(out))
    lc = f["lock_contention"]
    assert len(lc) > 0, "the pipe workload made no lock contention"
    # forked writers keep the test's comm ("python" under .ci/run, "pytest" run directly)
    comm = Path("/proc/self/comm").read_text().strip()
    mine = lc[lc["comm"].astype(str) == comm]
    assert len(mine) > 0
    assert (lc["duration_ns"] >= 0).all() and (lc["duration_ns"] < 10_000_000_000).all()
    assert (lc["lock_addr"] > 0).all() and (lc["flags"] > 0).all()
    assert set(lc["ret"].unique()) <= {0, -4, -35}
    assert lc["is_resv"].sum() == 0           # nothing is known to be a reservation here
    # the holder comes from the mutex owner word via BTF offsets of task_struct: the pipe
    # mutex is held by another writer of the workload
    held = mine[mine["holder_tid"].notna()]
    assert len(held) > 0
    assert (held["holder_tid"] != held["tid"]).all()
    assert (held["holder_comm"].astype(str) == comm).mean() > 0.5
    stacks = f.stacks()
    with_stack = lc["stack_id"].dropna().astype(int)
    assert len(with_stack) and set(with_stack) <= set(stacks)
    assert any("pipe_write" in stacks[i] for i in with_stack), "pipe writers' stacks"

    ss = f["shrink_slab"]
    assert len(ss) > 0, "drop_caches made no shrink_slab events"
    assert ss["shrinker"].astype(str).str.len().min() > 0
    assert (ss["freed_pages"] >= 0).all() and (ss["count_pages"] >= 0).all()
    assert (ss["duration_ns"] >= 0).all()
    assert any(n.startswith(("super_cache_scan", "deferred_split_scan", "kfree_rcu",
                             "count_shadow", "scan_shadow"))
               for n in ss["shrinker"].astype(str))
    ts = f["taskstats"]
    me = ts[ts["target_tid"] == os.getpid()]
    assert len(me) >= 1 and (me["cpu_delay_ns"] >= 0).all()
    ps = f["probe_status"]
    assert len(ps) == len(plan)
    assert writes["n"] > 0


def test_record_on_a_full_disk_keeps_every_flushed_batch(tmp_path):
    _root_bpf()
    from workloads import pipe_contention
    from tracer.recording import open_recording
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(small)], check=True)
    try:
        out = small / "r.gsrec"
        env = dict(os.environ, BCC_KERNEL_SOURCE=headers("6.12"))
        p, _ = _run_record(["-d", "8", "-o", str(out), "--no-taskstats"], env,
                           lambda: pipe_contention(3.0, writers=6))
        stdout, stderr = p.communicate(timeout=60)
        assert p.returncode == 1 and "Traceback" not in stderr
        assert "disk full: the recording keeps every event flushed before" in stdout
        with open_recording(out) as rec:
            s = rec.summary()
            assert rec.truncated and not rec.closed_cleanly
            n_probes = len(rec.meta["probe_plan"])
        # the first flush (probe status of every plan entry) survived the full disk
        assert s.batches >= 1 and s.by_kind["probe_status"] == n_probes
    finally:
        # lazy: a memory map of the recording may outlive the `with` until garbage collection
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_taskstats_sample_of_this_process():
    require(os.geteuid() == 0, "needs root")
    import threading
    from tracer.live.taskstats import DelayAcct, TaskstatsReader
    acct = DelayAcct()
    require(acct.available, "kernel without task_delayacct")
    before = open(acct.path).read().strip()
    acct.enable()
    try:
        r = TaskstatsReader()
        first = r.sample(os.getpid())

        def spin():
            end = time.monotonic() + 0.4
            while time.monotonic() < end:
                pass
        t0 = time.monotonic()
        threads = [threading.Thread(target=spin) for _ in range(os.cpu_count() * 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        second = r.sample(os.getpid())
        r.close()
    finally:
        acct.restore()
    assert open(acct.path).read().strip() == before
    assert first.tid == os.getpid() and second.comm == first.comm != ""
    # the main thread's own cumulative run-queue delay: never negative, never above its age
    assert 0 <= first.cpu_delay_ns <= second.cpu_delay_ns
    assert second.cpu_delay_ns < (time.monotonic() + 1) * 1e9
    assert second.freepages_delay_ns is not None and second.freepages_delay_ns >= 0
    assert wall > 0.35


def test_record_errors_are_one_line_without_root(tmp_path):
    require(os.geteuid() == 0, "needs root to drop to an unprivileged user")
    r = subprocess.run([GEMSCOPE, "record", "-d", "1", "-o", str(tmp_path / "x.gsrec")],
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "gemscope: error: live tracing needs root (BPF, tracefs): run it with sudo, e.g. "
        "sudo .venv/bin/gemscope record -d 10"]


def test_doctor_tells_the_truth_here():
    _root_bpf()
    env = dict(os.environ, BCC_KERNEL_SOURCE=headers("6.12"))
    r = subprocess.run([GEMSCOPE, "doctor", "--json"], capture_output=True, text=True,
                       timeout=120, env=env)
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    kprobe_pmu = os.path.isdir("/sys/bus/event_source/devices/kprobe") or \
        os.path.exists("/sys/kernel/tracing/kprobe_events")
    assert checks["kprobes"]["ok"] is kprobe_pmu
    assert checks["msm driver"]["ok"] is os.path.isdir("/sys/module/msm")
    assert checks["root"]["ok"] and checks["bcc"]["ok"] and checks["tracefs"]["ok"]
    assert checks["kernel headers"]["ok"] and "NOT this kernel's" in checks["kernel headers"]["detail"]
    assert checks["ring buffer"]["ok"]
    # the tracepoints line names exactly what the probe plan misses (the catalog's tracepoints)
    from probes.catalog import SPECS
    tps = [s.target for s in SPECS if s.method in ("tracepoint", "raw_tracepoint")]
    absent = [t for t in tps if not os.path.isdir("/sys/kernel/tracing/events/" +
                                                  t.replace(":", "/"))]
    assert checks["tracepoints"]["detail"].startswith(f"{len(tps) - len(absent)}/{len(tps)} ")
    assert all(t in checks["tracepoints"]["detail"] for t in absent)
    for c in checks.values():
        assert c["ok"] or c["fix"], f"{c['name']} is missing without a fix"
    assert r.returncode == (0 if all(c["ok"] for c in checks.values()) else 1)


def test_live_source_snapshot_for_the_tui(monkeypatch):
    """open_live_source(args) -> a live Source whose snapshot() sees events while it runs."""
    _root_bpf()
    import argparse
    from workloads import pipe_contention
    from tracer.sources.bcc_source import open_live_source
    monkeypatch.setenv("BCC_KERNEL_SOURCE", headers("6.12"))
    src = open_live_source(argparse.Namespace(output=None, no_taskstats=True))
    assert src.capabilities.is_live
    src.start()
    try:
        pipe_contention(2.0, writers=6, chunk=4096)
        time.sleep(1.5)   # one reader-thread tick
        snap = src.snapshot()
        assert not src.done
    finally:
        src.stop()
    assert src.done
    lc = snap["lock_contention"]
    assert len(lc) > 0 and (lc["duration_ns"] >= 0).all()
    assert snap.recorded("lock_contention") and not snap.recorded("resv_lock")
    assert len(snap["probe_status"]) == len(snap.probe_plan)
    assert src.notices() == [] or all("lost" not in n for n in src.notices())


def test_record_buffer_mib_sizes_the_ring_buffer(tmp_path):
    """`record --buffer-mib 8`: the program is built with an 8 MiB ring buffer (2048 pages), it
    loads, and events arrive through it."""
    _root_bpf()
    from workloads import pipe_contention
    from tracer.recording import open_recording
    out = tmp_path / "small.gsrec"
    env = dict(os.environ, BCC_KERNEL_SOURCE=headers("6.12"))
    p, _ = _run_record(["-o", str(out), "--buffer-mib", "8", "--no-taskstats"], env,
                       lambda: pipe_contention(1.0, writers=4, chunk=4096))
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 0, stderr
    with open_recording(out) as rec:
        assert "-DGS_RINGBUF_PAGES=2048" in rec.meta["bpf_cflags"]
        assert rec.summary().by_kind["lock_contention"] > 0


def test_record_self_cost_counts_its_own_program_runs(tmp_path):
    """--self-cost: the kernel's run-time statistics of gemscope's own programs. Every recorded
    lock_contention event took one run of each of contention_begin and contention_end (more
    runs: contentions of locks that are not recorded, filtered inside the program); the
    recording keeps the same figures as a gemscope:self_cost event; the statistics are off
    again afterwards."""
    _root_bpf()

    from workloads import pipe_contention
    from tracer.frames import load_frames
    out = tmp_path / "cost.gsrec"
    env = dict(os.environ, BCC_KERNEL_SOURCE=headers("6.12"))
    stats_before = Path("/proc/sys/kernel/bpf_stats_enabled").read_text()
    p, _ = _run_record(["-o", str(out), "--self-cost", "--no-taskstats"], env,
                       lambda: pipe_contention(1.0, writers=6, chunk=4096))
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 0, stderr
    assert "  self cost  " in stdout, stdout
    f = load_frames(str(out))
    gen = f["generic"]
    cost = json.loads(gen.loc[gen["event_name"] == "gemscope:self_cost", "payload"].iloc[0])
    n = f.count("lock_contention")
    assert n > 0
    assert cost["contention_begi"]["runs"] >= n and cost["contention_end"]["runs"] >= n
    assert all(c["total_ns"] > 0 and c["ns_per_run"] > 0 for c in cost.values())
    for name, c in list(cost.items())[:12]:
        assert f"    {name:16} {c['runs']:>10} runs" in stdout
    assert Path("/proc/sys/kernel/bpf_stats_enabled").read_text() == stats_before
