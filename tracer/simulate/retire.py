"""The GPU and the retire worker ("gpu-worker", a FIFO kthread).

The GPU runs submits one at a time in the order the ioctls finished. Completions raise an IRQ
that queues retire_work; one run retires the submits that completed (coalesced IRQs: 1-4 per
run). For each submit, in ring order, the run signals its hw fence (dma_fence_signaled, inside
the worker since v6.1), fires msm_gpu_submit_retired, then msm_submit_retire: per BO msm_gem_lock
(v5.15/v6.19; it may wait for a client holding the BO), unpin, unlock and put. Where the put is the
last one, the finalizer runs according to the scenario's free_mode:
- "sync": msm_gem_free_object right here, delaying the fences of the following submits;
- "async": queued to msm-free-worker, which shares the ordered queue with retire_work, so the
  free batch runs before the next retire run can start (queue delay, not run time);
- "trylock_defer": trylock the resv (the BO shares its VM's resv); free inline on success, else
  msm-free-worker frees it later after a blocking lock.
"""
from __future__ import annotations

import numpy as np

from . import catalog
from .clients import SubmitPlan, _comms
from .timeline import (free_duration_ns, lognormal_ns, offsets_in_group, pick, queue_starts,
                       rank_in_group, uniform_ns)
from .world import FREE_WORKER_TID, GPU_WORKER_TID, World

RUN_SIZES = {1: 0.55, 2: 0.3, 3: 0.1, 4: 0.05}


