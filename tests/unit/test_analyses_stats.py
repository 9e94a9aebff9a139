"""The shared helpers: the percentile definition, size classes, interval joins, JSON safety."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tracer.analyses.intervals import asof, overlaps_any
from tracer.analyses.stats import (distribution, json_safe, percentile_ns, size_class,
                                   under_reclaim)


def test_percentile_is_linear_interpolation_rounded_to_ns():
    v = np.array([10, 20, 30, 40], dtype=np.int64)
    assert percentile_ns(v, 50) == 25            # position 1.5
    assert percentile_ns(v, 90) == 37            # position 2.7 -> 37.0
    assert percentile_ns(v, 99) == 40            # 39.7 rounds to 40
    assert percentile_ns(np.array([], dtype=np.int64), 50) is None


def test_distribution_groups_match_headline_definition():
    df = pd.DataFrame({"k": ["a", "a", "a", "a", "b"], "v": [10.0, 20, 30, 40, np.nan]})
    t = distribution(df, ["k"], "v", "n").set_index("k")
    assert t.loc["a", "n"] == 4 and t.loc["a", "total_ns"] == 100
    assert t.loc["a", "p50_ns"] == 25 and abs(t.loc["a", "p90_ns"] - 37) < 1e-9
    assert t.loc["b", "n"] == 1 and t.loc["b", "total_ns"] == 0     # unknown, still counted


def test_size_class_bounds_are_inclusive():
    s = pd.Series([4096, 4097, 65536, 1 << 20, (1 << 20) + 1, 16 << 20, (16 << 20) + 1, None],
                  dtype="UInt64")
    assert list(size_class(s)) == ["<=4KiB", "<=64KiB", "<=64KiB", "<=1MiB", "<=16MiB",
                                   "<=16MiB", ">16MiB", "unknown"]


def test_under_reclaim_uses_flag_or_context():
    df = pd.DataFrame({"in_reclaim": pd.array([True, False, None, None], dtype="boolean"),
                       "context": ["ioctl", "shrinker", "reclaim", "other"]})
    assert list(under_reclaim(df)) == [True, True, True, False]


def test_asof_by_key_and_direction():
    left, right = np.array([5, 1, 10]), np.array([0, 4, 9])
    assert list(asof(left, right)) == [1, 0, 2]
    assert list(asof(left, right, direction="forward")) == [2, 1, -1]
    keys_l, keys_r = np.array([1, 1, 2]), np.array([1, 2, 1])
    assert list(asof(left, right, left_by=(keys_l,), right_by=(keys_r,))) == [0, 0, 1]


def test_overlaps_any_handles_nested_intervals_and_keys():
    # [0,100] contains [10,20]: a query at [50,60] starts after the latest-started interval
    # ended, but the long one still covers it
    hit = overlaps_any(np.array([50, 150]), np.array([60, 160]),
                       np.array([0, 10]), np.array([100, 20]))
    assert list(hit) == [True, False]
    hit = overlaps_any(np.array([50, 50]), np.array([60, 60]), np.array([0, 10]),
                       np.array([100, 20]), by=np.array([2, 1]), iv_by=np.array([1, 2]))
    assert list(hit) == [False, True]


def test_json_safe_turns_numpy_and_nulls_into_json():
    v = json_safe({"a": np.int64(3), "b": np.float64("nan"), "c": pd.NA, "d": [np.uint64(7)],
                   "e": np.bool_(True)})
    assert json.dumps(v, allow_nan=False) == '{"a": 3, "b": null, "c": null, "d": [7], ' \
                                             '"e": true}'



def test_distribution_matches_numpy_per_group_on_random_data():
    rng = np.random.default_rng(3)
    for trial in range(20):
        n = int(rng.integers(1, 400))
        keys = rng.integers(0, 7, n)
        vals = rng.integers(0, 10_000, n).astype("float64")
        vals[rng.random(n) < 0.1] = np.nan
        t = distribution(pd.DataFrame({"k": keys, "v": vals}), ["k"], "v", "n").set_index("k")
        for k in np.unique(keys):
            v = vals[keys == k]
            known = v[~np.isnan(v)]
            assert t.loc[k, "n"] == len(v)
            assert t.loc[k, "total_ns"] == int(known.sum())
            for q, col in ((50, "p50_ns"), (90, "p90_ns"), (99, "p99_ns"), (100, "max_ns")):
                want = np.percentile(known, q) if len(known) else np.nan
                got = t.loc[k, col]
                assert (np.isnan(want) and np.isnan(got)) or abs(got - want) < 1e-6, (q, k)


def test_overlaps_any_matches_brute_force():
    rng = np.random.default_rng(5)
    for trial in range(30):
        n, m = int(rng.integers(1, 60)), int(rng.integers(1, 40))
        s = rng.integers(0, 1000, n)
        e = s + rng.integers(0, 80, n)
        ivs = rng.integers(0, 1000, m)
        ive = ivs + rng.integers(0, 200, m)
        k, ivk = rng.integers(0, 3, n), rng.integers(0, 3, m)
        want_any = [bool(((ivs <= e[i]) & (ive >= s[i])).any()) for i in range(n)]
        want_key = [bool(((ivs <= e[i]) & (ive >= s[i]) & (ivk == k[i])).any()) for i in range(n)]
        assert list(overlaps_any(s, e, ivs, ive)) == want_any
        assert list(overlaps_any(s, e, ivs, ive, by=k, iv_by=ivk)) == want_key
