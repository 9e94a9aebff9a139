"""What the BPF path reads in the kernel and kprobe_events cannot, derived after mapping from the
events around it (the tracefs backend and imports):

- a trylock's shrinker stage: the stage of the drm_gem_lru_scan call of the same thread that
  contains it (the BPF path keeps it as per-thread state);
- the holder of a lock at a failed trylock or a blocking lock call: the task whose acquisition
  of the same lock (a blocking lock that returned 0, or a trylock that succeeded) ended last
  before it (the BPF path reads the mutex owner's pid and comm; fetch-args cannot mask the
  owner word's flag bits to follow it).
Not derivable: the pages a drm_gem_lru_scan call added to *remaining (msm gives each stage its
own counter, zero at entry, and a kretprobe cannot read the pointer): the trylock failures'
object sizes give the pages they skipped instead.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NO_ROW = -1


def enclosing(tid: np.ndarray, ts: np.ndarray, iv_tid: np.ndarray, iv_start: np.ndarray,
              iv_end: np.ndarray) -> np.ndarray:
    """For each (tid, ts): the row of the interval of the same tid that started last at or before
    ts, when it had not ended before ts; NO_ROW otherwise."""
    n = len(ts)
    if n == 0 or len(iv_start) == 0:
        return np.full(n, NO_ROW, np.int64)
    left = pd.DataFrame({"tid": np.asarray(tid, np.int64), "ts": np.asarray(ts, np.int64),
                         "pos": np.arange(n)}).sort_values("ts", kind="stable")
    right = pd.DataFrame({"tid": np.asarray(iv_tid, np.int64),
                          "ts": np.asarray(iv_start, np.int64),
                          "end": np.asarray(iv_end, np.int64),
                          "row": np.arange(len(iv_start))}).sort_values("ts", kind="stable")
    m = pd.merge_asof(left, right, on="ts", by="tid", direction="backward")
    row = m["row"].fillna(NO_ROW).to_numpy(np.int64)
    ok = (row >= 0) & (m["end"].fillna(-1).to_numpy(np.int64) >= m["ts"].to_numpy(np.int64))
    out = np.full(n, NO_ROW, np.int64)
    out[m["pos"].to_numpy()] = np.where(ok, row, NO_ROW)
    return out


def _np(col, dtype=np.int64, fill=0) -> np.ndarray:
    if isinstance(col, np.ndarray):
        return col.astype(dtype, copy=False)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col.fill_null(fill).to_numpy(zero_copy_only=False).astype(dtype)


def _valid(col, n: int) -> np.ndarray:
    if col is None:
        return np.zeros(n, bool)
    if isinstance(col, np.ndarray):
        return np.ones(n, bool)
    return col.is_valid().to_numpy(zero_copy_only=False)


def derive_lock_facts(out) -> int:
    """Fill the columns above in `out` (a mapping.Mapped) where they are null, and keep only the
    ww_mutex calls on reservations; returns how many calls on other ww_mutexes were dropped."""
    lru = out.kinds.get("lru_scan")
    tl = out.kinds.get("resv_trylock")
    if tl is not None and lru is not None:
        _trylock_stage(tl, lru)
    dropped = _reservations_only(out)
    _holders(out.kinds.get("resv_trylock"), out.kinds.get("resv_lock"))
    return dropped


def _filter(cols: dict, keep: np.ndarray) -> dict:
    mask = pa.array(keep)
    return {k: (v[keep] if isinstance(v, np.ndarray) else v.filter(mask)) for k, v in cols.items()}


def _reservations_only(out) -> int:
    """The BPF path records ww_mutex calls on reservations only (its dma_resv registry, and the
    locks drm_gem_lru_scan trylocks); kprobes see every ww_mutex (msm's KMS crtc locks, the
    regulator core's). Here a lock is a reservation when it is a GEM object's own resv (is_resv
    from `back`) or a trylock inside an LRU scan took it; calls known to be on something else
    are dropped, and lock contentions are marked as on a reservation when their lock is one of
    the kept calls' locks. Without `back` (no BTF, older recordings) nothing is dropped and
    is_resv stays unknown."""
    dropped = 0
    resv_locks = []
    known_any = False
    for kind in ("resv_trylock", "resv_lock"):
        cols = out.kinds.get(kind)
        if cols is None or "is_resv" not in cols:
            continue
        n = len(cols["ts_ns"])
        own = cols["is_resv"]
        known = _valid(own, n)
        known_any |= bool(known.any())
        is_resv = _bool(own, n, False)
        if kind == "resv_trylock" and cols.get("stage") is not None:
            in_scan = _valid(cols["stage"], n)
            is_resv |= in_scan
            known |= in_scan
        keep = ~known | is_resv
        dropped += int((~keep).sum())
        cols["is_resv"] = pa.array(is_resv, pa.bool_(), mask=~known)
        if not keep.all():
            out.kinds[kind] = cols = _filter(cols, keep)
        resv_locks.append(_np(cols["lock_addr"], np.uint64)[_bool(cols["is_resv"],
                                                                  len(cols["ts_ns"]), False)])
    cont = out.kinds.get("lock_contention")
    if cont is not None and known_any:
        locks = np.unique(np.concatenate(resv_locks)) if resv_locks else np.zeros(0, np.uint64)
        cont["is_resv"] = np.isin(_np(cont["lock_addr"], np.uint64), locks)
    return dropped


def _trylock_stage(tl: dict, lru: dict) -> None:
    if tl.get("stage") is not None:
        return
    st = _np(lru["ts_ns"])
    row = enclosing(_np(tl["tid"]), _np(tl["ts_ns"]), _np(lru["tid"]), st,
                    st + _np(lru["duration_ns"]))
    stages = lru["stage"]
    stages = stages.combine_chunks() if isinstance(stages, pa.ChunkedArray) else stages
    tl["stage"] = pc.if_else(pa.array(row != NO_ROW), stages.take(pa.array(np.maximum(row, 0))),
                             pa.scalar(None, pa.string()))


def _bool(col, n: int, fill: bool) -> np.ndarray:
    if col is None:
        return np.full(n, fill)
    if isinstance(col, np.ndarray):
        return col.astype(bool)
    return col.fill_null(fill).to_numpy(zero_copy_only=False).astype(bool)


def _arrow(col) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks()
    return col if isinstance(col, pa.Array) else pa.array(col)


def _holders(tl: dict | None, locks: dict | None) -> None:
    """holder_tid / holder_comm of failed trylocks and blocking lock calls: the last acquisition
    of the same lock that ended before the call began."""
    acq, comms, tids = [], [], []
    for kind, cols in (("resv_trylock", tl), ("resv_lock", locks)):
        if cols is None or not len(cols["ts_ns"]):
            continue
        n = len(cols["ts_ns"])
        ok = _bool(cols["success"], n, False) if kind == "resv_trylock" else \
            (_np(cols["ret"], fill=-1) == 0)
        ok &= _valid(cols["duration_ns"], n)
        rows = np.flatnonzero(ok)
        base = sum(len(c) for c in comms)
        comms.append(_arrow(cols["comm"]).take(pa.array(rows)))
        tids.append(_np(cols["tid"], np.int32)[rows])
        acq.append(pd.DataFrame({
            "lock": _np(cols["lock_addr"], np.uint64)[rows],
            "ts": (_np(cols["ts_ns"]) + _np(cols["duration_ns"]))[rows],
            "acq": base + np.arange(len(rows))}))
    if not acq:
        return
    a = pd.concat(acq, ignore_index=True).sort_values("ts", kind="stable")
    comm_of = pa.concat_arrays([c.cast(pa.string()) for c in comms])
    tid_of = np.concatenate(tids)
    for cols, which in ((tl, "failed"), (locks, "all")):
        if cols is None or not len(cols["ts_ns"]):
            continue
        n = len(cols["ts_ns"])
        want = ~_bool(cols["success"], n, True) if which == "failed" else np.ones(n, bool)
        q = pd.DataFrame({"lock": _np(cols["lock_addr"], np.uint64), "ts": _np(cols["ts_ns"]),
                          "pos": np.arange(n)})[want].sort_values("ts", kind="stable")
        m = pd.merge_asof(q, a, on="ts", by="lock", direction="backward",
                          allow_exact_matches=True)
        acq_row = np.full(n, -1, np.int64)
        acq_row[m["pos"].to_numpy()] = m["acq"].fillna(-1).to_numpy(np.int64)
        has = acq_row >= 0
        tid = np.where(has, tid_of[np.maximum(acq_row, 0)], 0) if len(tid_of) else \
            np.zeros(n, np.int32)
        cols["holder_tid"] = pa.array(tid.astype(np.int32), pa.int32(), mask=~has)
        cols["holder_comm"] = pc.if_else(pa.array(has), comm_of.take(pa.array(
            np.maximum(acq_row, 0))), pa.scalar(None, pa.string())) if len(comm_of) else \
            pa.nulls(n, pa.string())