def run(world: World, p: SubmitPlan) -> None:
    sc, rng, log = world.scenario, world.rng("retire"), world.log
    n = len(p)
    total_rate = sum(world.rate(c.submits_per_s) for c in sc.clients)
    order = np.argsort(p.end, kind="stable")
    elapsed = lognormal_ns(rng, 0.45e9 / total_rate, 0.5, n, 20_000, 50_000_000)
    gstart = queue_starts(p.end[order] + 15_000, elapsed, 0)
    done = gstart + elapsed
    submit_id = np.empty(n, dtype=np.int64)
    submit_id[order] = 1000 + np.arange(n)
    seqno = 52_000 + np.arange(n)

    sizes = pick(rng, n, RUN_SIZES)
    run_of = np.repeat(np.arange(n), sizes)[:n]          # submits in GPU order -> run
    n_runs = int(run_of[-1]) + 1 if n else 0
    last = np.r_[run_of[1:] != run_of[:-1], True] if n else np.zeros(0, bool)
    irq = done[last]

    # BO rows in retire order
    nb = p.nr_bos[order]
    bsub = np.repeat(np.arange(n), nb)                   # position of the submit in GPU order
    brow = p.bo_first[order][bsub] + rank_in_group(bsub)
    obj_i = p.bo_obj[brow]
    tr = p.bo_transient[brow]
    client = p.client[order][bsub]
    size = world.objects.size_of(obj_i)
    nbo = len(brow)
    locks = sc.retire_locks
    contended = locks & ~tr & (rng.random(nbo) < sc.retire_contention)
    wait = lognormal_ns(rng, 40_000, 0.9, nbo, 8_000, 3_000_000)
    pre, post = uniform_ns(rng, 150, 400, nbo), uniform_ns(rng, 100, 300, nbo)
    lock_dur = np.where(contended, pre + wait + post, uniform_ns(rng, 150, 900, nbo)) * locks
    hold = uniform_ns(rng, 600, 2_500, nbo) * locks
    unlock_gap = uniform_ns(rng, 100, 300, nbo)
    fdur = free_duration_ns(rng, size, sc.free_per_mib_ns, sc.free_base_ns, 0.35)
    mode = sc.free_mode
    try_dur = uniform_ns(rng, 150, 400, nbo)
    try_fail = tr & (mode == "trylock_defer") & (rng.random(nbo) < sc.free_trylock_fail)
    inline = tr & ((mode == "sync") | ((mode == "trylock_defer") & ~try_fail))
    put_gap = 150
    tail = np.where(mode == "trylock_defer", try_dur + 100, 0) * tr
    bo_block = lock_dur + hold + unlock_gap + put_gap + tail + np.where(inline, fdur, 0) \
        + np.where(tr & ~inline, 300, 0) + uniform_ns(rng, 200, 500, nbo)

    head_sig = uniform_ns(rng, 400, 900, n)              # signal -> submit_retired tracepoint
    head_ret = uniform_ns(rng, 300, 800, n)              # tracepoint -> first BO
    sub_tail = uniform_ns(rng, 1_000, 3_000, n)
    bo_sum = np.bincount(bsub, weights=bo_block, minlength=n).astype(np.int64)
    sub_block = head_sig + head_ret + bo_sum + sub_tail
    run_head, run_tail = uniform_ns(rng, 2_000, 4_000, n_runs), uniform_ns(rng, 1_000, 2_000,
                                                                              n_runs)
    run_dur = run_head + np.bincount(run_of, weights=sub_block, minlength=n_runs).astype(
        np.int64) + run_tail

    # async: the run's frees form one free_work batch that runs right after it, on the queue
    bo_run = run_of[bsub]
    deferred = tr & (mode == "async")
    fgap = uniform_ns(rng, 300, 700, nbo)
    batch = np.bincount(bo_run[deferred], weights=(fdur + fgap)[deferred],
                        minlength=n_runs).astype(np.int64)
    has_batch = batch > 0
    batch_lead = 2_000
    service = run_dur + np.where(has_batch, batch_lead + 3_000 + batch + 1_000, 0)
    wake = uniform_ns(rng, 5_000, 40_000, n_runs)
    bursts = _teardown_bursts(world) if mode == "async" else None
    if bursts is None:
        start = queue_starts(irq + wake, service, 2_000)
    else:   # bursts share the ordered queue: serve everything in order of arrival
        arrive = np.r_[irq + wake, bursts["arrive"]]
        order_q = np.argsort(arrive, kind="stable")
        both = np.empty(len(arrive), dtype=np.int64)
        both[order_q] = queue_starts(arrive[order_q], np.r_[service, bursts["service"]][order_q],
                                     2_000)
        start = both[:n_runs]
        _emit_bursts(world, rng, bursts, both[n_runs:])
    queue_delay = start - irq

    sig = start[run_of] + run_head[run_of] + offsets_in_group(sub_block, run_of)
    bo_t = sig[bsub] + head_sig[bsub] + head_ret[bsub] + offsets_in_group(bo_block, bsub)
    fin_per_sub = np.bincount(bsub[inline], weights=fdur[inline], minlength=n).astype(np.int64)
    fin_delay = offsets_in_group(fin_per_sub, run_of)

    gw = np.full(n_runs, GPU_WORKER_TID, dtype=np.int32)
    log.add("retire_run", {**world.threads.columns(gw, rng), "ts_ns": start,
                           "duration_ns": run_dur, "queue_delay_ns": queue_delay,
                           "submits_retired": np.bincount(run_of, minlength=n_runs),
                           "_in_retire_run": True})
    gwn = np.full(n, GPU_WORKER_TID, dtype=np.int32)
    log.add("fence_signal", {**world.threads.columns(gwn, rng), "ts_ns": sig,
                             "fence_context": catalog.FENCE_CONTEXT, "seqno": seqno,
                             "driver": "msm", "timeline": catalog.TIMELINE,
                             "_in_retire_run": True, "_fin_delay_ns": fin_delay})
    ticks = lambda t: (t * catalog.AON_TICKS_PER_NS).astype(np.uint64)  # noqa: E731
    pid_of = np.array([c.pid for c in sc.clients])
    log.add("gpu_retired", {**world.threads.columns(gwn, rng), "ts_ns": sig + head_sig,
                            "submit_id": submit_id[order], "ring_id": 0, "seqno": seqno,
                            "submit_pid": pid_of[p.client[order]], "gpu_elapsed_ns": elapsed,
                            "gpu_clock_mhz": catalog.GPU_CLOCK_MHZ, "start_ticks": ticks(gstart),
                            "end_ticks": ticks(done)})
    log.add("gpu_submit", {**world.threads.columns(world.client_tids(p.client, "submit"), rng),
                           "ts_ns": p.submit_ts, "submit_id": submit_id, "ring_id": 0,
                           "nr_bos": p.nr_bos, "nr_cmds": rng.integers(1, 4, n),
                           "submit_pid": pid_of[p.client]})

    obj = catalog.obj_addr(obj_i)
    resv = catalog.resv_addr(obj_i)
    gtid = np.full(nbo, GPU_WORKER_TID, dtype=np.int32)
    if locks:
        holder = world.client_tids(client, "holder")
        hcomm = np.where(contended, client, -1)
        log.add("resv_lock", {
            **world.threads.columns(gtid, rng), "ts_ns": bo_t, "lock_addr": resv,
            "obj_addr": obj, "ctx_addr": 0, "duration_ns": lock_dur, "ret": 0,
            "holder_tid": np.where(contended, holder, 0), "holder_comm": _comms(world, hcomm),
            "context": "retire_worker", "in_reclaim": False,
            "caller": catalog.CALLERS["retire_lock"], "stack_id": catalog.stack_id("retire_lock"),
            "api": "ww_mutex_lock", "is_resv": True, "_waited": contended,
            "_retire_outside_free": True})
        c = contended
        log.add("lock_contention", {
            **world.threads.columns(gtid[c], rng), "ts_ns": bo_t[c] + pre[c],
            "lock_addr": resv[c], "flags": 0x20, "duration_ns": wait[c], "ret": 0,
            "holder_tid": holder[c], "holder_comm": _comms(world, client[c]), "is_resv": True,
            "context": "retire_worker", "in_reclaim": False,
            "stack_id": catalog.stack_id("contention_retire")})
        k = int(c.sum())
        wait_from = bo_t[c] + pre[c]
        released = wait_from + wait[c] - uniform_ns(rng, 1_000, 4_000, k)
        world.episodes.add(resv[c], obj[c], holder[c],
                           wait_from - uniform_ns(rng, 3_000, 60_000, k), released, 1,
                           must_from=wait_from, must_to=released)
        log.add("resv_hold", {
            **world.threads.columns(gtid, rng), "ts_ns": bo_t + lock_dur, "lock_addr": resv,
            "obj_addr": obj, "duration_ns": hold, "context": "retire_worker",
            "caller": catalog.CALLERS["retire_lock"], "stack_id": catalog.stack_id("retire_lock")})

    put_t = bo_t + lock_dur + hold + unlock_gap
    log.add("last_put", {
        **world.threads.columns(gtid[tr], rng), "ts_ns": put_t[tr], "obj_addr": obj[tr],
        "size_bytes": size[tr], "context": "retire_worker", "in_reclaim": False,
        "stack_id": catalog.stack_id("put_retire"), "caller": catalog.CALLERS["put_retire"]})
    willneed = np.uint64(catalog.LRU["willneed"])
    free_t = put_t + put_gap + np.where(mode == "trylock_defer", try_dur + 100, 0)
    _free(world, rng, inline, gtid, free_t, obj, size, fdur, resv, willneed, "retire_worker",
          "free_retire", in_run=True)

    if mode == "async":
        b = deferred
        bstart = start + run_dur + batch_lead + 3_000
        t = bstart[bo_run[b]] + offsets_in_group((fdur + fgap)[b], bo_run[b])
        ftid = np.full(int(b.sum()), FREE_WORKER_TID, dtype=np.int32)
        _free(world, rng, np.ones(len(t), bool), ftid, t, obj[b], size[b], fdur[b], resv[b],
              willneed, "other", "free_worker", in_run=False)
    if mode == "trylock_defer":
        _trylock_defer(world, rng, tr, try_fail, put_t + put_gap, try_dur, client, obj_i, size,
                       fdur, gtid)


