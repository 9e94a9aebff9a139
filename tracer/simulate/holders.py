"""The lock holders behind injected waits and trylock failures.

Every injected wait or failed trylock asked (world.episodes) for a task to hold that resv over an
interval that must cover the wait (or the trylock). Here each becomes the holder's own
uncontended resv_lock and its resv_hold, after two fixes that keep the lock history possible:
- the optional part of a hold (before the wait began, after the trylock failed) is trimmed so it
  never covers another task's acquisition or hold of the same lock;
- holds of one task on one lock that still overlap are merged into one (a ww_mutex is held once).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import catalog
from .events import strings
from .timeline import uniform_ns
from .world import World

MARGIN_NS = 200


def _blockers(world: World, locks: np.ndarray) -> pd.DataFrame:
    """Intervals in which some task other than a holder episode has one of `locks`:
    holds, uncontended acquisitions (held a little after), successful trylocks."""
    log, parts = world.log, []
    for kind, pad_before, pad_after in (("resv_hold", 1_000, 0), ("resv_lock", 0, 2_000),
                                        ("resv_trylock", 0, 2_000)):
        if not log.count(kind):
            continue
        lock = log.column(kind, "lock_addr").astype(np.uint64)
        ts = log.column(kind, "ts_ns").astype(np.int64)
        dur = log.column(kind, "duration_ns").astype(np.int64) if kind != "resv_trylock" \
            else np.zeros(len(ts), dtype=np.int64)
        keep = np.isin(lock, locks)
        if kind == "resv_trylock":
            keep &= log.column(kind, "success").astype(bool)
        parts.append(pd.DataFrame({"lock": lock[keep], "start": ts[keep] - pad_before,
                                   "end": ts[keep] + dur[keep] + pad_after}))
    if not parts:
        return pd.DataFrame({"lock": np.zeros(0, np.uint64), "start": np.zeros(0, np.int64),
                             "end": np.zeros(0, np.int64)})
    return pd.concat(parts, ignore_index=True)


def _trim(ep: pd.DataFrame, blk: pd.DataFrame) -> pd.DataFrame:
    """Move each hold's start after the last blocker that ended before its required part, and
    its end before the first blocker that starts after it."""
    ep = ep.reset_index(drop=True)
    ep["_row"] = np.arange(len(ep))
    if len(blk):
        before = pd.merge_asof(ep.sort_values("must_from"),
                               blk.sort_values("end")[["lock", "end"]].rename(
                                   columns={"end": "must_from_b"}).assign(
                                   must_from=lambda d: d["must_from_b"]),
                               on="must_from", by="lock", direction="backward")
        before = before.sort_values("_row")
        last_end = before["must_from_b"].to_numpy(dtype=np.float64, na_value=-np.inf)
        ep["acquire"] = np.maximum(ep["acquire"].to_numpy(),
                                   np.minimum(last_end + MARGIN_NS,
                                              ep["must_from"].to_numpy() - 50)).astype(np.int64)
        after = pd.merge_asof(ep.sort_values("must_to"),
                              blk.sort_values("start")[["lock", "start"]].rename(
                                  columns={"start": "must_to_b"}).assign(
                                  must_to=lambda d: d["must_to_b"]),
                              on="must_to", by="lock", direction="forward")
        after = after.sort_values("_row")
        first_start = after["must_to_b"].to_numpy(dtype=np.float64, na_value=np.inf)
        ep["release"] = np.minimum(ep["release"].to_numpy(),
                                   np.maximum(first_start - MARGIN_NS,
                                              ep["must_to"].to_numpy() + 50)).astype(np.int64)
    return ep.drop(columns="_row")


def _merge(ep: pd.DataFrame) -> pd.DataFrame:
    """One hold per (lock, task) and overlapping interval. (numpy, not pandas shift: a shifted
    uint64 column turns float and kernel addresses 1 KiB apart would compare equal.)"""
    ep = ep.sort_values(["lock", "tid", "acquire"], kind="stable", ignore_index=True)
    lock, tid = ep["lock"].to_numpy(), ep["tid"].to_numpy()
    acquire, release = ep["acquire"].to_numpy(), ep["release"].to_numpy()
    key_change = np.r_[True, (lock[1:] != lock[:-1]) | (tid[1:] != tid[:-1])]
    key = np.cumsum(key_change)
    reach = pd.Series(release).groupby(key).cummax().to_numpy()
    new = key_change.copy()
    new[1:] |= acquire[1:] > reach[:-1]
    first = np.flatnonzero(new)
    return pd.DataFrame({"lock": lock[first], "obj": ep["obj"].to_numpy()[first],
                         "tid": tid[first], "site": ep["site"].to_numpy()[first],
                         "acquire": acquire[first],
                         "release": np.maximum.reduceat(release, first) if len(first)
                         else release[:0]})


def emit_holders(world: World) -> None:
    ep_lists, rng, log = world.episodes, world.rng("holders"), world.log
    if not ep_lists.acquire_ns:
        return
    cat = {name: np.concatenate(getattr(ep_lists, name)) for name in (
        "lock_addr", "obj_addr", "tid", "acquire_ns", "release_ns", "site", "must_from",
        "must_to")}
    if not len(cat["tid"]):
        return
    ep = pd.DataFrame({"lock": cat["lock_addr"].astype(np.uint64),
                       "obj": cat["obj_addr"].astype(np.uint64),
                       "tid": cat["tid"].astype(np.int32), "site": cat["site"].astype(np.int64),
                       "acquire": cat["acquire_ns"].astype(np.int64),
                       "release": cat["release_ns"].astype(np.int64),
                       "must_from": cat["must_from"].astype(np.int64),
                       "must_to": cat["must_to"].astype(np.int64)})
    ep = _merge(_trim(ep, _blockers(world, np.unique(ep["lock"].to_numpy()))))
    ep = ep.sort_values("acquire", kind="stable", ignore_index=True)
    n = len(ep)
    lock_dur = uniform_ns(rng, 150, 900, n)
    site = ep["site"].to_numpy()
    submit = site == 0
    ticket = catalog.addr_range(catalog.SUBMIT_BASE + 0x1000000, np.arange(n) % 512,
                                catalog.SUBMIT_STRIDE) + np.uint64(catalog.TICKET_OFFSET)
    sc = world.scenario
    submit_site = "submit_lock" if sc.ticket or sc.retire_locks else "submit_lock_legacy"
    callers = [catalog.CALLERS[submit_site], catalog.CALLERS["madvise_lock"]]
    stack = np.where(submit, catalog.stack_id(submit_site), catalog.stack_id("madvise_lock"))
    cols = world.threads.columns(ep["tid"].to_numpy(), rng)
    acquire, release = ep["acquire"].to_numpy(), ep["release"].to_numpy()
    lock, obj = ep["lock"].to_numpy(), ep["obj"].to_numpy()
    log.add("resv_lock", {
        **cols, "ts_ns": acquire - lock_dur, "lock_addr": lock, "obj_addr": obj,
        "ctx_addr": np.where(submit, ticket, np.uint64(0)), "duration_ns": lock_dur, "ret": 0,
        "holder_tid": 0, "holder_comm": None, "context": "ioctl", "in_reclaim": False,
        "caller": strings(callers, site), "stack_id": stack,
        "api": strings(["ww_mutex_lock_interruptible", "ww_mutex_lock"], site),
        "is_resv": True, "_waited": False})
    log.add("resv_hold", {
        **cols, "ts_ns": acquire, "lock_addr": lock, "obj_addr": obj,
        "duration_ns": release - acquire, "context": "ioctl", "caller": strings(callers, site),
        "stack_id": stack})
