"""The binary event record of the BPF program, as a numpy dtype (mirrors gemscope_common.bpf.h).

Every record the kernel emits is one fixed-size `struct gs_event`, so a batch of raw ring-buffer
bytes becomes a structured array with one `np.frombuffer` call. The meaning of the generic slots
a0..a5 / ret / aux / str1 / str2 depends on the event type; `SLOTS` says it per type.
"""
from __future__ import annotations

import numpy as np

EVENT_DTYPE = np.dtype([
    ("ts_ns", "<u8"), ("type", "<u4"), ("cpu", "<u4"), ("pid", "<u4"), ("tid", "<u4"),
    ("comm", "S16"),
    ("a0", "<u8"), ("a1", "<u8"), ("a2", "<u8"), ("a3", "<u8"), ("a4", "<u8"), ("a5", "<u8"),
    ("duration_ns", "<i8"), ("ret", "<i8"), ("stack_id", "<i4"), ("holder_tid", "<u4"),
    ("bits", "<u4"), ("aux", "<u4"), ("str1", "S16"), ("str2", "S16"),
])
EVENT_SIZE = EVENT_DTYPE.itemsize  # 152 == sizeof(struct gs_event) (8-byte aligned, no padding)

# type numbers (T_* in gemscope_common.bpf.h) -> schema kind
TYPES = {
    1: "resv_lock", 2: "resv_trylock", 3: "resv_hold", 4: "lock_contention", 5: "free",
    6: "last_put", 7: "shrink_count", 8: "shrink_scan", 9: "lru_scan", 10: "shrink_object",
    11: "shrink_slab", 12: "fence_wait", 13: "retire_run", 14: "fence_signal", 15: "gpu_submit",
    16: "gpu_retired", 17: "direct_reclaim", 18: "shrink_tp",
}
TYPE_OF = {k: t for t, k in TYPES.items()}

# bits (B_* in gemscope_common.bpf.h)
B_IN_RETIRE = 0x1
B_IN_SHRINKER = 0x2
B_IN_RECLAIM = 0x4
B_KSWAPD = 0x8
B_DIRECT = 0x10
B_KTHREAD = 0x20
B_SUCCESS = 0x40
B_IS_RESV = 0x80
B_HOLDER_VALID = 0x100
B_FLAGS_VALID = 0x200
B_SHRINK_STOP = 0x400
B_HAVE_REMAINING = 0x800
B_HAVE_SIZE = 0x1000
B_TRYLOCK_MUTEX = 0x2000
B_INTERRUPTIBLE = 0x4000
STAGE_SHIFT = 16
STAGES = {1: "purge", 2: "evict", 3: "active_purge", 4: "active_evict", 5: "vmap"}

# per type: schema field <- record slot. Fields not listed are derived (context, in_reclaim,
# caller, api, stage, success, holder, is_resv) or null.
SLOTS: dict[str, dict[str, str]] = {
    "resv_lock": {"lock_addr": "a0", "ctx_addr": "a1", "duration_ns": "duration_ns",
                  "ret": "ret", "stack_id": "stack_id"},
    "resv_trylock": {"lock_addr": "a0", "ctx_addr": "a1", "obj_addr": "a2", "size_bytes": "a3",
                     "stack_id": "stack_id"},
    "resv_hold": {"lock_addr": "a0", "duration_ns": "duration_ns", "stack_id": "stack_id"},
    "lock_contention": {"lock_addr": "a0", "flags": "aux", "duration_ns": "duration_ns",
                        "ret": "ret", "stack_id": "stack_id"},
    "free": {"obj_addr": "a0", "size_bytes": "a1", "lru_addr": "a2", "lock_addr": "a3",
             "duration_ns": "duration_ns", "stack_id": "stack_id"},
    "last_put": {"obj_addr": "a0", "size_bytes": "a1", "stack_id": "stack_id"},
    "shrink_count": {"count_pages": "a0", "gfp_flags": "aux", "duration_ns": "duration_ns"},
    "shrink_scan": {"nr_to_scan_pages": "a0", "freed_pages": "a1", "gfp_flags": "aux",
                    "duration_ns": "duration_ns"},
    "lru_scan": {"lru_addr": "a0", "nr_to_scan_pages": "a1", "freed_pages": "a2",
                 "remaining_pages": "a3", "duration_ns": "duration_ns"},
    "shrink_object": {"obj_addr": "a0", "size_bytes": "a1", "lock_addr": "a3",
                      "duration_ns": "duration_ns"},
    "shrink_slab": {"nr_to_scan_pages": "a1", "count_pages": "a2", "freed_pages": "ret",
                    "gfp_flags": "aux", "duration_ns": "duration_ns"},
    "fence_wait": {"lock_addr": "a0", "timeout_ns": "a1", "ret": "ret",
                   "duration_ns": "duration_ns", "stack_id": "stack_id"},
    "retire_run": {"duration_ns": "duration_ns", "queue_delay_ns": "a0",
                   "submits_retired": "a1"},
    "fence_signal": {"fence_context": "a0", "seqno": "a1"},
    "gpu_submit": {"submit_id": "a0", "ring_id": "a1", "nr_bos": "a2", "nr_cmds": "a3",
                   "submit_pid": "aux"},
    "gpu_retired": {"submit_id": "a0", "ring_id": "a1", "seqno": "a2", "gpu_elapsed_ns": "a3",
                    "gpu_clock_mhz": "a4", "start_ticks": "a5", "end_ticks": "ret",
                    "submit_pid": "aux"},
    "direct_reclaim": {"order": "a0", "nr_reclaimed_pages": "a1", "gfp_flags": "aux",
                       "duration_ns": "duration_ns"},
    "shrink_tp": {"nr_to_scan_pages": "a0", "purged_pages": "a1", "evicted_pages": "a2",
                  "active_purged_pages": "a3", "active_evicted_pages": "a4"},
}


def pack(n: int, **columns) -> bytes:
    """n records with the given fields set (others zero; stack_id defaults to -1) as raw bytes,
    exactly as the kernel writes them: for tests and the decoder benchmark."""
    arr = np.zeros(n, dtype=EVENT_DTYPE)
    arr["stack_id"] = -1
    for name, value in columns.items():
        arr[name] = value
    return arr.tobytes()