def _teardown_bursts(world: World) -> dict | None:
    """Clients closing 80-250 BOs at once; each burst is one long free_work item."""
    sc, rng = world.scenario, world.rng("retire.bursts")
    n = rng.poisson(world.rate(sc.teardown_bursts_per_s) * world.duration_ns / 1e9)
    if not n:
        return None
    count = rng.integers(80, 251, n)
    obj_i = world.objects.new(int(count.sum()))
    size = world.objects.size_of(obj_i)
    fdur = free_duration_ns(rng, size, sc.free_per_mib_ns, sc.free_base_ns, 0.35)
    fgap = uniform_ns(rng, 300, 700, len(obj_i))
    of = np.repeat(np.arange(n), count)
    at = np.sort(world.t0 + 5_000_000 + rng.integers(0, max(world.duration_ns - 100_000_000, 1),
                                                     n))
    service = 3_000 + np.bincount(of, weights=fdur + fgap, minlength=n).astype(np.int64) + 1_000
    return dict(n=n, count=count, of=of, obj=obj_i, size=size, fdur=fdur, fgap=fgap,
                arrive=at + 20_000, close_at=at, service=service,
                client=rng.integers(0, len(sc.clients), n))


def _emit_bursts(world, rng, b, start) -> None:
    """The client's last puts (its main thread, GEM_CLOSE) and the worker's frees of a burst."""
    of, obj_i = b["of"], b["obj"]
    k = len(obj_i)
    rank = offsets_in_group(np.ones(k, dtype=np.int64), of)
    put_t = b["close_at"][of] - (b["count"][of] - rank) * 1_500
    obj = catalog.obj_addr(obj_i)
    world.log.add("last_put", {
        **world.threads.columns(world.client_tids(b["client"][of], "main"), rng), "ts_ns": put_t,
        "obj_addr": obj, "size_bytes": b["size"], "context": "ioctl", "in_reclaim": False,
        "stack_id": catalog.stack_id("put_close"), "caller": catalog.CALLERS["put_close"]})
    t = start[of] + 3_000 + offsets_in_group(b["fdur"] + b["fgap"], of)
    _free(world, rng, np.ones(k, bool), np.full(k, FREE_WORKER_TID, dtype=np.int32), t, obj,
          b["size"], b["fdur"], catalog.resv_addr(obj_i), np.uint64(catalog.LRU["dontneed"]),
          "other", "free_worker", in_run=False)


