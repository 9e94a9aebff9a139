"""Recordings drawn from known distributions, for testing `gemscope diff` (no simulator needed).

Two designs of the free path, as in the maintainers' thread:
- "sync": each free runs inside the retire worker run that dropped the last reference
  (today's msm: retire run time = other work + the finalizers);
- "defer": the retire worker only queues the frees, a separate worker (tid 101) runs them
  after the retire run (the ttm/i915 design): retire runs carry no finalizer time.
Everything else is drawn from the SAME distributions in both designs: free durations
(lognormal, median 20 us), frees per run (Poisson, mean 3), the retire run's own work (lognormal,
median 50 us), queue delay (exponential, mean 10 us), resv_lock calls (Poisson, mean 2 per
period, lognormal median 5 us). So a correct diff finds exactly the retire-run differences.
"""
from __future__ import annotations

import numpy as np

from tracer.recording import RecordingWriter

PERIOD_NS = 10_000_000     # one retire run every 10 ms
RECORDED = ["retire_run", "free", "resv_lock"]


def _ids(n, pid, tid, comm, cpu=0):
    return dict(cpu=np.full(n, cpu, np.int16), pid=np.full(n, pid, np.int32),
                tid=np.full(n, tid, np.int32), comm=[comm] * n)


def write_workload(path, design: str, seed: int, runs: int = 400) -> str:
    rng = np.random.default_rng(seed)
    starts = np.arange(runs, dtype=np.int64) * PERIOD_NS + 1_000_000
    own = rng.lognormal(np.log(50_000), 0.4, runs).astype(np.int64)
    nfree = rng.poisson(3, runs)
    free_dur = rng.lognormal(np.log(20_000), 0.5, int(nfree.sum())).astype(np.int64)
    run_of_free = np.repeat(np.arange(runs), nfree)
    # frees run back to back: offset = the durations of the earlier frees of the same run
    excl = np.cumsum(free_dur) - free_dur
    first_of_run = (np.cumsum(nfree) - nfree)[run_of_free]
    before = excl - excl[first_of_run] if len(excl) else excl
    fin_per_run = np.bincount(run_of_free, weights=free_dur, minlength=runs).astype(np.int64)
    if design == "sync":
        run_dur = own + fin_per_run
        free_ts = starts[run_of_free] + 5_000 + before
        free_ids = _ids(len(free_dur), 1, 100, "retire-worker", 1)
        context = "retire_worker"
    elif design == "defer":
        run_dur = own
        free_ts = starts[run_of_free] + own[run_of_free] + 50_000 + before
        free_ids = _ids(len(free_dur), 1, 101, "gem-free-worker", 1)
        context = "other"
    else:
        raise ValueError(design)
    nlock = rng.poisson(2, runs)
    lock_run = np.repeat(np.arange(runs), nlock)
    lock_ts = starts[lock_run] + 2_000_000 + rng.integers(0, 5_000_000, len(lock_run))
    lock_ts.sort()
    with RecordingWriter(path, {"source": "test", "synthetic": True,
                                "scenario": f"diff-fixture-{design}", "seed": seed,
                                "recorded_kinds": RECORDED}) as w:
        w.append("retire_run", dict(ts_ns=starts, **_ids(runs, 1, 100, "retire-worker", 1),
                                    duration_ns=run_dur,
                                    queue_delay_ns=rng.exponential(10_000, runs).astype(np.int64),
                                    submits_retired=np.ones(runs, np.int32)))
        order = np.argsort(free_ts, kind="stable")
        w.append("free", dict(ts_ns=free_ts[order], **free_ids, duration_ns=free_dur[order],
                              obj_addr=np.arange(len(free_dur), dtype=np.uint64) * 64 + 0x10000,
                              size_bytes=np.full(len(free_dur), 4096, np.uint64),
                              context=[context] * len(free_dur),
                              in_reclaim=np.zeros(len(free_dur), bool)))
        n = len(lock_ts)
        w.append("resv_lock", dict(ts_ns=lock_ts, **_ids(n, 200, 200, "glmark2"),
                                   duration_ns=rng.lognormal(np.log(5_000), 0.6, n).astype(np.int64),
                                   lock_addr=np.full(n, 0xA0, np.uint64),
                                   obj_addr=np.full(n, 0xB0, np.uint64),
                                   ctx_addr=np.zeros(n, np.uint64), ret=np.zeros(n, np.int64),
                                   context=["ioctl"] * n, in_reclaim=np.zeros(n, bool),
                                   is_resv=np.ones(n, bool)))
    return str(path)
