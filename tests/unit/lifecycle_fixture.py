"""A small recording with a known GEM lifecycle, written with RecordingWriter (no simulator).

Threads: tid 200 "glmark2" (pid 200) submits and waits on locks; tid 100 "retire-worker" (pid 1)
runs the retire worker; tid 300 "kswapd0" (pid 300) runs the shrinker.

Retire run r (r = 0, 1, 2) starts at 1_000_000 * (r + 1) and lasts 100_000 ns; it retires submit
r + 1 (gpu_retired at run start + 1_000) and then frees r + 1 objects (each 10_000 ns, starting at
run start + 10_000 + 20_000 * i). Submit r + 1 happened at 1_000_000 * (r + 1) - 500_000.
"""
from __future__ import annotations

from tracer.recording import RecordingWriter

RECORDED = ["gpu_submit", "gpu_retired", "retire_run", "free", "resv_lock", "lock_contention",
            "shrink_scan", "shrink_count", "lru_scan"]

GPU = dict(pid=200, tid=200, comm="glmark2", cpu=0)
RETIRE = dict(pid=1, tid=100, comm="retire-worker", cpu=1)
KSWAPD = dict(pid=300, tid=300, comm="kswapd0", cpu=1)


def lifecycle_rows() -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {k: [] for k in RECORDED}
    for r in range(3):
        start = 1_000_000 * (r + 1)
        rows["gpu_submit"].append(dict(GPU, ts_ns=start - 500_000, submit_id=r + 1, ring_id=0,
                                       nr_bos=4, nr_cmds=1, submit_pid=200))
        rows["retire_run"].append(dict(RETIRE, ts_ns=start, duration_ns=100_000,
                                       queue_delay_ns=5_000 * (r + 1), submits_retired=1))
        rows["gpu_retired"].append(dict(RETIRE, ts_ns=start + 1_000, submit_id=r + 1, ring_id=0,
                                        seqno=r + 1, submit_pid=200))
        for i in range(r + 1):
            rows["free"].append(dict(RETIRE, ts_ns=start + 10_000 + 20_000 * i,
                                     duration_ns=10_000, obj_addr=0x1000 + 16 * (r * 4 + i),
                                     size_bytes=4096, context="retire_worker", in_reclaim=False))
    rows["resv_lock"] = [dict(GPU, ts_ns=1_200_000, duration_ns=30_000, lock_addr=0xA0,
                              obj_addr=0xB0, ctx_addr=0, ret=0, context="ioctl",
                              in_reclaim=False, caller="msm_ioctl_gem_submit+0x10",
                              api="ww_mutex_lock", is_resv=True),
                         dict(GPU, ts_ns=2_200_000, duration_ns=40_000, lock_addr=0xA0,
                              obj_addr=0xB0, ctx_addr=0, ret=0, context="ioctl",
                              in_reclaim=False, caller="msm_ioctl_gem_submit+0x10",
                              api="ww_mutex_lock", is_resv=True)]
    rows["lock_contention"] = [dict(GPU, ts_ns=1_205_000, duration_ns=20_000, lock_addr=0xA0,
                                    flags=0, ret=0, is_resv=True, context="ioctl",
                                    in_reclaim=False)]
    rows["shrink_count"] = [dict(KSWAPD, ts_ns=5_000_000, count_pages=512, duration_ns=1_000,
                                 reclaim_kind="kswapd"),
                            dict(KSWAPD, ts_ns=6_000_000, count_pages=256, duration_ns=1_000,
                                 reclaim_kind="kswapd")]
    rows["shrink_scan"] = [dict(KSWAPD, ts_ns=5_010_000, nr_to_scan_pages=128, freed_pages=64,
                                duration_ns=50_000, in_reclaim=True, reclaim_kind="kswapd"),
                           dict(KSWAPD, ts_ns=6_010_000, nr_to_scan_pages=128, freed_pages=32,
                                duration_ns=70_000, in_reclaim=True, reclaim_kind="kswapd")]
    rows["lru_scan"] = [dict(KSWAPD, ts_ns=5_020_000, stage="purge", nr_to_scan_pages=128,
                             freed_pages=64, remaining_pages=8, duration_ns=20_000),
                        dict(KSWAPD, ts_ns=6_020_000, stage="evict", nr_to_scan_pages=128,
                             freed_pages=32, remaining_pages=16, duration_ns=30_000)]
    return rows


def write_lifecycle(path, **meta) -> str:
    base = {"source": "test", "synthetic": True, "scenario": "lifecycle-fixture",
            "recorded_kinds": RECORDED, "hostname": "devbox", "command":
            "gemscope record -o /home/alice/traces/run1.gsrec",
            "probe_plan": {"lock:contention_begin": {"status": "attached"},
                           "msm_gem_shrinker_scan": {"status": "missing",
                                                     "reason": "symbol not found"}}}
    base.update(meta)
    with RecordingWriter(path, base) as w:
        for kind, rows in lifecycle_rows().items():
            w.append_rows(kind, rows)
    return str(path)
