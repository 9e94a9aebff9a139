"""The five designs the 2022 msm/DRM thread argues about, as parameter sets of one model.

Each scenario is a `Scenario`: which kernel behaviour it models (where frees run, whether the
retire worker locks each BO, whether the shrinker carries a ww ticket and locks VM resvs), the
workload (GPU clients and their submit rates) and the rates of the things it injects
(contention, trylock failures, memory pressure, frees racing scans). Rates are per second of
simulated time at --scale 1; --scale multiplies every rate (and shortens GPU jobs to match).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Client:
    """A GPU client process: its name, pid and submits per second."""
    comm: str
    pid: int
    submits_per_s: float


DEFAULT_CLIENTS = (Client("chrome", 2101, 120.0), Client("deqp-vk", 3310, 90.0),
                   Client("gnome-shell", 1187, 60.0))


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str                  # one line, for `gemscope simulate --list`
    shows: str                    # what a reader should see in the report
    kernel: str                   # which kernel's behaviour is modelled
    clients: tuple[Client, ...] = DEFAULT_CLIENTS
    # where finalizers run: "sync" (in the dropping context, today's msm), "async" (every free
    # queued to a worker sharing the retire work's ordered queue, msm before v5.11),
    # "trylock_defer" (trylock the resv, free inline on success, else defer: ttm/i915)
    free_mode: str = "sync"
    retire_locks: bool = True     # msm_submit_retire takes msm_gem_lock per BO (v5.15, v6.19)
    bos_per_submit: float = 5.0   # mean BOs per submit (at least 2)
    transient_share: float = 0.25  # share of a submit's BOs whose last ref retire drops
    retire_contention: float = 0.01  # P(a retire BO lock waits for a client holding it)
    client_contention: float = 0.02  # P(a submit waits on a shared dma-buf resv)
    edeadlk_share: float = 0.25   # of those, share that first back off with -EDEADLK
    close_frees_per_s: float = 20.0  # GEM_CLOSE frees per client per second
    free_base_ns: float = 9_000.0
    free_per_mib_ns: float = 45_000.0
    free_trylock_fail: float = 0.0  # trylock_defer: P(the free's trylock fails)
    # memory pressure
    kswapd_passes_per_s: float = 1.0
    direct_reclaim_share: float = 0.0  # share of submits whose page allocation enters reclaim
    can_swap: bool = True
    trylock_fail: float = 0.05    # P(a shrinker trylock finds the resv held by a client)
    self_held_share: float = 0.0  # in direct reclaim, P(a failure is on the task's own BO)
    final_put_share: float = 0.1  # P(a reclaimed object's last ref is the shrinker's put)
    racing_free_share: float = 0.0  # P(a client frees an object of the LRU during a scan)
    fence_timeout_share: float = 0.0  # P(an active_* fence wait runs to its timeout)
    ticket: bool = False          # v6.19: trylock with a ww ticket, blocking VM resv locks
    vm_lock_contention: float = 0.0  # P(the shrinker's VM resv lock waits for a client)
    lost_gpu_submits: bool = False  # a perf-buffer overflow drops gpu_submit events once
    teardown_bursts_per_s: float = 0.0  # async: a client closes 80-250 BOs at once (queued)
    notes: tuple[str, ...] = field(default_factory=tuple)


_SYNC = Scenario(
    name="sync-free-in-retire",
    summary="today's msm: finalizers run inside the GPU retire worker and delay the next fence",
    shows="retire runs whose time is mostly msm_gem_free_object; fence signals delayed behind "
          "the frees of earlier submits in the same run; a few reservation waits in the retire "
          "worker and in submit ioctls (some -EDEADLK backoffs)",
    kernel="msm v6.19-like retire path (signal in retire_submits, msm_gem_lock per BO), "
           "frees without the BO's resv lock",
    transient_share=0.35,
    free_per_mib_ns=70_000.0,
)

_ASYNC = replace(
    _SYNC, name="async-free-worker",
    summary="the old deferred free: finalizers queued to msm-free-worker on the ordered queue "
            "that also runs retire work",
    shows="short retire runs with no frees inside, no fence delayed by finalizers, but large "
          "retire queue delays: the free worker's backlog (the frees of each run, and bursts "
          "of hundreds of frees when a client tears down) runs ahead of the next retire work",
    kernel="msm before v5.11 (msm_gem_free_work on priv->wq, an ordered workqueue shared with "
           "retire_work), with today's fence signalling in the retire worker",
    free_mode="async", transient_share=0.45, free_per_mib_ns=90_000.0,
    teardown_bursts_per_s=1.5,
)

_TRYLOCK = replace(
    _SYNC, name="trylock-or-defer",
    summary="the ttm/i915 design: trylock the resv when the last ref drops; free inline on "
            "success, defer to a worker on failure",
    shows="trylocks outside the shrinker (stage null) in the retire worker, failures when a "
          "client holds the shared VM resv, and deferred frees running in msm-free-worker",
    kernel="hypothetical msm with ttm_bo_release-style deferral (as proposed in the 2022 "
           "thread); retire path as v6.19",
    free_mode="trylock_defer", free_trylock_fail=0.2,
)

_STORM = replace(
    _SYNC, name="shrinker-storm",
    summary="memory pressure: kswapd and direct reclaim scan all four LRU stages, trylocks fail "
            "on held resvs, frees race the scans",
    shows="many shrinker scans, trylock failures by holder (clients, and self-held in direct "
          "reclaim inside a submit), trylock-skipped pages, objects freed by the shrinker's "
          "final put under reclaim, client frees overlapping scans of the same LRU, fence waits "
          "in the active stages, and one perf-buffer overflow (lost events)",
    kernel="msm v6.6 shrinker (drm_gem_lru_scan with remaining, 4 stages, SHRINK_STOP unless "
           "freed and skipped), retire path as v6.19",
    retire_locks=False,
    kswapd_passes_per_s=60.0, direct_reclaim_share=0.06, trylock_fail=0.18,
    self_held_share=0.4, final_put_share=0.2, racing_free_share=0.5,
    fence_timeout_share=0.02, close_frees_per_s=40.0, lost_gpu_submits=True,
)

_VMLOCK = replace(
    _STORM, name="vm-lock-under-reclaim",
    summary="v6.19: the shrinker trylocks with a ww ticket and with_vm_locks takes a BLOCKING "
            "VM resv lock inside reclaim; shrinker frees take drm_exec locks",
    shows="blocking reservation locks under reclaim (with_vm_locks and drm_exec in frees from "
          "the shrinker), some of them waiting for a client's submit, and every shrinker "
          "trylock carrying an acquire context (the reservation_ww_class_acquire inversion)",
    kernel="msm v6.19 (drm_gem_lru_scan with &ticket, with_vm_locks -> dma_resv_lock(vm resv, "
           "ticket), drm_exec in msm_gem_free_object)",
    retire_locks=True, ticket=True, vm_lock_contention=0.08,
    kswapd_passes_per_s=30.0, direct_reclaim_share=0.03, trylock_fail=0.08,
    racing_free_share=0.2, lost_gpu_submits=False,
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (_SYNC, _ASYNC, _TRYLOCK, _STORM, _VMLOCK)}


def claimed_kinds(sc: Scenario) -> frozenset[str]:
    """The event kinds a run of this scenario (one simulated second or more) always contains."""
    kinds = {"retire_run", "fence_signal", "gpu_submit", "gpu_retired", "resv_lock",
             "resv_hold", "lock_contention", "free", "last_put", "stack", "probe_status"}
    if sc.kswapd_passes_per_s > 0 or sc.direct_reclaim_share > 0:
        kinds |= {"shrink_count", "shrink_scan", "shrink_slab", "lru_scan", "resv_trylock"}
    if sc.kswapd_passes_per_s >= 10:
        kinds |= {"shrink_object", "shrink_tp", "fence_wait"}
    if sc.direct_reclaim_share > 0:
        kinds.add("direct_reclaim")
    if sc.free_mode == "trylock_defer":
        kinds.add("resv_trylock")
    if sc.lost_gpu_submits:
        kinds.add("lost")
    return frozenset(kinds)
