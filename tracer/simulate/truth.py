"""The ground-truth manifest: what the model injected, counted from the model's own arrays.

Never computed by running gemscope's analyses. The numbers come from the events the actors
created and the tags they set while creating them ("this lock call was made to wait", "this free
ran inside a retire run", "this fence signal came after N ns of frees in its run"). The keys are
exactly the headline keys of docs/contributing.md; definitions follow the analyses' docstrings:
- a resv wait is a blocking lock call the model made wait (it also has a lock_contention and a
  duration above 1 us; uncontended calls last 150-900 ns); its wait is the call's duration;
- retire reservation time is every resv_lock call the retire worker made in its runs outside a
  free; fence delay is the time of the frees of earlier submits of the same run;
- a free overlaps a scan when [ts, ts + duration] meets an lru_scan interval of the same LRU.
Percentiles: numpy "linear", rounded to the nearest ns. Counts are exact.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .events import EventLog

HEADLINE_KEYS = {
    "contention": ("resv_lock_calls", "resv_waits", "resv_wait_total_ns", "resv_wait_p50_ns",
                   "resv_wait_p90_ns", "resv_wait_p99_ns", "resv_wait_max_ns",
                   "edeadlk_backoffs", "waits_by_task", "waits_by_caller"),
    "trylock": ("trylocks", "trylock_failures", "trylock_failure_rate", "failures_by_caller",
                "failures_by_stage", "failed_bytes", "failures_self_held",
                "failures_by_holder"),
    "finalizers": ("frees", "frees_by_context", "free_total_ns", "free_p50_ns", "free_p99_ns",
                   "free_max_ns", "free_total_ns_by_context", "frees_in_reclaim"),
    "retire": ("retire_runs", "retire_run_total_ns", "retire_finalizer_ns",
               "retire_resv_wait_ns", "retire_other_ns", "retire_queue_delay_p50_ns",
               "retire_queue_delay_max_ns", "fences_delayed_by_finalizers",
               "fence_delay_by_finalizers_total_ns"),
    "shrinker": ("scans", "counts", "scan_total_ns", "scan_p99_ns", "requested_pages",
                 "freed_pages", "remaining_pages", "freed_pages_by_stage",
                 "frees_overlapping_scans"),
    "reclaim_risks": ("blocking_resv_locks_in_reclaim", "ctx_trylocks_in_reclaim",
                      "frees_in_reclaim", "frees_from_shrinker", "fence_waits_in_reclaim"),
}


def _pct(values: np.ndarray, q: float) -> int | None:
    if not len(values):
        return None
    return int(round(float(np.percentile(values, q, method="linear"))))


def _max(values: np.ndarray) -> int | None:
    return int(values.max()) if len(values) else None


def _counts(labels: np.ndarray) -> dict[str, int]:
    return {str(k): int(v) for k, v in Counter(labels.tolist()).most_common()}


def _sums(labels: np.ndarray, values: np.ndarray) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in np.unique(labels):
        out[str(k)] = int(values[labels == k].sum())
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def contention(log: EventLog) -> dict[str, Any]:
    waited = log.tag("resv_lock", "_waited").astype(bool)
    dur = log.column("resv_lock", "duration_ns").astype(np.int64)
    w = dur[waited]
    return {
        "resv_lock_calls": int(len(dur)),
        "resv_waits": int(waited.sum()),
        "resv_wait_total_ns": int(w.sum()),
        "resv_wait_p50_ns": _pct(w, 50), "resv_wait_p90_ns": _pct(w, 90),
        "resv_wait_p99_ns": _pct(w, 99), "resv_wait_max_ns": _max(w),
        "edeadlk_backoffs": int((log.column("resv_lock", "ret") == -35).sum()),
        "waits_by_task": _counts(log.column("resv_lock", "comm")[waited]),
        "waits_by_caller": _counts(log.column("resv_lock", "caller")[waited]),
    }


def trylock(log: EventLog) -> dict[str, Any]:
    n = log.count("resv_trylock")
    if not n:
        return {"trylocks": 0, "trylock_failures": 0, "trylock_failure_rate": 0.0,
                "failures_by_caller": {}, "failures_by_stage": {}, "failed_bytes": 0,
                "failures_self_held": 0, "failures_by_holder": {}}
    ok = log.column("resv_trylock", "success").astype(bool)
    f = ~ok
    stage = log.column("resv_trylock", "stage")
    stage = np.where(stage == None, "outside_shrinker", stage)  # noqa: E711
    holder = log.column("resv_trylock", "holder_tid")
    tid = log.column("resv_trylock", "tid")
    return {
        "trylocks": int(n), "trylock_failures": int(f.sum()),
        "trylock_failure_rate": float(f.sum() / n),
        "failures_by_caller": _counts(log.column("resv_trylock", "caller")[f]),
        "failures_by_stage": _counts(stage[f]),
        "failed_bytes": int(log.column("resv_trylock", "size_bytes")[f].astype(np.uint64).sum()),
        "failures_self_held": int((holder[f] == tid[f]).sum()),
        "failures_by_holder": _counts(log.column("resv_trylock", "holder_comm")[f]),
    }


def finalizers(log: EventLog) -> dict[str, Any]:
    dur = log.column("free", "duration_ns").astype(np.int64)
    ctx = log.column("free", "context")
    return {
        "frees": int(len(dur)), "frees_by_context": _counts(ctx),
        "free_total_ns": int(dur.sum()), "free_p50_ns": _pct(dur, 50),
        "free_p99_ns": _pct(dur, 99), "free_max_ns": _max(dur),
        "free_total_ns_by_context": _sums(ctx, dur),
        "frees_in_reclaim": int(log.column("free", "in_reclaim").astype(bool).sum()),
    }


def retire(log: EventLog) -> dict[str, Any]:
    run = log.column("retire_run", "duration_ns").astype(np.int64)
    qd = log.column("retire_run", "queue_delay_ns").astype(np.int64)
    fin = int(log.column("free", "duration_ns").astype(np.int64)[
        log.tag("free", "_in_retire_run").astype(bool)].sum())
    resv = int(log.column("resv_lock", "duration_ns").astype(np.int64)[
        log.tag("resv_lock", "_retire_outside_free").astype(bool)].sum())
    delay = log.tag("fence_signal", "_fin_delay_ns", 0).astype(np.int64)
    return {
        "retire_runs": int(len(run)), "retire_run_total_ns": int(run.sum()),
        "retire_finalizer_ns": fin, "retire_resv_wait_ns": resv,
        "retire_other_ns": int(run.sum()) - fin - resv,
        "retire_queue_delay_p50_ns": _pct(qd, 50), "retire_queue_delay_max_ns": _max(qd),
        "fences_delayed_by_finalizers": int((delay > 0).sum()),
        "fence_delay_by_finalizers_total_ns": int(delay.sum()),
    }


def _overlapping(fs: np.ndarray, fe: np.ndarray, flru: np.ndarray, ss: np.ndarray,
                 se: np.ndarray, slru: np.ndarray) -> int:
    """Frees whose closed interval meets a closed scan interval of the same LRU."""
    hits = 0
    for lru in np.unique(slru):
        m = slru == lru
        order = np.argsort(ss[m], kind="stable")
        starts, reach = ss[m][order], np.maximum.accumulate(se[m][order])
        f = flru == lru
        last = np.searchsorted(starts, fe[f], side="right") - 1
        ok = last >= 0
        hits += int((reach[np.maximum(last, 0)][ok] >= fs[f][ok]).sum())
    return hits


def shrinker(log: EventLog) -> dict[str, Any]:
    dur = log.column("shrink_scan", "duration_ns").astype(np.int64)
    freed = log.column("shrink_scan", "freed_pages")
    stage = log.column("lru_scan", "stage")
    lru_freed = log.column("lru_scan", "freed_pages").astype(np.int64)
    fs = log.column("free", "ts_ns").astype(np.int64)
    ss = log.column("lru_scan", "ts_ns").astype(np.int64)
    overlap = _overlapping(fs, fs + log.column("free", "duration_ns").astype(np.int64),
                           log.column("free", "lru_addr").astype(np.uint64), ss,
                           ss + log.column("lru_scan", "duration_ns").astype(np.int64),
                           log.column("lru_scan", "lru_addr").astype(np.uint64)) \
        if len(ss) and len(fs) else 0
    return {
        "scans": int(len(dur)), "counts": int(log.count("shrink_count")),
        "scan_total_ns": int(dur.sum()), "scan_p99_ns": _pct(dur, 99),
        "requested_pages": int(log.column("shrink_scan", "nr_to_scan_pages").astype(
            np.int64).sum()),
        "freed_pages": int(np.nansum(freed.astype(np.float64))) if len(freed) else 0,
        "remaining_pages": int(log.column("lru_scan", "remaining_pages").astype(
            np.int64).sum()),
        "freed_pages_by_stage": _sums(stage, lru_freed) if len(stage) else {},
        "frees_overlapping_scans": overlap,
    }


def reclaim_risks(log: EventLog) -> dict[str, Any]:
    tl_ctx = log.column("resv_trylock", "ctx_addr")
    tl_rec = log.column("resv_trylock", "in_reclaim")
    return {
        "blocking_resv_locks_in_reclaim": int(log.column("resv_lock", "in_reclaim").astype(
            bool).sum()),
        "ctx_trylocks_in_reclaim": int(((tl_ctx != 0) & tl_rec.astype(bool)).sum())
        if len(tl_ctx) else 0,
        "frees_in_reclaim": int(log.column("free", "in_reclaim").astype(bool).sum()),
        "frees_from_shrinker": int((log.column("free", "context") == "shrinker").sum()),
        "fence_waits_in_reclaim": int(log.column("fence_wait", "in_reclaim").astype(
            bool).sum()),
    }


def manifest(log: EventLog, scenario: str, seed: int) -> dict[str, Any]:
    truth = {name: fn(log) for name, fn in (
        ("contention", contention), ("trylock", trylock), ("finalizers", finalizers),
        ("retire", retire), ("shrinker", shrinker), ("reclaim_risks", reclaim_risks))}
    for name, keys in HEADLINE_KEYS.items():
        assert tuple(truth[name]) == keys, name
    return {"scenario": scenario, "seed": int(seed), "synthetic": True, "truth": truth}
