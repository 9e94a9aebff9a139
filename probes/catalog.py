"""The probe catalog as data: every attach point of the combined program, what it needs and what
event kinds it yields. Numbers (A1, B5, C3 ...) refer to ../shared/docs/probe-catalog.md.

A probe's `fn` is the function in the .bpf.c parts; `define` is the -D flag that compiles the
block holding it (the plan sets it only when the attach point exists); `modules` lists where the
symbol may live, in order (None = vmlinux: drm and dma-buf are built in on some kernels).
"""
from __future__ import annotations

from dataclasses import dataclass

VMLINUX = None
DRM = ("drm", VMLINUX)
CORE = (VMLINUX,)
MSM = ("msm",)


@dataclass(frozen=True)
class ProbeSpec:
    name: str                    # plan key, e.g. "kretprobe:msm:msm_gem_free_object"
    method: str                  # kprobe | kretprobe | tracepoint | raw_tracepoint | address
    target: str                  # symbol base name, or "category:event"
    fn: str | None               # BPF function to attach (None for address-only entries)
    kinds: tuple[str, ...]       # schema kinds this attach point contributes to
    define: str | None = None    # -D flag compiling the block
    modules: tuple = CORE        # where a kernel symbol may live, in order
    layer: str = "generic"       # generic | msm
    min_version: tuple[int, int] = (0, 0)
    max_version: tuple[int, int] = (99, 99)   # inclusive upper bound (major, minor)
    catalog_id: str = ""
    fentry: bool = False         # the program has an fentry/fexit front-end for this function


def _k(target, fn, kinds, modules=CORE, layer="generic", ret_fn=None, define="GS_KPROBES",
       catalog_id="", **kw) -> list[ProbeSpec]:
    """kprobe (+ kretprobe when ret_fn is given) on a symbol; fentry=True when locks.bpf.c also
    has its KFUNC_PROBE (+ KRETFUNC_PROBE) front-end, compiled with -DGS_FENTRY_<target>."""
    mod = modules[0]
    label = f"{mod}:{target}" if mod else target
    out = [ProbeSpec(f"kprobe:{label}", "kprobe", target, fn, kinds, define, modules, layer,
                     catalog_id=catalog_id, **kw)]
    if ret_fn:
        out.append(ProbeSpec(f"kretprobe:{label}", "kretprobe", target, ret_fn, kinds, define,
                             modules, layer, catalog_id=catalog_id, **kw))
    return out


def _tp(event, kinds, define, layer="generic", raw=False, fn=None, catalog_id="",
        **kw) -> ProbeSpec:
    method = "raw_tracepoint" if raw else "tracepoint"
    return ProbeSpec(f"{method}:{event}", method, event, fn, kinds, define, (), layer,
                     catalog_id=catalog_id, **kw)


