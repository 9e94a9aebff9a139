"""shrinker: the active stages' fence waits (dma_resv_wait_timeout inside a scan), their stage
from the shrink_object call that contains them, and timeouts (ret == 0)."""
from __future__ import annotations

from analysis_rows import ev, frames

from tracer.analyses.shrinker import ANALYSIS as shrinker


def _rows(with_calls: bool = True):
    rows = {
        "shrink_scan": [ev(1000, 5, "kswapd0", duration_ns=100_000, nr_to_scan_pages=128,
                           freed_pages=8)],
        "fence_wait": [
            # inside active_purge on tid 5: signalled after 2 ms
            ev(2000, 5, "kswapd0", duration_ns=2_000_000, ret=8, timeout_ns=40_000_000,
               context="shrinker"),
            # inside the second active_purge call: timed out
            ev(3_000_000, 5, "kswapd0", duration_ns=40_000_000, ret=0,
               timeout_ns=40_000_000, context="shrinker"),
            # tid 6 has no call around it: unknown stage, timed out
            ev(3_000_000, 6, "other", duration_ns=40_000_000, ret=0, context="shrinker"),
            # not in the shrinker (the retire worker's): not counted here
            ev(5000, 7, "retire", duration_ns=99, ret=1, context="retire_worker"),
            # ends after its enclosing call ended: not contained, unknown stage
            ev(50_000_000, 5, "kswapd0", duration_ns=10_000, ret=None, context="shrinker"),
        ],
    }
    if with_calls:
        rows["shrink_object"] = [
            ev(1500, 5, "kswapd0", stage="active_purge", duration_ns=2_100_000, success=True),
            ev(2_900_000, 5, "kswapd0", stage="active_purge", duration_ns=40_200_000,
               success=False),
            ev(49_999_000, 5, "kswapd0", stage="active_evict", duration_ns=5000,
               success=False),
        ]
    return rows


def test_fence_waits_in_the_shrinker_exact():
    r = shrinker(frames(_rows()))
    h = r.headline
    assert h["fence_waits"] == 4
    assert h["fence_wait_timeouts"] == 2
    assert h["fence_wait_total_ns"] == 2_000_000 + 40_000_000 + 40_000_000 + 10_000
    t = r.tables["fence_waits_by_stage"].set_index("stage")
    assert t.loc["active_purge", "waits"] == 2
    assert t.loc["active_purge", "total_ns"] == 42_000_000
    assert t.loc["active_purge", "timeouts"] == 1
    assert t.loc["unknown", "waits"] == 2
    assert t.loc["unknown", "timeouts"] == 1
    assert "active_evict" not in t.index


def test_without_shrink_object_or_lru_scan_every_stage_is_unknown():
    r = shrinker(frames(_rows(with_calls=False)))
    t = r.tables["fence_waits_by_stage"]
    assert list(t["stage"]) == ["unknown"] and int(t["waits"].iloc[0]) == 4
    assert any("neither shrink_object nor lru_scan was recorded" in n for n in r.notes)


def test_without_shrink_object_the_lru_scan_around_gives_the_stage():
    """The tracefs backend has no per-object calls: the drm_gem_lru_scan call of the same
    thread that contains the wait gives its stage."""
    rows = _rows(with_calls=False)
    rows["lru_scan"] = [
        ev(1200, 5, "kswapd0", stage="active_purge", duration_ns=45_000_000, freed_pages=8),
        ev(49_990_000, 5, "kswapd0", stage="active_evict", duration_ns=5000, freed_pages=0)]
    r = shrinker(frames(rows))
    t = r.tables["fence_waits_by_stage"].set_index("stage")
    assert t.loc["active_purge", "waits"] == 2 and t.loc["active_purge", "timeouts"] == 1
    assert t.loc["unknown", "waits"] == 2
    assert not any("stage of a fence wait" in n for n in r.notes)


def test_fence_wait_not_recorded_is_said():
    rows = _rows()
    del rows["fence_wait"]
    r = shrinker(frames(rows))
    assert r.headline["fence_waits"] is None
    assert any("fence_wait was not recorded" in n for n in r.notes)
