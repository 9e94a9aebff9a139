"""A small, deterministic recording with every kind the views read (for the TUI tests).

Two seconds of a made-up workload: a compositor and a game contend on a few reservations, the
retire worker frees objects (some slowly), the shrinker scans under pressure with some trylocks
failing, one free happens in reclaim. The numbers are arbitrary but fixed (seeded).
"""
from __future__ import annotations

import numpy as np

from tracer.recording import RecordingWriter

T0 = 5_000_000_000          # CLOCK_MONOTONIC of the first event
MS = 1_000_000
OBJS = [0xffff888000100000 + i * 0x400 for i in range(12)]
RESV = {o: o + 0x88 for o in OBJS}          # obj->resv (embedded _resv)
TASKS = [(100, 101, "gnome-shell"), (200, 201, "supertuxkart"), (300, 301, "kworker/u8:3")]
RETIRE = (400, 401, "retire_worker")
KINDS = ["resv_lock", "resv_hold", "resv_trylock", "lock_contention", "free", "last_put",
         "retire_run", "fence_signal", "shrink_count", "shrink_scan", "lru_scan", "shrink_object",
         "fence_wait", "lost", "stack", "taskstats", "probe_status"]
META = {"source": "test-fixture", "synthetic": True, "scenario": "tui-fixture",
        "recorded_kinds": KINDS,
        "probe_plan": {
            "ww_mutex_lock": {"status": "attached", "kinds": ["resv_lock"]},
            "msm_gem_free_object": {"status": "attached", "kinds": ["free"]},
            "drm_gem_lru_scan": {"status": "attached", "kinds": ["lru_scan"]},
            "gpu_submit": {"status": "missing", "reason": "tracepoint not in this kernel",
                           "kinds": ["gpu_submit"]}}}


def _who(t):
    pid, tid, comm = t
    return dict(cpu=tid % 4, pid=pid, tid=tid, comm=comm)


