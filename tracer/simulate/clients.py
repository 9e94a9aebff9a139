"""GPU client processes submitting work through DRM_IOCTL_MSM_GEM_SUBMIT.

A submit ioctl locks every BO's reservation with the submit's ww acquire ticket (drm_exec, v6.19),
pins the pages (which may enter direct reclaim: the shrinker then runs inside this ioctl, while
it holds those locks), emits the msm_gpu_submit tracepoint and unlocks. Injected interactions:
- a wait on a dma-buf shared with another process whose thread holds its resv;
- of those, some first back off with -EDEADLK (wait-die: the younger ticket dies), drop the locks
  they hold, sleep on the contended lock (dma_resv_lock_slow) and lock the dropped ones again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog
from .events import strings
from .timeline import lognormal_ns, offsets_in_group, queue_starts, rank_in_group, uniform_ns
from .world import World

NORMAL, CONTENDED, DEADLK, SLOW, RELOCK = 0, 1, 2, 3, 4
WS_SLOTS, WS_BOS = 8, 24          # working sets of up to 24 BOs, reused every 8th submit
SHARED_BUFS = 8                    # dma-bufs shared between clients
MAX_BOS = 16


@dataclass
class SubmitPlan:
    """One row per submit (client-major, time order within a client) and one row per BO."""
    client: np.ndarray
    arrival: np.ndarray
    nr_bos: np.ndarray
    contention: np.ndarray        # 0 none, 1 waits on a shared resv, 2 -EDEADLK then waits
    direct: np.ndarray            # the page allocation enters direct reclaim
    bo_first: np.ndarray          # index of the submit's first BO row
    bo_sub: np.ndarray
    bo_obj: np.ndarray            # object index of each BO row
    bo_transient: np.ndarray      # the submit holds the last ref: freed when it retires
    # filled by timeline()
    start: np.ndarray | None = None
    end: np.ndarray | None = None
    direct_start: np.ndarray | None = None
    submit_ts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.client)


def plan(world: World) -> SubmitPlan:
    sc, rng = world.scenario, world.rng("clients.plan")
    clients, arrivals = [], []
    span = world.duration_ns - 60_000_000         # leave time for the last retire
    for i, c in enumerate(sc.clients):
        period = 1e9 / world.rate(c.submits_per_s)
        n = int(span / period) + 1
        gaps = period * rng.lognormal(0.0, 0.3, n)
        t = world.t0 + rng.integers(0, int(period)) + np.cumsum(gaps).astype(np.int64)
        t = t[t < world.t0 + span]
        clients.append(np.full(len(t), i, dtype=np.int64))
        arrivals.append(t)
    client, arrival = np.concatenate(clients), np.concatenate(arrivals)
    n = len(client)
    nr_bos = np.clip(rng.poisson(sc.bos_per_submit - 2, n) + 2, 2, MAX_BOS)
    contention = np.where(rng.random(n) < sc.client_contention,
                          np.where(rng.random(n) < sc.edeadlk_share, 2, 1), 0)
    direct = rng.random(n) < sc.direct_reclaim_share
    bo_sub = np.repeat(np.arange(n), nr_bos)
    bo_pos = rank_in_group(bo_sub)
    bo_first = np.concatenate(([0], np.cumsum(nr_bos)[:-1]))
    # the last few BOs of a submit may be transient (closed by the client, freed at retire);
    # BO 0 never is (it is the one backed off and re-locked, and the one direct reclaim meets)
    n_tr = np.minimum(rng.binomial(nr_bos, sc.transient_share), nr_bos - 1)
    transient = bo_pos >= (nr_bos - n_tr)[bo_sub]
    ws = world.objects.new(len(sc.clients) * WS_SLOTS * WS_BOS)
    slot = (np.arange(n) % WS_SLOTS)[bo_sub]
    bo_obj = ws[(client[bo_sub] * WS_SLOTS + slot) * WS_BOS + np.minimum(bo_pos, WS_BOS - 1)]
    bo_obj = bo_obj.copy()
    bo_obj[transient] = world.objects.new(int(transient.sum()))
    return SubmitPlan(client, arrival, nr_bos, contention, direct, bo_first, bo_sub, bo_obj,
                      transient)


def timeline(world: World, p: SubmitPlan, direct_ns: np.ndarray) -> None:
    """Place every submit ioctl in time, emit its events and fill p.start/end/direct_start.

    direct_ns: the length of each direct-reclaim pass, in the order of p.direct's True rows."""
    sc, rng, log = world.scenario, world.rng("clients.timeline"), world.log
    n = len(p)
    extra = np.array([0, 1, 3])[p.contention]
    rows = p.nr_bos + extra
    sub = np.repeat(np.arange(n), rows)
    pos = rank_in_group(sub)
    kind = np.full(len(sub), NORMAL)
    k = p.contention[sub]
    kind[(k == 1) & (pos == 1)] = CONTENDED
    kind[(k == 2) & (pos == 1)] = DEADLK
    kind[(k == 2) & (pos == 2)] = SLOW
    kind[(k == 2) & (pos == 3)] = RELOCK
    bo_pos = np.where(k == 1, pos - (pos > 1), np.where(k == 2, np.maximum(pos - 3, 0), pos))
    bo_row = p.bo_first[sub] + bo_pos
    shared = rng.integers(0, SHARED_BUFS, n)[sub]
    is_shared = (kind == CONTENDED) | (kind == DEADLK) | (kind == SLOW)
    imports = world.objects.new(len(sc.clients) * SHARED_BUFS, np.full(
        len(sc.clients) * SHARED_BUFS, 8 << 20, dtype=np.uint64))
    lock_addr = np.where(is_shared, catalog.addr_range(catalog.SHARED_RESV_BASE, shared),
                         catalog.resv_addr(p.bo_obj[bo_row]))
    obj = np.where(is_shared, catalog.obj_addr(imports[p.client[sub] * SHARED_BUFS + shared]),
                   catalog.obj_addr(p.bo_obj[bo_row]))

    wait = lognormal_ns(rng, 60_000, 1.0, n, 8_000, 5_000_000)[sub]
    backoff = uniform_ns(rng, 1_500, 6_000, len(sub))
    pre, post = uniform_ns(rng, 150, 400, len(sub)), uniform_ns(rng, 100, 300, len(sub))
    cont_ns = np.where(kind == DEADLK, backoff, np.where(is_shared, wait, 0))
    dur = np.where(is_shared, pre + cont_ns + post, uniform_ns(rng, 150, 900, len(sub)))
    gap = uniform_ns(rng, 300, 1_500, len(sub))
    off = offsets_in_group(dur + gap, sub)
    lock_phase = np.bincount(sub, weights=dur + gap, minlength=n).astype(np.int64)

    work = lognormal_ns(rng, 40_000, 0.5, n, 8_000, 2_000_000)
    reclaim = np.zeros(n, dtype=np.int64)
    reclaim[p.direct] = np.asarray(direct_ns, dtype=np.int64) + 5_000
    acquired = (kind != DEADLK) & ~((k == 2) & (pos == 0))
    n_holds = np.bincount(sub[acquired], minlength=n)
    ioctl = lock_phase + work + reclaim + n_holds * 150 + 2_000

    start = np.empty(n, dtype=np.int64)
    for c in range(len(sc.clients)):
        m = p.client == c
        start[m] = queue_starts(p.arrival[m], ioctl[m], 10_000)
    p.start, p.end = start, start + ioctl
    unlock = start + lock_phase + work + reclaim
    p.direct_start = (start + lock_phase + 5_000)[p.direct]

    ts = start[sub] + off
    tid = world.client_tids(p.client[sub], "submit")
    holder_client = (p.client + 1 + rng.integers(0, max(len(sc.clients) - 1, 1), n)) \
        % len(sc.clients)
    htid = world.client_tids(holder_client, "holder")[sub]
    hcomm = np.where(is_shared, holder_client[sub], -1)
    ticket = catalog.addr_range(catalog.SUBMIT_BASE, np.arange(n) % 2048,
                                catalog.SUBMIT_STRIDE) + np.uint64(catalog.TICKET_OFFSET)
    site = "submit_lock" if sc.ticket or sc.retire_locks else "submit_lock_legacy"
    caller, lock_stack = catalog.CALLERS[site], catalog.stack_id(site)
    cont_stack = catalog.stack_id("contention_submit" if site == "submit_lock"
                                  else "contention_submit_legacy")
    log.add("resv_lock", {
        **world.threads.columns(tid, rng), "ts_ns": ts, "lock_addr": lock_addr, "obj_addr": obj,
        "ctx_addr": ticket[sub], "duration_ns": dur, "ret": np.where(kind == DEADLK,
                                                                    catalog.EDEADLK, 0),
        "holder_tid": np.where(is_shared, htid, 0), "holder_comm": _comms(world, hcomm),
        "context": "ioctl", "in_reclaim": False, "caller": caller,
        "stack_id": lock_stack, "api": "ww_mutex_lock_interruptible",
        "is_resv": True, "_waited": is_shared})
    c = is_shared
    log.add("lock_contention", {
        **world.threads.columns(tid[c], rng), "ts_ns": ts[c] + pre[c],
        "lock_addr": lock_addr[c], "flags": 0x20, "duration_ns": cont_ns[c],
        "ret": np.where(kind[c] == DEADLK, catalog.EDEADLK, 0), "holder_tid": htid[c],
        "holder_comm": _comms(world, hcomm[c]), "is_resv": True, "context": "ioctl",
        "in_reclaim": False, "stack_id": cont_stack})

    # holds: from the lock call's return to the unlock at the end of the ioctl; BO 0 of a
    # backed-off submit is first released at the -EDEADLK return
    acq_end = ts + dur
    rank = rank_in_group(sub[acquired])
    release = np.empty(len(sub), dtype=np.int64)
    release[acquired] = unlock[sub[acquired]] + rank * 150
    first_bo0 = (k == 2) & (pos == 0)
    release[first_bo0] = acq_end[np.flatnonzero(first_bo0) + 1] + 150
    held = kind != DEADLK
    log.add("resv_hold", {
        **world.threads.columns(tid[held], rng), "ts_ns": acq_end[held],
        "lock_addr": lock_addr[held], "obj_addr": obj[held],
        "duration_ns": release[held] - acq_end[held], "context": "ioctl", "caller": caller,
        "stack_id": lock_stack})

    # the other process's thread holds the shared resv from before the first wait begins
    # until just before the last wait ends (the waiter wakes 1-4 us after the unlock)
    first_wait = (kind == CONTENDED) | (kind == DEADLK)
    last_wait = (kind == CONTENDED) | (kind == SLOW)
    cont_start, cont_end = ts + pre, ts + pre + cont_ns
    w_sub = sub[first_wait]
    acquire = cont_start[first_wait] - uniform_ns(rng, 5_000, 80_000, len(w_sub))
    rel = cont_end[last_wait] - uniform_ns(rng, 1_000, 4_000, len(w_sub))
    world.episodes.add(lock_addr[first_wait], obj[first_wait], htid[first_wait], acquire, rel, 0,
                       must_from=cont_start[first_wait], must_to=rel)

    p.submit_ts = unlock - 2_000            # msm_gpu_submit fires just before the unlocks


def _comms(world: World, client: np.ndarray):
    """Client comm per row (client index, -1 = null)."""
    return strings([c.comm for c in world.scenario.clients], client)
