"""Names and numbers the model uses: kernel stacks (as a BCC recorder symbolizes them), call
sites, the msm LRU addresses, and the address ranges objects, resvs and acquire contexts live in.

Stacks are innermost frame first, like the `frames` field of a `stack` event. Call sites are the
return address of the probed call as `function+0xoffset`, as BCC's ksym() plus offset prints them.
"""
from __future__ import annotations

import zlib

import numpy as np

EDEADLK = -35

# kernel virtual addresses (arm64, 39-bit VA): slab objects, stacks and per-device structures
OBJ_BASE = 0xFFFFFF8012000000        # struct msm_gem_object, kmalloc-1k
OBJ_STRIDE = 0x400
RESV_OFFSET = 0x110                  # &obj->_resv inside the object (a dma_resv starts with
#                                      its ww_mutex, so the lock address is the resv address)
VM_RESV_BASE = 0xFFFFFF8031400000    # per-VM r_obj resv (v6.19 drm_gpuvm)
SHARED_RESV_BASE = 0xFFFFFF8033800000  # dma-bufs shared between processes (exporter's resv)
SUBMIT_BASE = 0xFFFFFF8044000000     # struct msm_gem_submit; its ww ticket at +0x58
SUBMIT_STRIDE = 0x800
TICKET_OFFSET = 0x58
RECLAIM_TICKET_BASE = 0xFFFFFFC00A3BBD40   # drm_gem_lru_scan's on-stack ticket (v6.19)

# priv->lru.{unbacked,pinned,willneed,dontneed} (struct drm_gem_lru, each starts with its lock)
LRU = {
    "unbacked": 0xFFFFFF8010A2C0A8,
    "pinned": 0xFFFFFF8010A2C0D8,
    "willneed": 0xFFFFFF8010A2C108,
    "dontneed": 0xFFFFFF8010A2C138,
}
LRU_LOCK = 0xFFFFFF8010A2C060         # priv->lru.lock, the mutex every msm LRU shares
# which LRU each shrinker stage walks (msm_gem_shrinker_scan's stages[] table)
STAGE_LRU = {"purge": "dontneed", "evict": "willneed", "active_purge": "dontneed",
             "active_evict": "willneed"}
STAGES = ("purge", "evict", "active_purge", "active_evict")

FENCE_CONTEXT = 9          # the ring-0 hw fence context
TIMELINE = "gpu-ring-0"
GPU_CLOCK_MHZ = 587
AON_TICKS_PER_NS = 19.2e6 / 1e9   # the always-on counter the submit_retired tracepoint reads

_SUBMIT_IOCTL = ("msm_ioctl_gem_submit", "drm_ioctl_kernel", "drm_ioctl", "__arm64_sys_ioctl",
                 "invoke_syscall", "el0_svc_common", "do_el0_svc", "el0_svc")
_RETIRE = ("retire_worker", "kthread_worker_fn", "kthread", "ret_from_fork")
_KSWAPD = ("msm_gem_shrinker_scan", "do_shrink_slab", "shrink_slab", "shrink_node", "balance_pgdat",
           "kswapd", "kthread", "ret_from_fork")
_DIRECT = ("msm_gem_shrinker_scan", "do_shrink_slab", "shrink_slab", "shrink_node",
           "do_try_to_free_pages", "try_to_free_pages", "__alloc_pages_slowpath",
           "__alloc_pages", "shmem_alloc_and_add_folio", "shmem_get_folio_gfp",
           "shmem_read_mapping_page_gfp", "drm_gem_get_pages", "get_pages", "msm_gem_pin_pages",
           "msm_ioctl_gem_submit", "drm_ioctl_kernel", "drm_ioctl", "__arm64_sys_ioctl")
_CLOSE = ("drm_gem_object_free", "drm_gem_object_handle_put_unlocked", "drm_gem_handle_delete",
          "drm_gem_close_ioctl", "drm_ioctl_kernel", "drm_ioctl", "__arm64_sys_ioctl",
          "invoke_syscall", "el0_svc")
_FREE_WORK = ("process_one_work", "worker_thread", "kthread", "ret_from_fork")


def _frame(name: str) -> str:
    """A symbolized frame as BCC's ksym(show_offset=True) prints it: function+0xoffset. Frames
    given with an offset keep it; others get a fixed, made-up one (a function of the name)."""
    if "+0x" in name:
        return name
    return f"{name}+{0x10 + (zlib.crc32(name.encode()) % 0x300) * 4:#x}"


def _s(*frames: str) -> str:
    return "\n".join(_frame(f) for f in frames)