def rows() -> dict[str, list[dict]]:
    rng = np.random.RandomState(4)
    out: dict[str, list[dict]] = {k: [] for k in KINDS}
    out["stack"] = [dict(ts_ns=T0, cpu=0, pid=0, tid=0, comm="", stack_id=1,
                         frames="ww_mutex_lock\nmsm_gem_lock\nmsm_ioctl_gem_submit"),
                    dict(ts_ns=T0, cpu=0, pid=0, tid=0, comm="", stack_id=2,
                         frames="msm_gem_free_object\ndrm_gem_object_free\nretire_submits")]
    for i in range(60):
        t = TASKS[i % 3]
        obj = OBJS[rng.randint(0, 6)]
        ts = T0 + i * 30 * MS + int(rng.randint(0, MS))
        dur = int(rng.choice([400, 800, 5_000, 40_000, 2 * MS])) if i != 37 else 9 * MS
        out["resv_lock"].append(dict(ts_ns=ts, **_who(t), lock_addr=RESV[obj], obj_addr=obj,
                                     ctx_addr=0, duration_ns=dur, ret=0 if i % 17 else -35,
                                     holder_tid=TASKS[(i + 1) % 3][1],
                                     holder_comm=TASKS[(i + 1) % 3][2], context="ioctl",
                                     in_reclaim=False, caller="msm_gem_lock+0x1c", stack_id=1,
                                     api="ww_mutex_lock", is_resv=True))
        if dur > 1_000:   # a real wait: the kernel's lock:contention tracepoints saw it
            out["lock_contention"].append(dict(
                ts_ns=ts + 100, **_who(t), lock_addr=RESV[obj], flags=32, duration_ns=dur - 300,
                ret=0 if i % 17 else -35, holder_tid=TASKS[(i + 1) % 3][1],
                holder_comm=TASKS[(i + 1) % 3][2], is_resv=True, context="ioctl",
                in_reclaim=False, stack_id=1))
        out["resv_hold"].append(dict(ts_ns=ts + dur, **_who(t), lock_addr=RESV[obj], obj_addr=obj,
                                     duration_ns=200_000, context="ioctl",
                                     caller="msm_gem_lock+0x1c", stack_id=1))
    for i in range(40):
        obj = OBJS[6 + i % 6]
        ts = T0 + 500 * MS + i * 20 * MS
        ok = i % 3 != 0
        out["resv_trylock"].append(dict(ts_ns=ts, **_who(TASKS[2]), lock_addr=RESV[obj],
                                        obj_addr=obj, ctx_addr=0, success=ok,
                                        holder_tid=None if ok else 201,
                                        holder_comm=None if ok else "supertuxkart",
                                        context="shrinker", in_reclaim=True,
                                        caller="drm_gem_lru_scan+0x9a", stack_id=None,
                                        api="dma_resv_trylock",
                                        stage=["purge", "evict"][i % 2],
                                        size_bytes=4096 << (i % 5), is_resv=True))
    for i in range(12):
        obj = OBJS[i]
        ts = T0 + 100 * MS + i * 150 * MS
        ctx = "reclaim" if i == 5 else ["retire_worker", "ioctl"][i % 2]
        who = RETIRE if ctx == "retire_worker" else TASKS[i % 3]
        if ctx == "retire_worker":
            ts = T0 + i * 100 * MS + 100_000      # inside retire run i
        dur = [30_000, 250_000, 1_500_000][i % 3] + i * 1000
        out["last_put"].append(dict(ts_ns=ts - 1000, **_who(who), obj_addr=obj,
                                    size_bytes=65536 << (i % 3), context=ctx,
                                    in_reclaim=ctx == "reclaim", stack_id=2,
                                    caller="retire_submit+0x120"))
        out["free"].append(dict(ts_ns=ts, **_who(who), obj_addr=obj, size_bytes=65536 << (i % 3),
                                duration_ns=dur, context=ctx, in_reclaim=ctx == "reclaim",
                                lru_addr=0xffff8880deadbe00, lock_addr=RESV[obj], stack_id=2))
    for i in range(20):
        ts = T0 + i * 100 * MS
        out["retire_run"].append(dict(ts_ns=ts + 50_000, **_who(RETIRE),
                                      duration_ns=2 * MS + (i % 4) * 400_000,
                                      queue_delay_ns=20_000 + i * 1000, submits_retired=1 + i % 3))
        out["fence_signal"].append(dict(ts_ns=ts + 50_000 + 1_900_000, **_who(RETIRE),
                                        fence_context=7, seqno=1000 + i, driver="msm",
                                        timeline="gpu-ring0"))
    for i in range(8):
        ts = T0 + 400 * MS + i * 180 * MS
        k = dict(cpu=1, pid=31, tid=31, comm="kswapd0")
        out["shrink_count"].append(dict(ts_ns=ts, **k, count_pages=4000 - i * 300,
                                        gfp_flags=0xcc0, reclaim_kind="kswapd", duration_ns=3000))
        out["shrink_scan"].append(dict(ts_ns=ts + 10_000, **k, nr_to_scan_pages=128,
                                       freed_pages=96 - i * 8, gfp_flags=0xcc0,
                                       reclaim_kind="kswapd", duration_ns=400_000 + i * 50_000,
                                       in_reclaim=True))
        out["lru_scan"].append(dict(ts_ns=ts + 20_000, **k, stage=["purge", "evict"][i % 2],
                                    lru_addr=0xffff8880deadbe00, nr_to_scan_pages=128,
                                    freed_pages=96 - i * 8, remaining_pages=16 + i,
                                    duration_ns=300_000))
        out["shrink_object"].append(dict(ts_ns=ts + 30_000, **k, stage=["purge", "evict"][i % 2],
                                         obj_addr=OBJS[6 + i % 6], size_bytes=65536,
                                         success=i % 2 == 0, duration_ns=20_000,
                                         lock_addr=RESV[OBJS[6 + i % 6]]))
        out["taskstats"].append(dict(ts_ns=ts, cpu=0, pid=1, tid=1, comm="gemscope",
                                     target_tid=201, target_comm="supertuxkart",
                                     cpu_delay_ns=i * MS, freepages_delay_ns=i * 2 * MS,
                                     thrashing_delay_ns=0, compact_delay_ns=0))
    out["fence_wait"].append(dict(ts_ns=T0 + 900 * MS, cpu=1, pid=31, tid=31, comm="kswapd0",
                                  lock_addr=RESV[OBJS[7]], duration_ns=700_000, timeout_ns=MS,
                                  ret=1, context="shrinker", in_reclaim=True, stack_id=None))
    out["lost"].append(dict(ts_ns=T0 + 1200 * MS, cpu=2, pid=0, tid=0, comm="", lost_count=3))
    return out


def write(path, meta=None) -> str:
    """Write the fixture recording to `path` (a few batches, like a real recorder)."""
    with RecordingWriter(path, {**META, **(meta or {})}) as w:
        for kind, rs in rows().items():
            w.append_rows(kind, rs)
            w.flush()
    return str(path)
