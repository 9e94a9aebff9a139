"""The msm GEM shrinker under memory pressure (kswapd0, and direct reclaim inside submit ioctls).

A pass is one do_shrink_slab call: msm_gem_shrinker_count, then msm_gem_shrinker_scan, which runs
the stages purge (dontneed), evict (willneed, if can_swap), active_purge and active_evict (if
can_block) through drm_gem_lru_scan until nr_to_scan pages are freed. Per object: the resv trylock
(with the scan's ww ticket in v6.19); a failure adds the object's pages to `remaining`; on success
the stage callback (active_* first wait for the fences: dma_resv_wait_timeout, 10 jiffies); in
v6.19 purge/evict take every VM resv with a BLOCKING lock under the ticket (with_vm_locks); then
the scan's drm_gem_object_put, which frees the object when userspace already closed it (the
finalizer then runs inside reclaim; in v6.19 it takes drm_exec locks). The scan returns SHRINK_STOP
unless it freed pages and some were skipped (v6.6+), and msm_gem_shrink fires if it freed any.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog
from .clients import _comms
from .timeline import free_duration_ns, lognormal_ns, lru_sizes, offsets_in_group, uniform_ns
from .world import KSWAPD_TID, World

CANDIDATES = {"purge": 5.0, "evict": 4.0, "active_purge": 3.0, "active_evict": 3.0}
FENCE_TIMEOUT_NS = 40_000_000          # 10 jiffies at HZ=250
GFP_KERNEL, GFP_HIGHUSER_MOVABLE = 0xCC0, 0x100CCA
PAGE = 4096


@dataclass
class Passes:
    direct: np.ndarray      # bool per pass
    tid: np.ndarray
    own_obj: np.ndarray     # direct reclaim: the BO the task itself holds locked (else -1)
    duration: np.ndarray    # whole pass (direct: the direct_reclaim event)
    build: dict             # everything emit() needs, relative to the pass start


def plan(world: World, direct_tid: np.ndarray, direct_own_obj: np.ndarray) -> Passes:
    """Draw every pass's objects and outcomes and lay them out relative to the pass start."""
    sc, rng = world.scenario, world.rng("shrinker")
    n_k = rng.poisson(world.rate(sc.kswapd_passes_per_s) * world.duration_ns / 1e9)
    n_d = len(direct_tid)
    P = n_k + n_d
    direct = np.r_[np.zeros(n_k, bool), np.ones(n_d, bool)]
    tid = np.r_[np.full(n_k, KSWAPD_TID), direct_tid].astype(np.int32)
    own = np.r_[np.full(n_k, -1), direct_own_obj].astype(np.int64)
    nr = np.where(rng.random(P) < 0.8, 128, 64)

    # four stage rows per pass; candidate objects per enabled stage
    st_pass = np.repeat(np.arange(P), 4)
    st_idx = np.tile(np.arange(4), P)
    enabled = np.ones(4 * P, bool)
    if not sc.can_swap:
        enabled &= (st_idx != 1) & (st_idx != 3)
    lam = np.array([CANDIDATES[s] for s in catalog.STAGES])[st_idx]
    m = np.where(enabled, rng.poisson(lam), 0)
    c_st = np.repeat(np.arange(4 * P), m)
    c_pass = st_pass[c_st]
    c_stage = st_idx[c_st]
    nc = len(c_st)
    obj_i = world.objects.new(nc, lru_sizes(rng, nc))
    fail = rng.random(nc) < sc.trylock_fail
    self_held = fail & direct[c_pass] & (rng.random(nc) < sc.self_held_share)
    obj_i = np.where(self_held, own[c_pass], obj_i)
    size = world.objects.size_of(obj_i)
    pages = (size // PAGE).astype(np.int64)
    active = c_stage >= 2
    timeout = ~fail & active & (rng.random(nc) < sc.fence_timeout_share)
    reclaimed = ~fail & ~timeout & (rng.random(nc) < 0.92)
    freed = np.where(reclaimed, pages, 0)
    before = offsets_in_group(freed, c_pass)
    keep = before < nr[c_pass]
    c = {k: v[keep] for k, v in dict(st=c_st, stage=c_stage, obj=obj_i, fail=fail,
                                       self=self_held, size=size, pages=pages, active=active,
                                       timeout=timeout, reclaimed=reclaimed, freed=freed).items()}
    nc = len(c["st"])
    st_freed = np.bincount(c["st"], weights=c["freed"], minlength=4 * P).astype(np.int64)
    st_skip = np.bincount(c["st"], weights=np.where(c["fail"], c["pages"], 0),
                          minlength=4 * P).astype(np.int64)
    st_before = offsets_in_group(st_freed, st_pass)
    runs = enabled & (st_before < nr[st_pass])

    # per-object timeline inside its stage
    locked = ~c["fail"]
    final_put = c["reclaimed"] & (rng.random(nc) < sc.final_put_share)
    try_dur = uniform_ns(rng, 150, 500, nc)
    fw = np.where(c["timeout"], FENCE_TIMEOUT_NS + uniform_ns(rng, 5_000, 60_000, nc),
                  lognormal_ns(rng, 25_000, 0.8, nc, 2_000, 5_000_000)) * (locked & c["active"])
    vm_lock = locked & ~c["timeout"] & sc.ticket
    vm_contended = vm_lock & (rng.random(nc) < sc.vm_lock_contention)
    vm_pre, vm_post = uniform_ns(rng, 150, 400, nc), uniform_ns(rng, 100, 300, nc)
    vm_wait = lognormal_ns(rng, 200_000, 1.0, nc, 10_000, 20_000_000)
    vm_dur = np.where(vm_contended, vm_pre + vm_wait + vm_post, uniform_ns(rng, 150, 900, nc))
    vm_dur = vm_dur * vm_lock
    work = lognormal_ns(rng, 3_000, 0.4, nc) + (c["size"] / (1 << 20) * 30_000).astype(np.int64)
    so_dur = np.where(locked, np.where(fw > 0, fw + 200, 0) + np.where(vm_lock, vm_dur + 300, 0)
                      + np.where(c["timeout"], 0, work), 0)
    exec_dur = uniform_ns(rng, 150, 900, nc) * (final_put & sc.ticket)
    fdur = free_duration_ns(rng, c["size"], sc.free_per_mib_ns, sc.free_base_ns, 0.35) \
        + np.where(exec_dur > 0, exec_dur + 400, 0)
    g1, g2, g3 = (uniform_ns(rng, 200, 700, nc) for _ in range(3))
    block = try_dur + g1 + np.where(locked, so_dur + g2, 0) \
        + np.where(final_put, 150 + fdur + g3, 0) + 300
    c_off = 400 + offsets_in_group(block, c["st"])
    st_dur = 400 + np.bincount(c["st"], weights=block, minlength=4 * P).astype(np.int64) + 300
    st_dur = np.where(runs, st_dur, 0)
    st_off = 300 + offsets_in_group(np.where(runs, st_dur + 200, 0), st_pass)
    scan_dur = 300 + np.bincount(st_pass, weights=np.where(runs, st_dur + 200, 0),
                                 minlength=P).astype(np.int64) + 500
    count_dur = uniform_ns(rng, 1_000, 3_000, P)
    count_gap = uniform_ns(rng, 500, 2_000, P)
    pre = np.where(direct, uniform_ns(rng, 10_000, 40_000, P), 0)
    post = np.where(direct, uniform_ns(rng, 5_000, 50_000, P), 0)
    duration = pre + count_dur + count_gap + scan_dur + post
    build = dict(P=P, nr=nr, st_pass=st_pass, st_idx=st_idx, runs=runs, st_freed=st_freed,
                 st_skip=st_skip, st_before=st_before, st_off=st_off, st_dur=st_dur, c=c,
                 c_off=c_off, locked=locked, final_put=final_put, try_dur=try_dur, fw=fw,
                 vm_lock=vm_lock, vm_contended=vm_contended, vm_pre=vm_pre, vm_wait=vm_wait,
                 vm_dur=vm_dur, so_dur=so_dur, exec_dur=exec_dur, fdur=fdur, g1=g1, g2=g2,
                 pre=pre, count_dur=count_dur, count_gap=count_gap, scan_dur=scan_dur)
    return Passes(direct, tid, own, duration, build)


def kswapd_starts(world: World, passes: Passes) -> np.ndarray:
    """Start times of the kswapd passes: Poisson wake-ups, one pass at a time."""
    from .timeline import queue_starts
    rng = world.rng("shrinker.kswapd")
    k = ~passes.direct
    n = int(k.sum())
    span = world.duration_ns - 80_000_000
    arrivals = np.sort(world.t0 + rng.integers(0, max(span, 1), n))
    return queue_starts(arrivals, passes.duration[k], 50_000)


def emit(world: World, ps: Passes, start: np.ndarray) -> dict:
    """Emit every pass's events given pass start times; returns the LRU scan intervals."""
    rng, log, b = world.rng("shrinker.emit"), world.log, ps.build
    P = b["P"]
    direct = ps.direct
    kind = np.where(direct, "direct", "kswapd")
    gfp = np.where(direct, GFP_HIGHUSER_MOVABLE, GFP_KERNEL)
    cols = world.threads.columns(ps.tid, rng)
    count_ts = start + b["pre"]
    scan_ts = count_ts + b["count_dur"] + b["count_gap"]
    freed = np.bincount(b["st_pass"], weights=b["st_freed"], minlength=P).astype(np.int64)
    skipped = np.bincount(b["st_pass"], weights=b["st_skip"] * b["runs"],
                          minlength=P).astype(np.int64)
    log.add("direct_reclaim", {
        **_rows(cols, direct), "ts_ns": start[direct], "duration_ns": ps.duration[direct],
        "order": 0, "gfp_flags": GFP_HIGHUSER_MOVABLE,
        "nr_reclaimed_pages": freed[direct] + rng.integers(0, 64, int(direct.sum()))})
    count = rng.integers(20_000, 200_000, P)
    log.add("shrink_count", {**cols, "ts_ns": count_ts, "duration_ns": b["count_dur"],
                             "count_pages": count, "gfp_flags": gfp,
                             "reclaim_kind": kind.astype(object)})
    stop = ~((freed > 0) & (skipped > 0))
    log.add("shrink_scan", {**cols, "ts_ns": scan_ts, "duration_ns": b["scan_dur"],
                            "nr_to_scan_pages": b["nr"],
                            "freed_pages": np.where(stop, np.nan, freed), "gfp_flags": gfp,
                            "reclaim_kind": kind.astype(object), "in_reclaim": True})
    # vmscan:mm_shrink_slab_start fires after the count, _end after the scan; its retval is
    # what do_shrink_slab added up (a SHRINK_STOP scan adds nothing)
    slab_ts = count_ts + b["count_dur"] + 100
    log.add("shrink_slab", {**cols, "ts_ns": slab_ts, "shrinker": "msm_gem_shrinker_scan",
                            "nr_to_scan_pages": b["nr"], "freed_pages": np.where(stop, 0, freed),
                            "count_pages": count, "gfp_flags": gfp,
                            "duration_ns": scan_ts + b["scan_dur"] + 300 - slab_ts})
    tp = freed > 0
    per_stage = b["st_freed"].reshape(P, 4)
    log.add("shrink_tp", {**_rows(cols, tp), "ts_ns": (scan_ts + b["scan_dur"] - 300)[tp],
                          "nr_to_scan_pages": b["nr"][tp],
                          "purged_pages": per_stage[tp, 0], "evicted_pages": per_stage[tp, 1],
                          "active_purged_pages": per_stage[tp, 2],
                          "active_evicted_pages": per_stage[tp, 3]})

    r = b["runs"]
    sp = b["st_pass"][r]
    st_ts = scan_ts[b["st_pass"]] + b["st_off"]
    stage_names = np.array(catalog.STAGES, dtype=object)
    lru_of = np.array([catalog.LRU[catalog.STAGE_LRU[s]] for s in catalog.STAGES],
                      dtype=np.uint64)
    log.add("lru_scan", {**_rows(cols, sp, index=True), "ts_ns": st_ts[r],
                         "stage": stage_names[b["st_idx"][r]], "lru_addr": lru_of[b["st_idx"][r]],
                         "nr_to_scan_pages": (b["nr"][b["st_pass"]] - b["st_before"])[r],
                         "freed_pages": b["st_freed"][r], "remaining_pages": b["st_skip"][r],
                         "duration_ns": b["st_dur"][r]})
    _objects(world, rng, ps, st_ts, stage_names)
    return {"ts": st_ts[r], "end": st_ts[r] + b["st_dur"][r], "lru": lru_of[b["st_idx"][r]],
            "tid": ps.tid[sp]}


def _rows(cols: dict, sel: np.ndarray, index: bool = False) -> dict:
    """The thread columns of the passes picked by a mask (or by pass indices)."""
    return {k: (v[sel] if isinstance(v, np.ndarray) else v.take(np.flatnonzero(sel) if not index
                                                                 else sel))
            for k, v in cols.items()}


def _objects(world: World, rng, ps: Passes, st_ts: np.ndarray, stage_names) -> None:
    """Per-object events of every scan: trylocks, fence waits, callbacks, VM locks, frees."""
    sc, log, b, c = world.scenario, world.log, ps.build, ps.build["c"]
    nc = len(c["st"])
    cp = b["st_pass"][c["st"]]
    direct = ps.direct[cp]
    tid = ps.tid[cp]
    cols = world.threads.columns(tid, rng)
    t_try = st_ts[c["st"]] + b["c_off"]
    obj, resv = catalog.obj_addr(c["obj"]), catalog.resv_addr(c["obj"])
    stage = stage_names[c["stage"]]
    owner = rng.integers(0, len(sc.clients), nc)
    holder = np.where(c["self"], tid, world.client_tids(owner, "holder"))
    holder_client = np.where(c["self"], _client_of(world, tid), owner)
    ticket = np.where(sc.ticket, catalog.addr_range(catalog.RECLAIM_TICKET_BASE, cp % 64,
                                                    0x2000), np.uint64(0))
    which = np.where(direct, 1, 0)
    sid = lambda name: np.array([catalog.stack_id(f"{name}_kswapd"),  # noqa: E731
                                 catalog.stack_id(f"{name}_direct")])[which]
    f = c["fail"]
    log.add("resv_trylock", {
        **cols, "ts_ns": t_try, "lock_addr": resv, "obj_addr": obj, "ctx_addr": ticket,
        "success": ~f, "holder_tid": np.where(f, holder, 0),
        "holder_comm": _comms(world, np.where(f, holder_client, -1)),
        "context": "shrinker", "in_reclaim": True, "caller": catalog.CALLERS["lru_trylock"],
        "stack_id": sid("trylock"), "api": "ww_mutex_trylock", "stage": stage,
        "size_bytes": c["size"], "is_resv": True})
    other = f & ~c["self"]
    k = int(other.sum())
    world.episodes.add(resv[other], obj[other], holder[other],
                       t_try[other] - uniform_ns(rng, 5_000, 100_000, k),
                       t_try[other] + uniform_ns(rng, 10_000, 400_000, k), 0,
                       must_from=t_try[other], must_to=t_try[other] + b["try_dur"][other])

    lk = b["locked"]
    t_so = t_try + b["try_dur"] + b["g1"]
    fw = lk & c["active"]
    log.add("fence_wait", {
        **_rows(cols, fw), "ts_ns": t_so[fw] + 100, "lock_addr": resv[fw],
        "duration_ns": b["fw"][fw], "timeout_ns": FENCE_TIMEOUT_NS,
        "ret": np.where(c["timeout"][fw], 0, rng.integers(1, 10, int(fw.sum()))),
        "context": "shrinker", "in_reclaim": True, "stack_id": sid("fence_wait")[fw]})
    log.add("shrink_object", {
        **_rows(cols, lk), "ts_ns": t_so[lk], "stage": stage[lk], "obj_addr": obj[lk],
        "size_bytes": c["size"][lk], "success": c["reclaimed"][lk],
        "duration_ns": b["so_dur"][lk], "lock_addr": resv[lk]})
    if sc.ticket:
        _vm_locks(world, rng, cols, b, t_so, obj, ticket, sid("vm_lock"), owner)
    fp = b["final_put"]
    t_put = t_so + b["so_dur"] + b["g2"]
    log.add("last_put", {
        **_rows(cols, fp), "ts_ns": t_put[fp], "obj_addr": obj[fp], "size_bytes": c["size"][fp],
        "context": "shrinker", "in_reclaim": True, "stack_id": sid("put")[fp],
        "caller": catalog.CALLERS["put_shrinker"]})
    t_free = t_put + 150
    log.add("free", {
        **_rows(cols, fp), "ts_ns": t_free[fp], "obj_addr": obj[fp], "size_bytes": c["size"][fp],
        "duration_ns": b["fdur"][fp], "context": "shrinker", "in_reclaim": True,
        "lru_addr": np.uint64(catalog.LRU["unbacked"]), "lock_addr": resv[fp],
        "stack_id": sid("free")[fp], "_in_retire_run": False})
    if sc.ticket:
        ex = fp & (b["exec_dur"] > 0)
        vm = world.vm_resv(owner, c["obj"])
        log.add("resv_lock", {
            **_rows(cols, ex), "ts_ns": t_free[ex] + 300, "lock_addr": vm[ex],
            "obj_addr": obj[ex], "ctx_addr": catalog.addr_range(
                catalog.RECLAIM_TICKET_BASE + 0x400, cp[ex] % 64, 0x2000),
            "duration_ns": b["exec_dur"][ex], "ret": 0, "holder_tid": 0, "holder_comm": None,
            "context": "shrinker", "in_reclaim": True,
            "caller": catalog.CALLERS["free_exec_lock"], "stack_id": sid("exec_lock")[ex],
            "api": "ww_mutex_lock", "is_resv": True, "_waited": False})


def _vm_locks(world, rng, cols, b, t_so, obj, ticket, stack, owner) -> None:
    """v6.19 with_vm_locks: a blocking dma_resv_lock of the owner's VM resv, under reclaim."""
    log = world.log
    v, cont = b["vm_lock"], b["vm_contended"]
    vm = world.vm_resv(owner, b["c"]["obj"])
    t = t_so + np.where(b["fw"] > 0, b["fw"] + 200, 0) + 300
    holder = world.client_tids(owner, "holder")
    log.add("resv_lock", {
        **_rows(cols, v), "ts_ns": t[v], "lock_addr": vm[v], "obj_addr": obj[v],
        "ctx_addr": ticket[v], "duration_ns": b["vm_dur"][v], "ret": 0,
        "holder_tid": np.where(cont, holder, 0)[v],
        "holder_comm": _comms(world, np.where(cont, owner, -1)[v]), "context": "shrinker",
        "in_reclaim": True, "caller": catalog.CALLERS["vm_lock"], "stack_id": stack[v],
        "api": "ww_mutex_lock", "is_resv": True, "_waited": cont[v]})
    k = int(cont.sum())
    ct = t[cont] + b["vm_pre"][cont]
    log.add("lock_contention", {
        **_rows(cols, cont), "ts_ns": ct, "lock_addr": vm[cont], "flags": 0x20,
        "duration_ns": b["vm_wait"][cont], "ret": 0, "holder_tid": holder[cont],
        "holder_comm": _comms(world, owner[cont]), "is_resv": True, "context": "shrinker",
        "in_reclaim": True, "stack_id": catalog.stack_id("contention_vm")})
    released = ct + b["vm_wait"][cont] - uniform_ns(rng, 1_000, 4_000, k)
    world.episodes.add(vm[cont], obj[cont], holder[cont],
                       ct - uniform_ns(rng, 5_000, 100_000, k), released, 0,
                       must_from=ct, must_to=released)


def _client_of(world: World, tid: np.ndarray) -> np.ndarray:
    """Client index of client thread ids (-1 for kernel threads)."""
    keys, vals = [], []
    for i in range(len(world.scenario.clients)):
        for role in ("submit", "close", "holder", "main"):
            keys.append(world.client_tid(i, role))
            vals.append(i)
    keys_a, vals_a = np.array(keys), np.array(vals)
    order = np.argsort(keys_a)
    keys_a, vals_a = keys_a[order], vals_a[order]
    pos = np.clip(np.searchsorted(keys_a, tid), 0, len(keys_a) - 1)
    return np.where(keys_a[pos] == tid, vals_a[pos], -1)
