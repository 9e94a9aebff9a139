"""GEM_CLOSE frees in client processes.

A client closes the handle of an idle BO; drm_gem_object_free runs msm_gem_free_object in the
ioctl (context "ioctl"). Some closes are placed inside a shrinker scan of the LRU the object is on
(the kref_get_unless_zero window of the 2022 thread): their lru_remove then waits for the LRU
mutex the scan holds (a non-resv lock_contention).
"""
from __future__ import annotations

import numpy as np

from . import catalog
from .events import strings
from .timeline import free_duration_ns, queue_starts, uniform_ns
from .world import World


def emit_closes(world: World, scans: dict) -> None:
    sc, rng, log = world.scenario, world.rng("closes"), world.log
    n_clients = len(sc.clients)
    span = world.duration_ns - 20_000_000
    n_rand = rng.poisson(world.rate(sc.close_frees_per_s) * n_clients * span / 1e9)
    race = rng.random(len(scans["ts"])) < sc.racing_free_share
    n_race = int(race.sum())
    n = n_rand + n_race
    want = np.r_[world.t0 + rng.integers(0, max(span, 1), n_rand),
                 scans["ts"][race] + ((scans["end"] - scans["ts"])[race]
                                      * rng.uniform(0.05, 0.7, n_race)).astype(np.int64)]
    lru = np.r_[np.where(rng.random(n_rand) < 0.6, catalog.LRU["willneed"],
                         catalog.LRU["dontneed"]).astype(np.uint64),
                scans["lru"][race].astype(np.uint64)]
    racing = np.r_[np.zeros(n_rand, bool), np.ones(n_race, bool)]
    scan_tid = np.r_[np.zeros(n_rand, np.int32), scans["tid"][race]]
    client = rng.integers(0, n_clients, n)
    obj_i = world.objects.new(n)
    size = world.objects.size_of(obj_i)
    lru_wait = uniform_ns(rng, 1_000, 8_000, n) * racing
    fdur = free_duration_ns(rng, size, sc.free_per_mib_ns, sc.free_base_ns, 0.35) + lru_wait
    service = 150 + fdur + 500
    start = np.empty(n, dtype=np.int64)
    order = np.lexsort((want, client))
    for c in range(n_clients):
        idx = order[client[order] == c]
        start[idx] = queue_starts(want[idx], service[idx], 5_000)
    tid = world.client_tids(client, "close")
    cols = world.threads.columns(tid, rng)
    obj, resv = catalog.obj_addr(obj_i), catalog.resv_addr(obj_i)
    log.add("last_put", {**cols, "ts_ns": start, "obj_addr": obj, "size_bytes": size,
                         "context": "ioctl", "in_reclaim": False,
                         "stack_id": catalog.stack_id("put_close"),
                         "caller": catalog.CALLERS["put_close"]})
    log.add("free", {**cols, "ts_ns": start + 150, "obj_addr": obj, "size_bytes": size,
                     "duration_ns": fdur, "context": "ioctl", "in_reclaim": False,
                     "lru_addr": lru, "lock_addr": resv, "stack_id": catalog.stack_id("free_close"),
                     "_in_retire_run": False})
    r = racing
    holder_comm = strings([world.threads[int(t)].comm for t in np.unique(scan_tid[r])],
                          np.searchsorted(np.unique(scan_tid[r]), scan_tid[r]))
    log.add("lock_contention", {
        **{k: (v[r] if isinstance(v, np.ndarray) else v.take(np.flatnonzero(r)))
           for k, v in cols.items()},
        "ts_ns": start[r] + 150 + fdur[r] - lru_wait[r] - 600, "lock_addr": catalog.LRU_LOCK,
        "flags": 0x20, "duration_ns": lru_wait[r], "ret": 0, "holder_tid": scan_tid[r],
        "holder_comm": holder_comm, "is_resv": False, "context": "ioctl", "in_reclaim": False,
        "stack_id": catalog.stack_id("free_close_lru")})
