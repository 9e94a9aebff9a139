"""finalizers: free-duration distribution by context and size class, frees in reclaim,
slowest frees with stacks, last puts, cannot-answer."""
from __future__ import annotations

from analysis_rows import ev, frames

from tracer.analyses.finalizers import ANALYSIS as finalizers

MiB = 1 << 20


def _rows():
    return {
        "free": [
            ev(100, 7, "gpu-worker", context="retire_worker", duration_ns=1000, size_bytes=4096,
               stack_id=1),
            ev(200, 7, "gpu-worker", context="retire_worker", duration_ns=3000,
               size_bytes=65536),
            ev(300, 40, "app", context="ioctl", duration_ns=2000, size_bytes=65537),
            ev(400, 5, "kswapd0", context="shrinker", in_reclaim=True, duration_ns=10000,
               size_bytes=32 * MiB),
            ev(500, 41, "other", context="other", in_reclaim=True, duration_ns=None),
            ev(600, 42, "cc1", context="reclaim", duration_ns=500, size_bytes=16 * MiB),
        ],
        "last_put": [
            ev(90, 7, "gpu-worker", context="retire_worker", caller="retire_submits+0x1c"),
            ev(190, 7, "gpu-worker", context="retire_worker", caller="retire_submits+0x1c"),
            ev(390, 5, "kswapd0", context="shrinker", in_reclaim=True,
               caller="drm_gem_lru_scan+0x110"),
        ],
        "stack": [ev(0, 0, "", stack_id=1, frames="msm_gem_free_object\nretire_submits")],
    }


def test_headline_exact():
    r = finalizers(frames(_rows()))
    h = r.headline
    # known durations sorted: 500, 1000, 2000, 3000, 10000 (positions 2, 3.6, 3.96)
    assert h["frees"] == 6
    assert h["frees_by_context"] == {"retire_worker": 2, "ioctl": 1, "shrinker": 1,
                                     "other": 1, "reclaim": 1}
    assert h["free_total_ns"] == 16500
    assert h["free_p50_ns"] == 2000
    assert h["free_p90_ns"] == 7200
    assert h["free_p99_ns"] == 9720
    assert h["free_max_ns"] == 10000
    assert h["free_total_ns_by_context"] == {"retire_worker": 4000, "ioctl": 2000,
                                             "shrinker": 10000, "reclaim": 500}
    assert h["frees_in_reclaim"] == 3         # shrinker, in_reclaim, reclaim context
    assert h["frees_in_retire_worker"] == 2 and h["frees_from_shrinker"] == 1
    assert h["freed_bytes"] == 4096 + 65536 + 65537 + 32 * MiB + 16 * MiB
    assert h["last_puts"] == 3
    assert h["last_puts_by_context"] == {"retire_worker": 2, "shrinker": 1}
    assert any("1 frees had an unknown duration" in n for n in r.notes)


def test_size_classes_and_slowest():
    r = finalizers(frames(_rows()))
    sc = r.tables["by_size_class"].set_index("size_class")
    assert list(sc.index) == ["<=4KiB", "<=64KiB", "<=1MiB", "<=16MiB", ">16MiB", "unknown"]
    assert list(sc["frees"]) == [1, 1, 1, 1, 1, 1]
    assert list(sc["total_ns"]) == [1000, 3000, 2000, 500, 10000, 0]
    slow = r.tables["slowest"]
    assert list(slow["duration_ns"]) == [10000, 3000, 2000, 1000, 500]
    assert slow.loc[3, "stack"] == "msm_gem_free_object\nretire_submits"
    ctx = r.tables["by_context"].set_index("context")
    assert ctx.loc["retire_worker", "p50_ns"] == 2000 and ctx.loc["other", "frees"] == 1
    lp = r.tables["last_put_sites"]
    assert lp.loc[0, "caller"] == "retire_submits+0x1c" and lp.loc[0, "last_puts"] == 2


def test_cannot_answer():
    r = finalizers(frames({"resv_lock": []}, recorded=["resv_lock"]))
    assert not r.answerable and r.missing == ("free",)
    z = finalizers(frames({}, recorded=["free"]))
    assert z.headline["frees"] == 0 and z.headline["free_p99_ns"] is None
    assert "last_puts" not in z.headline           # last_put not recorded: no number at all
