"""Pure helpers behind the views: formatting, plot data, alerts, the worst event."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tracer.analyses.base import Result
from tracer.frames import frames_from_rows
from tui.alerts import alerts
from tui.fmt import fmt_cell, fmt_value
from tui.plotdata import log2_histogram, reclaim_delay_by_task, time_series
from tui.worst import worst_event


def test_fmt_value_and_cell():
    assert fmt_value("resv_wait_max_ns", 9_000_000) == "9 ms"
    assert fmt_value("resv_wait_p50_ns", np.float64(40_000)) == "40 us"
    assert fmt_value("trylock_failure_rate", 0.35) == "35.00%"
    assert fmt_value("waits_by_task", {"a": 1, "b": 5, "c": 3, "d": 2, "e": 9}) == \
        "e: 9, b: 5, c: 3, d: 2 (+1 more)"
    assert fmt_value("resv_wait_max_ns", None) == "n/a (not recorded)"
    assert fmt_cell("lock_addr", np.uint64(0xffff888000100488)) == "0xffff888000100488"
    assert fmt_cell("ts_ns", 5_300_050_000, 5_000_050_000) == "0.300000"
    assert fmt_cell("holder_comm", pd.NA) == "-"


def test_log2_histogram_buckets():
    h = log2_histogram(pd.Series([1, 3, 4, 7, 1000, None], dtype="Int64"))
    assert h.lower == tuple(2 ** k for k in range(0, 10))
    assert h.counts == (1, 1, 2, 0, 0, 0, 0, 0, 0, 1)
    assert h.total == 5
    assert log2_histogram([]).total == 0


def test_time_series_sums_weights_per_bin_and_ignores_outside():
    s = time_series([0, 5, 10, 99, 100], (0, 100), 4, weights=[1, 2, 3, 4, 50])
    assert s.tolist() == [6.0, 0.0, 0.0, 4.0]
    assert time_series([1, 2], (0, 100), 2).tolist() == [2.0, 0.0]


def test_reclaim_delay_by_task_is_last_minus_first():
    ts = pd.DataFrame({"target_tid": [1, 1, 2, 2], "target_comm": ["a", "a", "b", "b"],
                       "freepages_delay_ns": [10, 50, 0, 7]})
    out = reclaim_delay_by_task(ts)
    assert out.values.tolist() == [["a", 1, 40, 2], ["b", 2, 7, 2]]


def test_alerts_from_headlines():
    results = {
        "reclaim_risks": Result("reclaim_risks", "", (), headline={
            "blocking_resv_locks_in_reclaim": 2, "ctx_trylocks_in_reclaim": 0,
            "fence_waits_in_reclaim": 0, "frees_in_reclaim": 1}),
        "retire": Result("retire", "", (), headline={"fences_delayed_by_finalizers": 0}),
    }
    assert alerts(results) == [
        "LOCK ORDER: 2 blocking reservation lock(s) taken inside memory reclaim (reclaim -> "
        "dma_resv can deadlock against dma_resv -> allocation)",
        "RECLAIM: 1 GEM object free(s) ran inside memory reclaim"]
    assert alerts({}) == []


def test_worst_event_per_view():
    f = frames_from_rows({
        "resv_lock": [dict(ts_ns=10, cpu=0, pid=1, tid=1, comm="a", duration_ns=5),
                      dict(ts_ns=20, cpu=0, pid=1, tid=1, comm="a", duration_ns=50),
                      dict(ts_ns=30, cpu=0, pid=1, tid=1, comm="a", duration_ns=50)],
        "free": [dict(ts_ns=40, cpu=0, pid=1, tid=1, comm="a", duration_ns=70)],
        "resv_trylock": [dict(ts_ns=50, cpu=0, pid=1, tid=1, comm="a", success=True,
                              size_bytes=1 << 20),
                         dict(ts_ns=60, cpu=0, pid=1, tid=1, comm="a", success=False,
                              size_bytes=4096)]})
    w = worst_event(f, "contention")
    assert (w.kind, w.row, w.ts_ns, w.value) == ("resv_lock", 1, 20, 50)   # first of the ties
    assert worst_event(f, "finalizers").ts_ns == 40
    assert worst_event(f, "trylock").ts_ns == 60      # failures only
    assert worst_event(f, "overview").kind == "free"
    assert worst_event(f, "retire") is None
