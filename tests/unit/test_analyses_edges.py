"""run_all at the edges: every kind recorded but nothing happened (answers are zeros / None,
never errors), nothing recorded (every analysis says cannot answer), and the JSON of both."""
from __future__ import annotations

import json

from analysis_rows import frames

from tracer.analyses import ALL, run_all
from tracer.render import report_dict
from tracer.schema import KINDS


def test_everything_recorded_nothing_happened():
    res = run_all(frames({}, recorded=list(KINDS)))
    assert [r.answerable for r in res.values()] == [True] * len(ALL)
    h = {name: r.headline for name, r in res.items()}
    assert h["contention"]["resv_lock_calls"] == 0 and h["contention"]["resv_waits"] == 0
    assert h["contention"]["resv_wait_p99_ns"] is None
    assert h["trylock"]["trylocks"] == 0 and h["trylock"]["failed_bytes"] == 0
    assert h["finalizers"]["frees"] == 0 and h["finalizers"]["frees_by_context"] == {}
    assert h["retire"]["retire_runs"] == 0 and h["retire"]["fences_delayed_by_finalizers"] == 0
    assert h["shrinker"]["scans"] == 0 and h["shrinker"]["frees_overlapping_scans"] == 0
    assert h["shrinker"]["counts"] == 0 and h["shrinker"]["freed_pages_by_stage"] == {}
    assert h["reclaim_risks"] == {"blocking_resv_locks_in_reclaim": 0,
                                  "ctx_trylocks_in_reclaim": 0, "frees_in_reclaim": 0,
                                  "frees_from_shrinker": 0, "fence_waits_in_reclaim": 0}
    f = frames({}, recorded=list(KINDS))
    json.dumps(report_dict(f, res), allow_nan=False)


def test_nothing_recorded_every_analysis_cannot_answer():
    f = frames({}, recorded=[])
    res = run_all(f)
    assert {n: r.missing for n, r in res.items()} == {
        "contention": ("resv_lock",), "trylock": ("resv_trylock",), "finalizers": ("free",),
        "retire": ("retire_run", "free"), "shrinker": ("shrink_scan",),
        "reclaim_risks": ("resv_lock", "free")}
    rep = report_dict(f, res)
    assert all(a["headline"] == {} and not a["answerable"] for a in rep["analyses"].values())