# name -> frames, innermost first. Ids are assigned in this order starting at 1. The second frame
# is what the live recorder reports as `caller` (the return address of the probed call), so
# the model's callers come from here too (CALLERS).
STACKS: dict[str, str] = {
    "submit_lock": _s("ww_mutex_lock_interruptible", "drm_exec_lock_obj+0x5c",
                      "drm_exec_prepare_obj", "submit_lock_objects", *_SUBMIT_IOCTL),
    "submit_lock_legacy": _s("ww_mutex_lock_interruptible", "submit_lock_objects+0x88",
                             *_SUBMIT_IOCTL),
    "madvise_lock": _s("ww_mutex_lock", "msm_gem_madvise+0x44", "msm_ioctl_gem_madvise",
                       "drm_ioctl_kernel", "drm_ioctl", "__arm64_sys_ioctl", "invoke_syscall",
                       "el0_svc"),
    "retire_lock": _s("ww_mutex_lock", "msm_submit_retire+0x4c", "retire_submits", *_RETIRE),
    "free_retire": _s("msm_gem_free_object", "drm_gem_object_free", "msm_submit_retire+0x98",
                      "retire_submits", *_RETIRE),
    "put_retire": _s("drm_gem_object_free", "msm_submit_retire+0x98", "retire_submits",
                     *_RETIRE),
    "free_close": _s("msm_gem_free_object", *_CLOSE),
    "put_close": _s(*_CLOSE),
    "free_trylock_retire": _s("ww_mutex_trylock", "msm_gem_free_object+0x3c",
                              "drm_gem_object_free", "msm_submit_retire+0x98", "retire_submits",
                              *_RETIRE),
    "free_worker": _s("msm_gem_free_object", "msm_gem_free_work", *_FREE_WORK),
    "free_worker_lock": _s("ww_mutex_lock", "msm_gem_free_work+0x48", *_FREE_WORK),
    "trylock_kswapd": _s("ww_mutex_trylock", "drm_gem_lru_scan+0x104", *_KSWAPD),
    "trylock_direct": _s("ww_mutex_trylock", "drm_gem_lru_scan+0x104", *_DIRECT),
    "free_kswapd": _s("msm_gem_free_object", "drm_gem_object_free", "drm_gem_lru_scan+0x1a0",
                      *_KSWAPD),
    "free_direct": _s("msm_gem_free_object", "drm_gem_object_free", "drm_gem_lru_scan+0x1a0",
                      *_DIRECT),
    "put_kswapd": _s("drm_gem_object_free", "drm_gem_lru_scan+0x1a0", *_KSWAPD),
    "put_direct": _s("drm_gem_object_free", "drm_gem_lru_scan+0x1a0", *_DIRECT),
    "vm_lock_kswapd": _s("ww_mutex_lock", "with_vm_locks+0x7c", "purge", "drm_gem_lru_scan",
                         *_KSWAPD),
    "vm_lock_direct": _s("ww_mutex_lock", "with_vm_locks+0x7c", "purge", "drm_gem_lru_scan",
                         *_DIRECT),
    "exec_lock_kswapd": _s("ww_mutex_lock", "drm_exec_lock_obj+0x5c", "msm_gem_free_object",
                           "drm_gem_object_free", "drm_gem_lru_scan+0x1a0", *_KSWAPD),
    "exec_lock_direct": _s("ww_mutex_lock", "drm_exec_lock_obj+0x5c", "msm_gem_free_object",
                           "drm_gem_object_free", "drm_gem_lru_scan+0x1a0", *_DIRECT),
    "fence_wait_kswapd": _s("dma_resv_wait_timeout", "active_purge", "drm_gem_lru_scan",
                            *_KSWAPD),
    "fence_wait_direct": _s("dma_resv_wait_timeout", "active_purge", "drm_gem_lru_scan",
                            *_DIRECT),
    "contention_submit": _s("__mutex_lock", "ww_mutex_lock_interruptible",
                            "drm_exec_lock_obj+0x5c", "submit_lock_objects", *_SUBMIT_IOCTL),
    "contention_submit_legacy": _s("__mutex_lock", "ww_mutex_lock_interruptible",
                                   "submit_lock_objects+0x88", *_SUBMIT_IOCTL),
    "contention_retire": _s("__mutex_lock", "ww_mutex_lock", "msm_submit_retire+0x4c",
                            "retire_submits", *_RETIRE),
    "contention_vm": _s("__mutex_lock", "ww_mutex_lock", "with_vm_locks+0x7c", "purge",
                        "drm_gem_lru_scan", *_KSWAPD),
    "free_close_lru": _s("__mutex_lock", "drm_gem_lru_remove", "drm_gem_object_release",
                         "msm_gem_free_object", *_CLOSE),
}
STACK_ID = {name: i + 1 for i, name in enumerate(STACKS)}

# call site name -> the caller string of events made at it: the second frame of its stack
CALLERS = {name: STACKS[stack].split("\n")[1] for name, stack in {
    "submit_lock": "submit_lock", "submit_lock_legacy": "submit_lock_legacy",
    "retire_lock": "retire_lock", "madvise_lock": "madvise_lock",
    "lru_trylock": "trylock_kswapd", "vm_lock": "vm_lock_kswapd",
    "free_exec_lock": "exec_lock_kswapd", "free_trylock": "free_trylock_retire",
    "deferred_free_lock": "free_worker_lock", "put_retire": "put_retire",
    "put_close": "put_close", "put_shrinker": "put_kswapd"}.items()}


def stack_id(name: str) -> int:
    return STACK_ID[name]


def obj_addr(index) -> np.ndarray:
    """Address of the index-th GEM object the model created (as uint64)."""
    return np.uint64(OBJ_BASE) + np.asarray(index).astype(np.uint64) * np.uint64(OBJ_STRIDE)


def resv_addr(index) -> np.ndarray:
    """Address of that object's own dma_resv (== its ww_mutex, the lock the probes see)."""
    return obj_addr(index) + np.uint64(RESV_OFFSET)


def addr_range(base: int, index, stride: int = 0x100) -> np.ndarray:
    """base + index * stride as uint64 (VM resvs, shared resvs, tickets)."""
    return np.uint64(base) + np.asarray(index).astype(np.uint64) * np.uint64(stride)
