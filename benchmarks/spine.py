"""Benchmark of the spine: write a recording of N events, load it, run every analysis.

Prints: write rate (events/s through RecordingWriter), load time (load_frames), all-analyses
time (run_all), their total, and memory per event (Frames.nbytes / events, and the process RSS
growth while loading). Goal on the 2-core test machine, for 10 million events: all analyses in
under 5 s, under 100 bytes per event in memory. The machine is shared, so CPU time is printed
beside wall time.

Two event sources:
- ``--source simulate`` (default): the workload model (tracer.simulate) runs a scenario at the
  scale that gives about N events; the write figure is its sort + RecordingWriter time.
- ``--source mix``: events made here with numpy, every kind the analyses read, in the
  proportions of a busy msm desktop session (PROPORTIONS), one recorder-sized append per kind
  per simulated second, realistic value ranges (kernel addresses, a few thousand objects, 85%
  of resv locks on the uncontended fast path, lognormal durations, nulls where a probe cannot
  see).

    .venv/bin/python benchmarks/spine.py                         # 10 million simulated events
    .venv/bin/python benchmarks/spine.py --source mix            # 10 million, every kind
    .venv/bin/python benchmarks/spine.py --events 1e6            # a quick run
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracer.analyses import ALL  # noqa: E402
from tracer.frames import load_frames  # noqa: E402
from tracer.recording import RecordingWriter  # noqa: E402

# Share of each kind in the event stream.
PROPORTIONS = {
    "resv_lock": 0.25, "resv_hold": 0.20, "free": 0.12, "resv_trylock": 0.10,
    "last_put": 0.08, "fence_signal": 0.06, "lock_contention": 0.05, "gpu_submit": 0.03,
    "gpu_retired": 0.03, "retire_run": 0.03, "shrink_object": 0.02, "lru_scan": 0.01,
    "fence_wait": 0.01, "shrink_scan": 0.005, "shrink_count": 0.005,
}
SECONDS = 600
THREADS = [(1001, "gpu-worker"), (2001, "gnome-shell"), (2002, "Xwayland"),
           (3001, "chromium-gpu"), (3002, "chromium"), (90, "kswapd0")]
CONTEXTS = ["retire_worker", "ioctl", "ioctl", "other", "shrinker", "reclaim"]
CALLERS = ["submit_lock_objects+0x40", "msm_gem_madvise+0x30", "retire_submits+0x88",
           "drm_exec_lock_obj+0x5c", "msm_gem_close+0x70", "with_vm_locks+0x44"]
STAGES = ["purge", "evict", "active_purge", "active_evict"]
OBJ_BASE, LRU_BASE = 0xFFFFFF8012000000, 0xFFFFFF8010A2C0A8
N_STACKS = 64


def _strings(rng, vocab, n, null_share=0.0):
    codes = rng.integers(0, len(vocab), n).astype(np.int32)
    arr = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(vocab)).cast(pa.string())
    if null_share:
        mask = pa.array(rng.random(n) < null_share)
        arr = pa.compute.if_else(mask, pa.nulls(n, pa.string()), arr)
    return arr


def _nullable(values, rng, null_share):
    mask = rng.random(len(values)) < null_share
    return pa.array(values, mask=mask)


def make_chunk(kind: str, n: int, t0: int, rng: np.random.Generator) -> dict:
    """n events of `kind` spread over one second starting at t0 (sorted by time)."""
    tix = rng.integers(0, len(THREADS), n)
    cols = {"ts_ns": np.sort(rng.integers(t0, t0 + 1_000_000_000, n)).astype(np.int64),
            "cpu": rng.integers(0, 8, n).astype(np.int16),
            "tid": np.array([t for t, _ in THREADS], dtype=np.int32)[tix],
            "comm": pa.DictionaryArray.from_arrays(pa.array(tix.astype(np.int32)),
                                                   pa.array([c for _, c in THREADS]))
            .cast(pa.string())}
    cols["pid"] = cols["tid"]
    obj = np.uint64(OBJ_BASE) + (rng.integers(0, 4096, n) * 0x400).astype(np.uint64)
    dur = rng.lognormal(np.log(3000), 1.2, n).astype(np.int64)
    lru = np.uint64(LRU_BASE) + (rng.integers(0, 4, n) * 0x30).astype(np.uint64)
    if kind in ("resv_lock", "resv_hold", "resv_trylock", "lock_contention", "fence_wait"):
        cols["lock_addr"] = obj + np.uint64(0x110)
    if kind in ("resv_lock", "resv_trylock", "free", "last_put", "lock_contention",
                "fence_wait", "resv_hold"):
        cols["context"] = _strings(rng, CONTEXTS, n)
        cols["stack_id"] = rng.integers(0, N_STACKS, n).astype(np.int32)
    if kind in ("resv_lock", "resv_trylock", "free", "last_put", "lock_contention",
                "fence_wait"):
        cols["in_reclaim"] = rng.random(n) < 0.02
    if kind == "resv_lock":
        # most acquisitions take the uncontended fast path; one in seven waits
        dur = np.where(rng.random(n) < 0.85, rng.integers(150, 900, n),
                       rng.lognormal(np.log(20_000), 1.5, n)).astype(np.int64)
        cols.update(obj_addr=obj, ctx_addr=np.where(rng.random(n) < 0.5, np.uint64(0), np.uint64(0xFFFFFF8044000058))
                    .astype(np.uint64), duration_ns=dur,
                    ret=np.where(rng.random(n) < 0.001, -35, 0).astype(np.int64),
                    holder_tid=np.where(rng.random(n) < 0.7, 0, 1001).astype(np.int32),
                    holder_comm=_strings(rng, ["gpu-worker", "gnome-shell"], n, 0.7),
                    caller=_strings(rng, CALLERS, n), api=_strings(rng, ["ww_mutex_lock"], n),
                    is_resv=np.ones(n, dtype=bool))
    elif kind == "resv_hold":
        cols.update(obj_addr=obj, duration_ns=dur * 3, caller=_strings(rng, CALLERS, n))
    elif kind == "resv_trylock":
        cols.update(obj_addr=obj, ctx_addr=np.zeros(n, np.uint64), success=rng.random(n) < 0.9,
                    holder_tid=np.full(n, 2001, np.int32),
                    holder_comm=_strings(rng, ["gnome-shell"], n),
                    caller=_strings(rng, ["drm_gem_lru_scan+0x9c"], n),
                    api=_strings(rng, ["ww_mutex_trylock"], n),
                    stage=_strings(rng, STAGES, n, 0.3),
                    size_bytes=(4096 << rng.integers(0, 12, n)).astype(np.uint64),
                    is_resv=np.ones(n, dtype=bool))
    elif kind == "lock_contention":
        cols.update(flags=np.full(n, 32, np.uint32), duration_ns=dur,
                    ret=np.zeros(n, np.int64), holder_tid=np.full(n, 1001, np.int32),
                    holder_comm=_strings(rng, ["gpu-worker"], n),
                    is_resv=rng.random(n) < 0.9)
    elif kind == "free":
        cols.update(obj_addr=obj, size_bytes=(4096 << rng.integers(0, 12, n)).astype(np.uint64),
                    duration_ns=dur * 4, lru_addr=_nullable(lru, rng, 0.05),
                    lock_addr=obj + np.uint64(0x110))
    elif kind == "last_put":
        cols.update(obj_addr=obj, size_bytes=(4096 << rng.integers(0, 12, n)).astype(np.uint64),
                    caller=_strings(rng, CALLERS, n))
    elif kind == "retire_run":
        cols.update(duration_ns=dur * 20, queue_delay_ns=dur // 3,
                    submits_retired=rng.integers(1, 4, n).astype(np.int32))
    elif kind in ("fence_signal", "gpu_retired", "gpu_submit"):
        cols.update(seqno=np.arange(n, dtype=np.uint32), submit_id=np.arange(n, dtype=np.uint32),
                    ring_id=np.zeros(n, np.uint32), fence_context=np.full(n, 9, np.uint64),
                    driver=_strings(rng, ["msm"], n), timeline=_strings(rng, ["gpu-ring-0"], n))
        keep = {"fence_signal": ("seqno", "fence_context", "driver", "timeline"),
                "gpu_retired": ("submit_id", "ring_id", "seqno"),
                "gpu_submit": ("submit_id", "ring_id")}[kind]
        for c in ("seqno", "submit_id", "ring_id", "fence_context", "driver", "timeline"):
            if c not in keep:
                del cols[c]
    elif kind == "lru_scan":
        cols.update(stage=_strings(rng, STAGES, n), lru_addr=lru,
                    nr_to_scan_pages=np.full(n, 128, np.int64),
                    freed_pages=rng.integers(0, 128, n).astype(np.int64),
                    remaining_pages=rng.integers(0, 16, n).astype(np.int64), duration_ns=dur * 10)
    elif kind == "shrink_object":
        cols.update(stage=_strings(rng, STAGES, n), obj_addr=obj, success=rng.random(n) < 0.8,
                    size_bytes=(4096 << rng.integers(0, 12, n)).astype(np.uint64),
                    duration_ns=dur, lock_addr=obj + np.uint64(0x110))
    elif kind == "fence_wait":
        cols.update(duration_ns=dur * 100, timeout_ns=np.full(n, 10_000_000, np.int64),
                    ret=np.ones(n, np.int64))
    elif kind == "shrink_scan":
        cols.update(nr_to_scan_pages=np.full(n, 128, np.int64),
                    freed_pages=_nullable(rng.integers(0, 128, n), rng, 0.1),
                    gfp_flags=np.full(n, 0xCC0, np.uint32),
                    reclaim_kind=_strings(rng, ["kswapd", "direct"], n), duration_ns=dur * 30,
                    in_reclaim=np.ones(n, dtype=bool))
    elif kind == "shrink_count":
        cols.update(count_pages=rng.integers(0, 10000, n).astype(np.int64),
                    gfp_flags=np.full(n, 0xCC0, np.uint32),
                    reclaim_kind=_strings(rng, ["kswapd", "direct"], n), duration_ns=dur // 10)
    return cols


def write_simulated(path: str, events: int, scenario: str, seed: int = 1) -> tuple[int, float]:
    """Run the workload model at the scale giving about `events`; (events, s in writing)."""
    from tracer.simulate import meta_for, simulate, truth
    # benchmarks/simulate.py: sync-free-in-retire at scale 24 over 60 s is ~10 million events
    world = simulate(scenario, seed, 60.0, max(0.01, 24.0 * events / 10e6))
    meta = meta_for(world, truth.manifest(world.log, scenario, seed))
    t = time.perf_counter()
    written = world.log.write(path, meta, world.t0 - 1_000_000)
    return written, time.perf_counter() - t


def write(path: str, events: int, seed: int = 1) -> tuple[int, float]:
    """Write the recording; returns (events written, seconds spent inside the writer)."""
    rng = np.random.default_rng(seed)
    meta = {"source": "benchmark", "synthetic": True, "scenario": "benchmark-mix",
            "recorded_kinds": sorted(PROPORTIONS) + ["stack", "lost"]}
    per_second = {k: max(1, int(round(events * p / SECONDS))) for k, p in PROPORTIONS.items()}
    in_writer = 0.0
    with RecordingWriter(path, meta) as w:
        t = time.perf_counter()
        w.append_rows("stack", [dict(ts_ns=0, cpu=0, pid=0, tid=0, comm="", stack_id=i,
                                     frames=f"ww_mutex_lock\ncaller_{i}\nentry_SYSCALL_64")
                                for i in range(N_STACKS)])
        in_writer += time.perf_counter() - t
        for sec in range(SECONDS):
            t0 = 1_000_000_000_000 + sec * 1_000_000_000
            for kind, n in per_second.items():
                cols = make_chunk(kind, n, t0, rng)
                t = time.perf_counter()
                w.append(kind, cols)
                in_writer += time.perf_counter() - t
        t = time.perf_counter()
        w.close()
        in_writer += time.perf_counter() - t
        return w.events_written, in_writer


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=float, default=10e6, help="events to write (default 1e7)")
    ap.add_argument("--file", help="keep the recording here instead of a temporary file")
    ap.add_argument("--source", choices=("simulate", "mix"), default="simulate",
                    help="events from the workload model (default) or the numpy mix")
    ap.add_argument("--scenario", default="sync-free-in-retire",
                    help="simulator scenario for --source simulate")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or os.path.join(tmp, "bench.gsrec")
        if args.source == "simulate":
            written, write_s = write_simulated(path, int(args.events), args.scenario)
        else:
            written, write_s = write(path, int(args.events))
        size = os.path.getsize(path)
        # warm up on a small recording so that lazy imports and allocator arenas are not
        # charged to the events
        warm = os.path.join(tmp, "warm.gsrec")
        write(warm, 20_000, seed=2)
        run_all_once = [a(load_frames(warm)) for a in ALL]
        del run_all_once
        rss0 = rss_bytes()
        t, c = time.perf_counter(), time.process_time()
        frames = load_frames(path)
        load_s, load_cpu = time.perf_counter() - t, time.process_time() - c
        rss1 = rss_bytes()
        results, took, cpu = {}, {}, {}
        for a in ALL:      # what run_all does, timed per analysis
            t, c = time.perf_counter(), time.process_time()
            results[a.name] = a(frames)
            took[a.name], cpu[a.name] = time.perf_counter() - t, time.process_time() - c
        analyses_s, analyses_cpu = sum(took.values()), sum(cpu.values())
        events = sum(len(df) for df in frames.by_kind.values())
        print(f"source                 {args.source}"
              + (f" ({args.scenario})" if args.source == "simulate" else ""))
        print(f"events                 {events:,} ({written:,} written, file {size / 2**20:.1f} "
              f"MiB, {size / events:.1f} bytes/event on disk)")
        print(f"write rate             {written / write_s:,.0f} events/s "
              f"({write_s:.2f} s wall inside RecordingWriter)")
        # the machine is shared: wall time includes waiting for a CPU, process CPU time not
        print(f"load average           {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
              "(wall > CPU time when other work competes)")
        print(f"load_frames            {load_s:.2f} s wall, {load_cpu:.2f} s CPU")
        print(f"all analyses (run_all) {analyses_s:.2f} s wall, {analyses_cpu:.2f} s CPU")
        for name, r in results.items():
            print(f"  {name:20} {took[name]:.2f} s wall, {cpu[name]:.2f} s CPU  "
                  f"answerable={r.answerable}")
        print(f"load + analyses        {load_s + analyses_s:.2f} s wall, "
              f"{load_cpu + analyses_cpu:.2f} s CPU")
        print(f"memory per event       {frames.nbytes / events:.1f} bytes (Frames.nbytes), "
              f"{(rss1 - rss0) / events:.1f} bytes (process RSS growth over the load)")
        print(f"peak RSS               {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
              " MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
