"""Every scenario's ground-truth manifest is reproduced by the analyses: counts exactly, durations
(keys with _ns) within 1%, rates to 1e-9. The manifest is counted by the model from what it
injected (tracer/simulate/truth.py), never by running the analyses."""
from __future__ import annotations

import json

import pytest

from tracer.analyses import run_all
from tracer.frames import load_frames
from tracer.simulate import SCENARIOS, generate, truth_path
from tracer.simulate.truth import HEADLINE_KEYS


def _close(key: str, want, got) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and set(want) == set(got) and \
            all(_close(key, want[k], got[k]) for k in want)
    if isinstance(want, float) or isinstance(got, float):
        return got is not None and abs(got - want) <= 1e-9
    if "_ns" in key and want and got is not None:      # durations, also per-group ns dicts
        return abs(got - want) <= 0.01 * abs(want)
    return got == want


# (seed, simulated seconds, scale): a quiet run and a short busy one
RUNS = ((11, 2.0, 1.0), (23, 0.5, 6.0))


@pytest.fixture(scope="module", params=[(s, r) for s in sorted(SCENARIOS) for r in RUNS],
                ids=lambda p: f"{p[0]}-seed{p[1][0]}-x{p[1][2]:g}")
def generated(request, tmp_path_factory):
    name, (seed, duration_s, scale) = request.param
    path = tmp_path_factory.mktemp("gt") / f"{name}.gsrec"
    manifest = generate(name, path, seed=seed, duration_s=duration_s, scale=scale)
    return name, path, manifest


def test_manifest_has_every_headline_key_and_is_written_twice(generated):
    name, path, manifest = generated
    assert manifest["scenario"] == name and manifest["seed"] in (11, 23) and manifest["synthetic"]
    assert {a: tuple(h) for a, h in manifest["truth"].items()} == HEADLINE_KEYS
    with open(truth_path(path)) as f:
        assert json.load(f) == manifest
    assert load_frames(path).meta["ground_truth"] == manifest


def test_analyses_reproduce_the_manifest(generated):
    name, path, manifest = generated
    results = run_all(load_frames(path))
    wrong = []
    for analysis, keys in manifest["truth"].items():
        res = results[analysis]
        assert res.answerable, (analysis, res.missing)
        for key, want in keys.items():
            got = res.headline.get(key, "MISSING")
            if not _close(key, want, got):
                wrong.append(f"{analysis}.{key}: truth {want!r}, analysis {got!r}")
    assert not wrong, f"{name}: " + "; ".join(wrong)


def test_the_scenario_injected_what_it_is_about(generated):
    """Each design shows its point in the manifest (so a broken model cannot pass vacuously)."""
    name, _, m = generated
    t = m["truth"]
    assert t["contention"]["resv_waits"] > 0 and t["finalizers"]["frees"] > 0
    if name == "sync-free-in-retire":
        assert t["retire"]["fences_delayed_by_finalizers"] > 0
        assert t["retire"]["retire_finalizer_ns"] > t["retire"]["retire_other_ns"]
    if name == "async-free-worker":
        assert t["retire"]["retire_finalizer_ns"] == 0
        assert t["retire"]["fences_delayed_by_finalizers"] == 0
        assert t["finalizers"]["frees_by_context"]["other"] > 0
        assert t["retire"]["retire_queue_delay_max_ns"] > 2_000_000
    if name == "trylock-or-defer":
        assert t["trylock"]["failures_by_stage"]["outside_shrinker"] > 0
        assert {"retire_worker", "ioctl", "other"} <= set(t["finalizers"]["frees_by_context"])
    if name == "shrinker-storm":
        assert t["trylock"]["failures_self_held"] > 0
        assert t["shrinker"]["frees_overlapping_scans"] > 0
        assert t["shrinker"]["remaining_pages"] > 0
        assert t["reclaim_risks"]["frees_from_shrinker"] > 0
        assert t["reclaim_risks"]["fence_waits_in_reclaim"] > 0
        assert t["reclaim_risks"]["ctx_trylocks_in_reclaim"] == 0
    if name == "vm-lock-under-reclaim":
        assert t["reclaim_risks"]["blocking_resv_locks_in_reclaim"] > 0
        assert t["reclaim_risks"]["ctx_trylocks_in_reclaim"] == t["trylock"]["trylocks"] - \
            t["trylock"]["failures_by_stage"].get("outside_shrinker", 0) > 0
        assert t["contention"]["waits_by_caller"]["with_vm_locks+0x7c"] > 0


def test_the_comparison_is_strict_where_it_must_be():
    assert _close("frees", 10, 10) and not _close("frees", 10, 11)
    assert _close("free_total_ns", 1000, 1009) and not _close("free_total_ns", 1000, 1011)
    assert not _close("free_p50_ns", 1000, None) and _close("free_p50_ns", None, None)
    assert _close("free_total_ns_by_context", {"ioctl": 1000}, {"ioctl": 1005})
    assert not _close("frees_by_context", {"ioctl": 3}, {"ioctl": 3, "other": 1})
    assert not _close("trylock_failure_rate", 0.25, 0.2500001)