SPECS: tuple[ProbeSpec, ...] = tuple([
    # ---- generic layer: tracepoints (no kprobes needed) ----
    _tp("lock:contention_begin", ("lock_contention",), "GS_TP_CONTENTION", raw=True,
        catalog_id="C1", min_version=(5, 19)),
    _tp("lock:contention_end", ("lock_contention",), "GS_TP_CONTENTION", raw=True,
        catalog_id="C2", min_version=(5, 19)),
    _tp("vmscan:mm_shrink_slab_start", ("shrink_slab",), "GS_TP_SHRINK_SLAB", catalog_id="B1"),
    _tp("vmscan:mm_shrink_slab_end", ("shrink_slab",), "GS_TP_SHRINK_SLAB", catalog_id="B2"),
    _tp("vmscan:mm_vmscan_direct_reclaim_begin", ("direct_reclaim",), "GS_TP_DIRECT_RECLAIM",
        catalog_id="E4"),
    _tp("vmscan:mm_vmscan_direct_reclaim_end", ("direct_reclaim",), "GS_TP_DIRECT_RECLAIM",
        catalog_id="E4"),
    _tp("dma_fence:dma_fence_signaled", ("fence_signal",), "GS_TP_FENCE_SIGNALED",
        catalog_id="D8"),
    _tp("sched:sched_kthread_work_queue_work", ("retire_run",), "GS_TP_KTHREAD_WORK",
        layer="msm", catalog_id="D2"),
    _tp("sched:sched_kthread_work_execute_start", ("retire_run",), "GS_TP_KTHREAD_WORK",
        layer="msm", catalog_id="D3"),
    _tp("sched:sched_kthread_work_execute_end", ("retire_run",), "GS_TP_KTHREAD_WORK",
        layer="msm", catalog_id="D3"),
    # ---- generic layer: dma_resv / ww_mutex (kprobes) ----
    *_k("dma_resv_init", "gs_k_dma_resv_init", ("resv_lock", "resv_trylock", "resv_hold"),
        modules=CORE, catalog_id="C10", fentry=True),
    *_k("dma_resv_fini", "gs_k_dma_resv_fini", ("resv_lock", "resv_trylock", "resv_hold"),
        modules=CORE, catalog_id="A5", fentry=True),
    *_k("ww_mutex_lock", "gs_k_ww_mutex_lock", ("resv_lock", "resv_hold"),
        ret_fn="gs_kr_ww_mutex_lock", catalog_id="C3", fentry=True),
    *_k("ww_mutex_lock_interruptible", "gs_k_ww_mutex_lock_interruptible",
        ("resv_lock", "resv_hold"), ret_fn="gs_kr_ww_mutex_lock", catalog_id="C4", fentry=True),
    *_k("ww_mutex_trylock", "gs_k_ww_mutex_trylock", ("resv_trylock",),
        ret_fn="gs_kr_trylock", min_version=(5, 16), catalog_id="C5", fentry=True),
    *_k("mutex_trylock", "gs_k_mutex_trylock", ("resv_trylock",), ret_fn="gs_kr_trylock",
        max_version=(5, 15), catalog_id="C6"),
    *_k("ww_mutex_unlock", "gs_k_ww_mutex_unlock", ("resv_hold",), catalog_id="C7", fentry=True),
    *_k("drm_gem_object_free", "gs_k_drm_gem_object_free", ("last_put",), modules=DRM,
        define="GS_MSM", catalog_id="A1"),
    # ---- msm layer (kprobes on msm.ko, plus drm.ko's LRU scan) ----
    *_k("msm_gem_free_object", "gs_k_msm_gem_free_object", ("free",), modules=MSM,
        layer="msm", ret_fn="gs_kr_msm_gem_free_object", define="GS_MSM", catalog_id="A2"),
    *_k("msm_gem_shrinker_count", "gs_k_msm_gem_shrinker_count", ("shrink_count",),
        modules=MSM, layer="msm", ret_fn="gs_kr_msm_gem_shrinker_count", define="GS_MSM",
        catalog_id="B3"),
    *_k("msm_gem_shrinker_scan", "gs_k_msm_gem_shrinker_scan", ("shrink_scan",), modules=MSM,
        layer="msm", ret_fn="gs_kr_msm_gem_shrinker_scan", define="GS_MSM", catalog_id="B4"),
    *_k("drm_gem_lru_scan", "gs_k_drm_gem_lru_scan", ("lru_scan",), modules=DRM, layer="msm",
        ret_fn="gs_kr_drm_gem_lru_scan", define="GS_MSM", min_version=(6, 1),
        catalog_id="B5"),
    *_k("purge", "gs_k_purge", ("shrink_object",), modules=MSM, layer="msm",
        ret_fn="gs_kr_shrink_object", define="GS_MSM", min_version=(6, 1), catalog_id="B6"),
    *_k("evict", "gs_k_evict", ("shrink_object",), modules=MSM, layer="msm",
        ret_fn="gs_kr_shrink_object", define="GS_MSM", min_version=(6, 1), catalog_id="B6"),
    *_k("active_purge", "gs_k_active_purge", ("shrink_object",), modules=MSM, layer="msm",
        ret_fn="gs_kr_shrink_object", define="GS_MSM", min_version=(6, 1), catalog_id="B7"),
    *_k("active_evict", "gs_k_active_evict", ("shrink_object",), modules=MSM, layer="msm",
        ret_fn="gs_kr_shrink_object", define="GS_MSM", min_version=(6, 1), catalog_id="B7"),
    *_k("dma_resv_wait_timeout", "gs_k_dma_resv_wait_timeout", ("fence_wait",), modules=CORE,
        layer="msm", ret_fn="gs_kr_dma_resv_wait_timeout", define="GS_MSM", catalog_id="B8"),
    *_k("msm_gpu_retire", "gs_k_msm_gpu_retire", (), modules=MSM, layer="msm",
        define="GS_MSM", catalog_id="D1"),
    *_k("msm_submit_retire", "gs_k_msm_submit_retire", ("retire_run",), modules=MSM,
        layer="msm", define="GS_MSM", catalog_id="D6"),
    # addresses the program compares against, never attached: retire_worker filters the
    # kthread_work tracepoints; the others only name a shrinker / an LRU stage (kinds=(): without
    # them the events still come, unfiltered or with stage null)
    ProbeSpec("address:msm:retire_worker", "address", "retire_worker", None, ("retire_run",),
              "GS_FN_RETIRE_WORKER", MSM, "msm", catalog_id="D4"),
    ProbeSpec("address:msm:msm_gem_shrinker_scan", "address", "msm_gem_shrinker_scan", None,
              (), "GS_FN_SHRINKER_SCAN", MSM, "msm", catalog_id="B1"),
    ProbeSpec("address:msm:purge", "address", "purge", None, (), "GS_FN_PURGE", MSM,
              "msm", min_version=(6, 1)),
    ProbeSpec("address:msm:evict", "address", "evict", None, (), "GS_FN_EVICT", MSM,
              "msm", min_version=(6, 1)),
    ProbeSpec("address:msm:active_purge", "address", "active_purge", None, (),
              "GS_FN_ACTIVE_PURGE", MSM, "msm", min_version=(6, 1)),
    ProbeSpec("address:msm:active_evict", "address", "active_evict", None, (),
              "GS_FN_ACTIVE_EVICT", MSM, "msm", min_version=(6, 1)),
    ProbeSpec("address:msm:vmap_shrink", "address", "vmap_shrink", None, (),
              "GS_FN_VMAP_SHRINK", MSM, "msm", min_version=(6, 1)),
    # drm_msm_gpu tracepoints
    _tp("drm_msm_gpu:msm_gpu_submit", ("gpu_submit",), "GS_MSM_TRACEPOINTS", layer="msm",
        fn="gs_tp_msm_gpu_submit", catalog_id="D13"),
    _tp("drm_msm_gpu:msm_gpu_submit_retired", ("gpu_retired",), "GS_MSM_TRACEPOINTS",
        layer="msm", fn="gs_tp_msm_gpu_submit_retired", catalog_id="D7"),
    _tp("drm_msm_gpu:msm_gem_shrink", ("shrink_tp",), "GS_MSM_TRACEPOINTS", layer="msm",
        fn="gs_tp_msm_gem_shrink", min_version=(6, 1), catalog_id="B14"),
])

# The questions gemscope answers and the kinds each needs (any one of the alternatives).
QUESTIONS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "Q1": ("dma_resv contention: wait time and holder",
           (("lock_contention",), ("resv_lock",))),
    "Q2": ("trylock failures in the shrinker", (("resv_trylock",), ("lru_scan",))),
    "Q3": ("kref_get_unless_zero vs finalization race", (("free", "lru_scan"),)),
    "Q4": ("free (finalizer) latency and context", (("free",),)),
    "Q5": ("finalizers delaying the retire worker", (("retire_run", "free"),)),
    "Q6": ("blocking resv lock under reclaim", (("resv_lock",),)),
    "Q7": ("shrinker efficacy", (("shrink_scan",), ("shrink_slab",), ("shrink_tp",))),
}
