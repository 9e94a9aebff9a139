"""shrinker: scans, latency, freed vs requested, per-stage outcomes, trylock-skipped pages, and
frees overlapping a scan of the same LRU (the kref_get_unless_zero window)."""
from __future__ import annotations

from analysis_rows import ev, frames

from tracer.analyses.shrinker import ANALYSIS as shrinker

L1, L2 = 0xFFFFFF8010A2C138, 0xFFFFFF8010A2C108    # dontneed, willneed


def _k(ts, **kw):
    return ev(ts, 5, "kswapd0", **kw)


def _rows():
    return {
        "shrink_scan": [_k(1000, duration_ns=5000, nr_to_scan_pages=128, freed_pages=100,
                           reclaim_kind="kswapd"),
                        _k(20000, duration_ns=1000, nr_to_scan_pages=64, freed_pages=None,
                           reclaim_kind="direct"),
                        _k(40000, duration_ns=3000, nr_to_scan_pages=32, freed_pages=10,
                           reclaim_kind="kswapd")],
        "shrink_count": [_k(900, count_pages=300), _k(19000, count_pages=10),
                         _k(39000, count_pages=50), _k(60000, count_pages=0)],
        "lru_scan": [_k(1100, duration_ns=2000, stage="purge", lru_addr=L1,
                        nr_to_scan_pages=128, freed_pages=60, remaining_pages=8),
                     _k(3200, duration_ns=1500, stage="evict", lru_addr=L2,
                        nr_to_scan_pages=68, freed_pages=40, remaining_pages=0),
                     _k(40100, duration_ns=2000, stage="purge", lru_addr=L1,
                        nr_to_scan_pages=32, freed_pages=10, remaining_pages=4),
                     _k(20100, duration_ns=500, stage="active_evict", lru_addr=L2,
                        nr_to_scan_pages=64, freed_pages=None, remaining_pages=16)],
        "free": [ev(500, 7, "w", duration_ns=700, lru_addr=L1, size_bytes=4096),  # purge scan 1
                 ev(500, 8, "w", duration_ns=700, lru_addr=L2),       # other LRU's scan only
                 ev(3100, 7, "w", duration_ns=0, lru_addr=L1, size_bytes=8192),  # its end
                 ev(4000, 7, "w", duration_ns=100, lru_addr=L1),      # between scans
                 ev(20000, 9, "w", duration_ns=50000, lru_addr=L2,    # spans active_evict
                    size_bytes=1 << 20),
                 ev(41000, 9, "w", duration_ns=None, size_bytes=64 << 10),  # unknown LRU
                 ev(10000, 9, "w", duration_ns=10)],                  # unknown LRU, no scan
    }


def test_headline_exact():
    r = shrinker(frames(_rows()))
    h = r.headline
    # scan durations 1000, 3000, 5000: p99 at position 1.98 -> 3000 + 0.98 * 2000
    assert h["scans"] == 3 and h["counts"] == 4
    assert h["scan_total_ns"] == 9000 and h["scan_p50_ns"] == 3000 and h["scan_p99_ns"] == 4960
    assert h["requested_pages"] == 224 and h["freed_pages"] == 110
    assert h["scans_shrink_stop"] == 1
    assert h["remaining_pages"] == 28
    assert h["freed_pages_by_stage"] == {"purge": 70, "evict": 40, "active_evict": 0}
    assert h["frees_overlapping_scans"] == 3
    assert h["frees_overlapping_scans_unknown_lru"] == 1
    assert h["frees_overlapping_scans_bytes"] == 4096 + 8192 + (1 << 20) + (64 << 10)


def test_overlapping_frees_table_longest_first():
    t = shrinker(frames(_rows())).tables["frees_overlapping_scans"]
    assert list(t["duration_ns"].fillna(-1)) == [50000, 700, 0, -1]    # unknown last
    assert list(t["lru_addr"].fillna(0)) == [L2, L1, L1, 0]


def test_stage_table():
    st = shrinker(frames(_rows())).tables["stages"].set_index("stage")
    assert st.loc["purge", "scans"] == 2 and st.loc["purge", "remaining_pages"] == 12
    assert st.loc["purge", "requested_pages"] == 160 and st.loc["purge", "total_ns"] == 4000
    assert st.loc["active_evict", "remaining_pages"] == 16


def test_without_lru_scan_and_count_the_answers_are_unknown():
    rows = _rows()
    del rows["lru_scan"], rows["shrink_count"]
    h = shrinker(frames(rows)).headline
    assert h["counts"] is None and h["remaining_pages"] is None
    assert h["freed_pages_by_stage"] is None and h["frees_overlapping_scans"] is None
    assert h["scans"] == 3


def test_cannot_answer():
    r = shrinker(frames({}, recorded=["free", "lru_scan"]))
    assert not r.answerable and r.missing == ("shrink_scan",)