def _free(world, rng, mask, tid, ts, obj, size, dur, lock, lru, context, stack, in_run):
    m = np.asarray(mask)
    world.log.add("free", {
        **world.threads.columns(np.asarray(tid)[m], rng), "ts_ns": np.asarray(ts)[m],
        "obj_addr": obj[m], "size_bytes": size[m], "duration_ns": dur[m], "context": context,
        "in_reclaim": False, "lru_addr": lru, "lock_addr": lock[m],
        "stack_id": catalog.stack_id(stack), "_in_retire_run": in_run})


def _trylock_defer(world, rng, tr, fail, ts, dur, client, obj_i, size, fdur, gtid) -> None:
    """The free path's trylock of the (VM-shared) resv, and the deferred frees it causes."""
    log = world.log
    obj = catalog.obj_addr(obj_i)
    vm = world.vm_resv(client, obj_i)
    holder = world.client_tids(client, "holder")
    log.add("resv_trylock", {
        **world.threads.columns(gtid[tr], rng), "ts_ns": ts[tr], "lock_addr": vm[tr],
        "obj_addr": obj[tr], "ctx_addr": 0, "success": ~fail[tr],
        "holder_tid": np.where(fail, holder, 0)[tr],
        "holder_comm": _comms(world, np.where(fail, client, -1)[tr]), "context": "retire_worker",
        "in_reclaim": False, "caller": catalog.CALLERS["free_trylock"],
        "stack_id": catalog.stack_id("free_trylock_retire"), "api": "ww_mutex_trylock",
        "stage": None, "size_bytes": size[tr], "is_resv": True})
    f = fail
    k = int(f.sum())
    release = ts[f] + uniform_ns(rng, 20_000, 300_000, k)
    world.episodes.add(vm[f], obj[f], holder[f], ts[f] - uniform_ns(rng, 5_000, 60_000, k),
                       release, 0, must_from=ts[f], must_to=ts[f] + dur[f])
    ready = np.maximum(ts[f] + dur[f] + uniform_ns(rng, 10_000, 50_000, k), release + 3_000)
    order = np.argsort(ready, kind="stable")
    lock_dur = uniform_ns(rng, 150, 900, k)
    service = lock_dur + 200 + fdur[f][order] + 500
    start = queue_starts(ready[order], service, 1_000)
    wtid = np.full(k, FREE_WORKER_TID, dtype=np.int32)
    log.add("resv_lock", {
        **world.threads.columns(wtid, rng), "ts_ns": start, "lock_addr": vm[f][order],
        "obj_addr": obj[f][order], "ctx_addr": 0, "duration_ns": lock_dur, "ret": 0,
        "holder_tid": 0, "holder_comm": None, "context": "other", "in_reclaim": False,
        "caller": catalog.CALLERS["deferred_free_lock"],
        "stack_id": catalog.stack_id("free_worker_lock"), "api": "ww_mutex_lock",
        "is_resv": True, "_waited": False})
    _free(world, rng, np.ones(k, bool), wtid, start + lock_dur + 200, obj[f][order],
          size[f][order], fdur[f][order], vm[f][order],
          np.uint64(catalog.LRU["willneed"]), "other", "free_worker", in_run=False)
