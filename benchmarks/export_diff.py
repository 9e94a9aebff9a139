"""Time `gemscope export --perfetto` on a 1M-event recording and `gemscope diff` of two of them.

Usage: .venv/bin/python benchmarks/export_diff.py [--events N] [--keep DIR]

The recordings are synthetic GEM lifecycles (submit -> retire run -> retired -> frees, reservation
locks, contention, periodic shrinker scans): "sync" frees run inside the retire worker, "defer"
frees run on another worker. Prints figures; asserts nothing about time.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tracer.recording import RecordingWriter  # noqa: E402

PERIOD_NS = 1_000_000


def _ids(n, pid, tid, comm):
    return dict(cpu=np.zeros(n, np.int16), pid=np.full(n, pid, np.int32),
                tid=np.full(n, tid, np.int32), comm=[comm] * n)


def make_recording(path: str, events: int, design: str, seed: int) -> int:
    """~events events; returns the exact number written."""
    rng = np.random.default_rng(seed)
    periods = events // 8                       # ~8 events per period (see docstring)
    start = np.arange(periods, dtype=np.int64) * PERIOD_NS + PERIOD_NS
    nfree = rng.poisson(3, periods)
    fdur = rng.lognormal(np.log(20_000), 0.5, int(nfree.sum())).astype(np.int64)
    run_of = np.repeat(np.arange(periods), nfree)
    excl = np.cumsum(fdur) - fdur
    before = excl - excl[(np.cumsum(nfree) - nfree)[run_of]]
    own = rng.lognormal(np.log(50_000), 0.4, periods).astype(np.int64)
    fin = np.bincount(run_of, weights=fdur, minlength=periods).astype(np.int64)
    sync = design == "sync"
    free_ts = start[run_of] + 5_000 + before if sync else start[run_of] + own[run_of] + 50_000 + before
    nlock = rng.poisson(2, periods)
    lock_ts = np.sort(start[np.repeat(np.arange(periods), nlock)] + 200_000 +
                      rng.integers(0, 500_000, int(nlock.sum())))
    nl = len(lock_ts)
    ids = np.arange(periods, dtype=np.uint32) + 1
    scans = np.arange(0, periods, 100)
    ns = len(scans)
    written = 0
    with RecordingWriter(path, {"source": "benchmark", "synthetic": True,
                                "scenario": f"bench-{design}", "seed": seed,
                                "recorded_kinds": ["gpu_submit", "gpu_retired", "retire_run",
                                                   "free", "resv_lock", "lock_contention",
                                                   "shrink_count", "shrink_scan", "lru_scan"]},
                         flush_interval_s=3600) as w:
        def put(kind, cols):
            nonlocal written
            w.append(kind, cols)
            written += len(cols["ts_ns"])
        put("gpu_submit", dict(ts_ns=start - 400_000, **_ids(periods, 200, 200, "glmark2"),
                               submit_id=ids, ring_id=np.zeros(periods, np.uint32),
                               nr_bos=np.full(periods, 8, np.uint32),
                               nr_cmds=np.ones(periods, np.uint32),
                               submit_pid=np.full(periods, 200, np.int32)))
        put("retire_run", dict(ts_ns=start, **_ids(periods, 1, 100, "retire-worker"),
                               duration_ns=own + (fin if sync else 0),
                               queue_delay_ns=rng.exponential(10_000, periods).astype(np.int64),
                               submits_retired=np.ones(periods, np.int32)))
        put("gpu_retired", dict(ts_ns=start + 1_000, **_ids(periods, 1, 100, "retire-worker"),
                                submit_id=ids, ring_id=np.zeros(periods, np.uint32),
                                seqno=ids, submit_pid=np.full(periods, 200, np.int32)))
        order = np.argsort(free_ts, kind="stable")
        nf = len(fdur)
        put("free", dict(ts_ns=free_ts[order], **_ids(nf, 1, 100 if sync else 101,
                                                       "retire-worker" if sync else "free-worker"),
                         duration_ns=fdur[order], obj_addr=np.arange(nf, dtype=np.uint64) * 64,
                         size_bytes=np.full(nf, 4096, np.uint64),
                         context=["retire_worker" if sync else "other"] * nf,
                         in_reclaim=np.zeros(nf, bool)))
        put("resv_lock", dict(ts_ns=lock_ts, **_ids(nl, 200, 200, "glmark2"),
                              duration_ns=rng.lognormal(np.log(5_000), 0.6, nl).astype(np.int64),
                              lock_addr=np.full(nl, 0xA0, np.uint64),
                              obj_addr=np.full(nl, 0xB0, np.uint64),
                              ctx_addr=np.zeros(nl, np.uint64), ret=np.zeros(nl, np.int64),
                              context=["ioctl"] * nl, in_reclaim=np.zeros(nl, bool),
                              is_resv=np.ones(nl, bool)))
        put("lock_contention", dict(ts_ns=lock_ts[::4] + 100, **_ids(len(lock_ts[::4]), 200, 200,
                                                                     "glmark2"),
                                    duration_ns=np.full(len(lock_ts[::4]), 1_000, np.int64),
                                    lock_addr=np.full(len(lock_ts[::4]), 0xA0, np.uint64)))
        sts = start[scans] + 700_000
        put("shrink_count", dict(ts_ns=sts, **_ids(ns, 300, 300, "kswapd0"),
                                 count_pages=rng.integers(1000, 5000, ns)))
        put("shrink_scan", dict(ts_ns=sts + 1_000, **_ids(ns, 300, 300, "kswapd0"),
                                nr_to_scan_pages=np.full(ns, 128, np.int64),
                                freed_pages=rng.integers(0, 128, ns),
                                duration_ns=np.full(ns, 60_000, np.int64)))
        for k, stage in enumerate(("purge", "evict")):
            put("lru_scan", dict(ts_ns=sts + 2_000 + k * 25_000, **_ids(ns, 300, 300, "kswapd0"),
                                 stage=[stage] * ns, nr_to_scan_pages=np.full(ns, 128, np.int64),
                                 freed_pages=rng.integers(0, 64, ns),
                                 remaining_pages=rng.integers(0, 16, ns),
                                 duration_ns=np.full(ns, 20_000, np.int64)))
    return written


def _timed(label, func):
    t = time.perf_counter()
    out = func()
    dt = time.perf_counter() - t
    print(f"  {label:44} {dt:8.2f} s")
    return out, dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--keep", help="write the recordings and trace into this folder")
    args = ap.parse_args()
    from tracer.analyses import run_all
    from tracer.diff import diff_paths
    from tracer.diff.compare import diff_frames
    from tracer.export.perfetto import export_perfetto
    from tracer.frames import load_frames
    tmp = args.keep or tempfile.mkdtemp(prefix="gemscope-bench-")
    a, b, out = (os.path.join(tmp, n) for n in ("a.gsrec", "b.gsrec", "a.pftrace"))
    print(f"gemscope export/diff benchmark, {os.cpu_count()} CPUs, {args.events} events per "
          "recording")
    n_a, _ = _timed("write recording A (sync)", lambda: make_recording(a, args.events, "sync", 1))
    n_b, _ = _timed("write recording B (defer)", lambda: make_recording(b, args.events, "defer",
                                                                        2))
    print(f"  events: A {n_a}, B {n_b}")
    fa, t_load = _timed("load A (frames)", lambda: load_frames(a))
    st, t_exp = _timed("export A to Perfetto (after load)", lambda: export_perfetto(fa, out))
    print(f"  perfetto: {st.packets} packets, {sum(st.slices.values())} slices, {st.flows} flows,"
          f" {os.path.getsize(out) / 1e6:.1f} MB, {n_a / (t_load + t_exp):,.0f} events/s "
          "load+export")
    fb, _ = _timed("load B (frames)", lambda: load_frames(b))
    ra, _ = _timed("analyses A (run_all)", lambda: run_all(fa))
    rb, _ = _timed("analyses B (run_all)", lambda: run_all(fb))
    _timed("statistics only (diff_frames)", lambda: diff_frames(fa, fb, ra, rb))
    del fa, fb, ra, rb
    d, _ = _timed("gemscope diff A B end to end (diff_paths)", lambda: diff_paths(a, b))
    print(f"  significant: {', '.join(d['significant']) or 'none'}")
    print(f"  peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
