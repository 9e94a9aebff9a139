"""Builders of each schema kind from paired (begin, end) or single ftrace events: which event
field becomes which schema column, and the retire worker's queue delay / submits retired."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..jiffies import jiffies_to_ns
from .rawevents import EventGroup

STAGE_OF = {"purge": "purge", "evict": "evict", "active_purge": "active_purge",
            "active_evict": "active_evict", "vmap_shrink": "vmap"}
SHRINK_STOP = -1


def _f(g: EventGroup, name: str, idx: np.ndarray, typ=None) -> pa.Array:
    arr = g.fields.get(name)
    if arr is None:
        return pa.nulls(len(idx), typ or pa.int64())
    out = arr.take(pa.array(idx, pa.int64()))
    return out.cast(typ, safe=False) if typ is not None and out.type != typ else out


def _is_kswapd(comm: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.starts_with(comm, "kswapd"), False).to_numpy(zero_copy_only=False)


def _reclaim_kind(comm: pa.Array) -> pa.Array:
    return pa.array(np.where(_is_kswapd(comm), "kswapd", "direct"))



def _u64(arr: pa.Array) -> pa.Array:
    return arr.cast(pa.uint64(), safe=False) if arr.type != pa.uint64() else arr


# ---- kind builders: (cols, begin group, begin rows, end group, end rows, pairs, begin name)

def _b_lock_contention(c, gb, bi, ge, ei, p, _):
    c["lock_addr"] = _u64(_f(gb, "lock_addr", bi, pa.uint64()))
    c["flags"] = pa.array(p.begin_or.astype(np.uint32))
    c["ret"] = _f(ge, "ret", ei, pa.int64())


def _b_shrink_slab(c, gb, bi, ge, ei, p, _):
    c["shrinker"] = _f(gb, "shrink", bi, pa.string())
    c["nr_to_scan_pages"] = _f(gb, "total_scan", bi, pa.int64())
    c["count_pages"] = _f(gb, "cache_items", bi, pa.int64())
    c["gfp_flags"] = _f(gb, "gfp_flags", bi, pa.uint32())
    c["freed_pages"] = _f(ge, "retval", ei, pa.int64())


def _b_direct_reclaim(c, gb, bi, ge, ei, p, _):
    c["order"] = _f(gb, "order", bi, pa.int16())
    c["gfp_flags"] = _f(gb, "gfp_flags", bi, pa.uint32())
    c["nr_reclaimed_pages"] = _f(ge, "nr_reclaimed", ei, pa.int64())


def _b_retire_run(c, gb, bi, ge, ei, p, _):
    pass


def _b_free(c, gb, bi, ge, ei, p, _):
    c["obj_addr"] = _f(gb, "obj", bi, pa.uint64())
    c["size_bytes"] = _f(gb, "size", bi, pa.uint64())


def _b_shrink_scan(c, gb, bi, ge, ei, p, _):
    c["nr_to_scan_pages"] = _f(gb, "nr", bi, pa.int64())
    c["gfp_flags"] = _f(gb, "gfp", bi, pa.uint32())
    freed = _f(ge, "freed", ei, pa.int64())
    c["freed_pages"] = pc.if_else(pc.equal(freed, SHRINK_STOP), pa.scalar(None, pa.int64()), freed)
    c["reclaim_kind"] = _reclaim_kind(c["comm"])
    c["in_reclaim"] = np.ones(len(bi), bool)


def _b_shrink_count(c, gb, bi, ge, ei, p, _):
    c["count_pages"] = _f(ge, "cnt", ei, pa.int64())


def _b_lru_scan(c, gb, bi, ge, ei, p, _):
    c["lru_addr"] = _f(gb, "lru", bi, pa.uint64())
    # unknown: *remaining is written during the call, and a kretprobe cannot read the pointer
    c["remaining_pages"] = pa.nulls(len(bi), pa.int64())
    c["nr_to_scan_pages"] = _f(gb, "nr", bi, pa.int64())
    c["freed_pages"] = _f(ge, "freed", ei, pa.int64())
    fn = _f(gb, "fn", bi, pa.string())
    c["stage"] = pa.array([STAGE_OF.get(v) for v in fn.to_pylist()], pa.string())


def _b_resv_trylock(c, gb, bi, ge, ei, p, bname):
    c["lock_addr"] = _f(gb, "lock", bi, pa.uint64())
    c["ctx_addr"] = _f(gb, "ctx", bi, pa.uint64()) if bname == "try" else pa.nulls(len(bi), pa.uint64())
    c["success"] = pc.equal(_f(ge, "ok", ei, pa.int64()), 1)
    c["api"] = pa.array([("ww_mutex_trylock" if bname == "try" else "mutex_trylock")] * len(bi))
    c["caller"] = _f(ge, "caller", ei, pa.string())     # the return event's return address
    # the object's size, read relative to the lock: only an object's own resv has one
    c["is_resv"] = _own_resv(c["lock_addr"], gb, bi)
    c["size_bytes"] = pc.if_else(pc.fill_null(c["is_resv"], False),
                                 _f(gb, "size", bi, pa.uint64()), pa.scalar(None, pa.uint64()))


def _own_resv(lock: pa.Array, gb, bi) -> pa.Array:
    """Is the lock a GEM object's own reservation (the object's resv pointer, read at its offset
    from the lock as `back`, points at the lock)? Null when `back` was not read."""
    return pc.equal(_f(gb, "back", bi, pa.uint64()), lock)


def _b_resv_lock(c, gb, bi, ge, ei, p, bname):
    c["lock_addr"] = _f(gb, "lock", bi, pa.uint64())
    c["is_resv"] = _own_resv(c["lock_addr"], gb, bi)
    c["ctx_addr"] = _f(gb, "ctx", bi, pa.uint64())
    c["ret"] = _f(ge, "ret", ei, pa.int64())
    c["api"] = pa.array([("ww_mutex_lock_interruptible" if bname == "locki" else
                          "ww_mutex_lock")] * len(bi))
    c["caller"] = _f(ge, "caller", ei, pa.string())


def _b_fence_wait(c, gb, bi, ge, ei, p, _):
    c["lock_addr"] = _f(gb, "resv", bi, pa.uint64())
    # the kprobe fetches jiffies: fence_wait_timeouts() makes them ns where HZ is known
    c["timeout_ns"] = _f(gb, "tmo", bi, pa.int64())
    c["ret"] = _f(ge, "ret", ei, pa.int64())


def fence_wait_timeouts(c, hz: int | None) -> None:
    """timeout_ns from the jiffies _b_fence_wait put there: ns with the traced kernel's HZ
    (recorded by the live source), null without it (an import: HZ is not in the file)."""
    tmo = c["timeout_ns"]
    valid = tmo.is_valid().to_numpy(zero_copy_only=False)
    ns, ok = jiffies_to_ns(tmo.fill_null(0).to_numpy(zero_copy_only=False), hz)
    c["timeout_ns"] = pa.array(ns, pa.int64(), mask=~(ok & valid))


_BUILD = {"lock_contention": _b_lock_contention, "shrink_slab": _b_shrink_slab,
          "direct_reclaim": _b_direct_reclaim, "retire_run": _b_retire_run, "free": _b_free,
          "shrink_scan": _b_shrink_scan, "shrink_count": _b_shrink_count,
          "lru_scan": _b_lru_scan, "resv_trylock": _b_resv_trylock, "resv_lock": _b_resv_lock,
          "fence_wait": _b_fence_wait}


def _s_fence_signal(c, g, r):
    c["fence_context"] = _f(g, "context", r, pa.uint64())
    c["seqno"] = _f(g, "seqno", r, pa.uint32())
    c["driver"] = _f(g, "driver", r, pa.string())
    c["timeline"] = _f(g, "timeline", r, pa.string())


def _s_gpu_submit(c, g, r):
    c["submit_id"] = _f(g, "id", r, pa.uint32())
    c["ring_id"] = _f(g, "ringid", r, pa.uint32())
    c["nr_bos"] = _f(g, "nr_bos", r, pa.uint32())
    c["nr_cmds"] = _f(g, "nr_cmds", r, pa.uint32())
    c["submit_pid"] = _f(g, "pid", r, pa.int32())


def _s_gpu_retired(c, g, r):
    c["submit_id"] = _f(g, "id", r, pa.uint32())
    c["ring_id"] = _f(g, "ringid", r, pa.uint32())
    c["seqno"] = _f(g, "seqno", r, pa.uint32())
    c["submit_pid"] = _f(g, "pid", r, pa.int32())
    c["gpu_elapsed_ns"] = _f(g, "elapsed", r, pa.uint64())
    c["gpu_clock_mhz"] = _f(g, "clock", r, pa.uint64())
    c["start_ticks"] = _f(g, "start_ticks", r, pa.uint64())
    c["end_ticks"] = _f(g, "end_ticks", r, pa.uint64())


def _s_shrink_tp(c, g, r):
    for src, dst in (("nr_to_scan", "nr_to_scan_pages"), ("purged", "purged_pages"),
                     ("evicted", "evicted_pages"), ("active_purged", "active_purged_pages"),
                     ("active_evicted", "active_evicted_pages")):
        c[dst] = _f(g, src, r, pa.int64())


def _s_last_put(c, g, r):
    c["obj_addr"] = _f(g, "obj", r, pa.uint64())
    c["size_bytes"] = _f(g, "size", r, pa.uint64())
    c["caller"] = _f(g, "caller", r, pa.string())


_SINGLE = {"fence_signal": _s_fence_signal, "gpu_submit": _s_gpu_submit,
           "gpu_retired": _s_gpu_retired, "shrink_tp": _s_shrink_tp, "last_put": _s_last_put}


def _retire_extras(cols, groups, gb, bi, ge, ei) -> None:
    """queue_delay_ns from the last queue_work of the same work before the run started (when it
    came after the previous run started); submits_retired from msm_gpu_submit_retired events of
    the worker thread inside the run."""
    n = len(bi)
    start, end, tid = gb.ts[bi], ge.ts[ei], gb.tid[bi]
    work = gb.field_np("work", np.uint64)[0][bi]
    delay = np.full(n, -1, np.int64)
    q = groups.get("sched_kthread_work_queue_work")
    if q is not None and "work" in q.fields:
        qw = q.field_np("work", np.uint64)[0]
        for w in np.unique(work):
            qts = np.sort(q.ts[qw == w])
            if not len(qts):          # no queue_work of this work item: the delay is unknown
                continue
            mine = np.flatnonzero(work == w)
            j = np.searchsorted(qts, start[mine], side="right") - 1
            ok = j >= 0
            delay[mine[ok]] = start[mine[ok]] - qts[j[ok]]
            prev = np.r_[np.iinfo(np.int64).min, start[mine][:-1]]
            stale = ok & (qts[np.maximum(j, 0)] < prev)
            delay[mine[stale]] = -1
    cols["queue_delay_ns"] = pa.array(delay, pa.int64(), mask=delay < 0)
    r = groups.get("msm_gpu_submit_retired")
    counts = np.zeros(n, np.int64)
    if r is not None:
        for t in np.unique(tid):
            rts = np.sort(r.ts[r.tid == t])
            mine = np.flatnonzero(tid == t)
            counts[mine] = np.searchsorted(rts, end[mine], "right") - np.searchsorted(rts, start[mine])
    cols["submits_retired"] = pa.array(counts.astype(np.int32)) if r is not None \
        else pa.nulls(n, pa.int32())
