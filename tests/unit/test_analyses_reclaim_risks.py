"""reclaim_risks: blocking resv locks, ctx trylocks, frees and fence waits under reclaim."""
from __future__ import annotations

from analysis_rows import ev, frames

from tracer.analyses.reclaim_risks import ANALYSIS as reclaim_risks

TICKET = 0xFFFFFFC00A3BBD40


def _rows():
    return {
        "resv_lock": [ev(100, 5, "kswapd0", in_reclaim=True, context="shrinker",
                         caller="with_vm_locks+0x44", lock_addr=0xA0, duration_ns=900,
                         stack_id=3),
                      ev(200, 40, "app", in_reclaim=False, context="ioctl"),
                      ev(300, 41, "cc1", in_reclaim=None, context="reclaim", caller="x+0x1"),
                      ev(400, 7, "gpu-worker", in_reclaim=False, context="retire_worker")],
        "resv_trylock": [ev(110, 5, "kswapd0", ctx_addr=TICKET, in_reclaim=True,
                            context="shrinker", caller="drm_gem_lru_scan+0x9c", success=True),
                         ev(120, 5, "kswapd0", ctx_addr=0, in_reclaim=True, success=False),
                         ev(130, 5, "kswapd0", ctx_addr=None, in_reclaim=True, success=True),
                         ev(140, 40, "app", ctx_addr=TICKET, in_reclaim=False, context="ioctl",
                            success=True)],
        "free": [ev(150, 5, "kswapd0", context="shrinker", in_reclaim=True, duration_ns=10),
                 ev(250, 7, "gpu-worker", context="retire_worker", in_reclaim=False),
                 ev(350, 5, "kswapd0", context="other", in_reclaim=True)],
        "fence_wait": [ev(160, 5, "kswapd0", in_reclaim=True, context="shrinker",
                          duration_ns=10_000_000),
                       ev(260, 40, "app", in_reclaim=False, context="ioctl")],
        "stack": [ev(0, 0, "", stack_id=3, frames="ww_mutex_lock\nwith_vm_locks\nevict")],
    }


def test_headline_exact():
    h = reclaim_risks(frames(_rows())).headline
    assert h == {"blocking_resv_locks_in_reclaim": 2, "ctx_trylocks_in_reclaim": 1,
                 "frees_in_reclaim": 2, "frees_from_shrinker": 1, "fence_waits_in_reclaim": 1}


def test_risk_table_has_each_event_with_its_stack():
    t = reclaim_risks(frames(_rows())).tables["risks"]
    assert list(t["ts_ns"]) == [100, 110, 150, 160, 300, 350]
    assert list(t["risk"]) == ["blocking_resv_lock_in_reclaim", "ctx_trylock_in_reclaim",
                               "free_in_reclaim", "fence_wait_in_reclaim",
                               "blocking_resv_lock_in_reclaim", "free_in_reclaim"]
    assert t.loc[0, "stack"] == "ww_mutex_lock\nwith_vm_locks\nevict"
    assert t.loc[0, "site"] == "with_vm_locks+0x44" and t.loc[0, "lock_addr"] == 0xA0


def test_optional_kinds_not_recorded_are_none():
    rows = _rows()
    del rows["resv_trylock"], rows["fence_wait"]
    r = reclaim_risks(frames(rows))
    assert r.headline["ctx_trylocks_in_reclaim"] is None
    assert r.headline["fence_waits_in_reclaim"] is None
    assert r.headline["blocking_resv_locks_in_reclaim"] == 2


def test_cannot_answer():
    r = reclaim_risks(frames({"resv_lock": _rows()["resv_lock"]}))
    assert not r.answerable and r.missing == ("free",)


def test_by_risk_and_site_counts_every_event_with_its_stack():
    t = reclaim_risks(frames(_rows())).tables["by_risk_and_site"]
    got = {(r.risk, r.site, r.events, r.stack) for r in t.itertuples()}
    assert got == {
        ("blocking_resv_lock_in_reclaim", "with_vm_locks+0x44", 1,
         "ww_mutex_lock\nwith_vm_locks\nevict"),
        ("blocking_resv_lock_in_reclaim", "x+0x1", 1, ""),
        ("ctx_trylock_in_reclaim", "drm_gem_lru_scan+0x9c", 1, ""),
        ("free_in_reclaim", "shrinker", 1, ""),
        ("free_in_reclaim", "other", 1, ""),
        ("fence_wait_in_reclaim", "shrinker", 1, ""),
    }
