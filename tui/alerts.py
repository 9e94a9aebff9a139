"""The Overview's alerts: the findings a maintainer must not miss, from headline numbers. Pure."""
from __future__ import annotations

from typing import Mapping

from tracer.analyses.base import Result

from .fmt import fmt_ns
from .snapshot import Health


def _h(results: Mapping[str, Result], analysis: str, key: str):
    r = results.get(analysis)
    return None if r is None else r.headline.get(key)


def alerts(results: Mapping[str, Result], health: Health | None = None) -> list[str]:
    """One line per problem found, most severe first; empty when nothing is wrong."""
    out: list[str] = []
    n = _h(results, "reclaim_risks", "blocking_resv_locks_in_reclaim")
    if n:
        out.append(f"LOCK ORDER: {n} blocking reservation lock(s) taken inside memory reclaim "
                   "(reclaim -> dma_resv can deadlock against dma_resv -> allocation)")
    n = _h(results, "reclaim_risks", "ctx_trylocks_in_reclaim")
    if n:
        out.append(f"LOCK ORDER: {n} trylock(s) with an acquire context inside reclaim")
    n = _h(results, "reclaim_risks", "fence_waits_in_reclaim")
    if n:
        out.append(f"RECLAIM: {n} fence wait(s) inside reclaim (the allocator waits on the GPU)")
    n = _h(results, "finalizers", "frees_in_reclaim")
    if n is None:
        n = _h(results, "reclaim_risks", "frees_in_reclaim")
    if n:
        out.append(f"RECLAIM: {n} GEM object free(s) ran inside memory reclaim")
    n = _h(results, "retire", "fences_delayed_by_finalizers")
    if n:
        total = _h(results, "retire", "fence_delay_by_finalizers_total_ns")
        extra = f", {fmt_ns(total)} in total" if total else ""
        out.append(f"RETIRE: {n} fence signal(s) delayed behind finalizers in the retire "
                   f"worker{extra}")
    if health is not None:
        if health.lost_events:
            out.append(f"HEALTH: the kernel dropped {health.lost_events} event(s); counts are "
                       "lower bounds")
        if health.truncated:
            out.append("HEALTH: the recording is truncated; the end of the trace is missing")
        if health.clock_warning:
            out.append(health.clock_warning)
    return out
