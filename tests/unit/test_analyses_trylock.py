"""trylock: counts, failure rate over known outcomes, by caller/stage/holder, failed bytes,
self-held failures, failures per second, cannot-answer."""
from __future__ import annotations

from analysis_rows import ev, frames

from tracer.analyses.trylock import ANALYSIS as trylock

SCAN, MADV = "drm_gem_lru_scan+0x9c", "msm_gem_madvise+0x20"
S = 1_000_000_000


def _rows():
    return {
        "lost": [ev(0, 0, "", lost_count=0)],    # anchors the recording start at t = 0
        "resv_trylock": [
            ev(S // 2, 5, "kswapd0", success=False, holder_tid=10, holder_comm="submit",
               stage="purge", size_bytes=8192, caller=SCAN),
            ev(6 * S // 10, 5, "kswapd0", success=True, stage="purge", size_bytes=4096,
               caller=SCAN),
            ev(12 * S // 10, 5, "kswapd0", success=False, holder_tid=5, holder_comm="kswapd0",
               stage="evict", size_bytes=1 << 20, caller=SCAN),
            ev(13 * S // 10, 40, "app", success=False, holder_tid=10, holder_comm="submit",
               caller=MADV),
            ev(27 * S // 10, 40, "app", success=None, caller=MADV),
            ev(28 * S // 10, 40, "app", success=True, caller=MADV),
        ],
    }


def test_headline_exact():
    r = trylock(frames(_rows()))
    h = r.headline
    assert h["trylocks"] == 6
    assert h["trylock_failures"] == 3
    assert h["trylock_failure_rate"] == 3 / 5       # one outcome unknown
    assert h["failures_by_caller"] == {SCAN: 2, MADV: 1}
    assert h["failures_by_stage"] == {"purge": 1, "evict": 1, "outside_shrinker": 1}
    assert h["failed_bytes"] == 8192 + (1 << 20)      # the failure of unknown size is left out
    assert h["failures_self_held"] == 1
    assert h["failures_by_holder"] == {"submit": 2, "kswapd0": 1}
    assert any("unknown outcome" in n for n in r.notes)
    assert any("unknown object size" in n for n in r.notes)


def test_tables():
    r = trylock(frames(_rows()))
    per_s = r.tables["failures_per_second"]
    assert list(per_s["second"]) == [0, 1, 2]
    assert list(per_s["trylocks"]) == [2, 2, 2]
    assert list(per_s["failures"]) == [1, 2, 0]
    stage = r.tables["by_stage"].set_index("stage")
    assert stage.loc["purge", "trylocks"] == 2 and stage.loc["purge", "failures"] == 1
    assert stage.loc["purge", "failure_rate"] == 0.5
    assert stage.loc["outside_shrinker", "trylocks"] == 3
    assert stage.loc["evict", "failed_bytes"] == 1 << 20
    holders = r.tables["holders"]
    self_rows = holders[holders["self_held"]]
    assert list(self_rows["holder_comm"]) == ["kswapd0"] and list(self_rows["failures"]) == [1]


def test_cannot_answer_and_empty():
    r = trylock(frames({}, recorded=["resv_lock"]))
    assert not r.answerable and r.missing == ("resv_trylock",) and r.headline == {}
    z = trylock(frames({}, recorded=["resv_trylock"]))
    assert z.headline["trylocks"] == 0 and z.headline["trylock_failures"] == 0
    assert z.headline["trylock_failure_rate"] == 0.0
    assert z.headline["failures_by_stage"] == {}
