"""`gemscope diff` on the simulator's scenarios, whose true differences are known by design."""
from __future__ import annotations

import pytest

from tracer.diff import diff_paths
from tracer.simulate import generate


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    d = tmp_path_factory.mktemp("sims")
    out = {}
    for scenario, seed in (("sync-free-in-retire", 1), ("sync-free-in-retire", 2),
                           ("trylock-or-defer", 3), ("async-free-worker", 1),
                           ("async-free-worker", 2)):
        path = str(d / f"{scenario}-{seed}.gsrec")
        generate(scenario, path, seed=seed)
        out[(scenario, seed)] = path
    return out


def _metrics(d):
    return {m["name"]: m for m in d["metrics"]}


def test_sync_free_in_retire_vs_trylock_or_defer(sims):
    """Deferring frees out of the retire worker cuts its finalizer time; the trylock design
    adds trylock failures. Free durations themselves are the same model in both."""
    d = diff_paths(sims[("sync-free-in-retire", 1)], sims[("trylock-or-defer", 3)])
    m = _metrics(d)
    assert "retire_finalizer_per_run" in d["significant"]
    assert m["retire_finalizer_per_run"]["verdict"].startswith("significant: B is lower")
    assert m["retire_finalizer_per_run"]["change"]["p50"]["difference_ci"][1] < 0
    assert m["trylock_failures"]["verdict"].startswith("significant: B is higher")
    assert m["free_duration"]["verdict"].startswith("no significant difference")
    assert m["retire_runs"]["verdict"].startswith("no significant difference")


@pytest.mark.parametrize("scenario", ["sync-free-in-retire", "async-free-worker"])
def test_two_seeds_of_one_scenario_differ_in_nothing(sims, scenario):
    """async-free-worker frees in bursts (dispersion far above Poisson): without the
    dispersion correction its free count differed 'significantly' between two seeds."""
    d = diff_paths(sims[(scenario, 1)], sims[(scenario, 2)])
    assert d["significant"] == []
    for m in d["metrics"]:
        if m.get("test"):
            assert m["verdict"].startswith("no significant difference"), m["name"]
    if scenario == "async-free-worker":
        assert _metrics(d)["frees"]["test"]["dispersion_phi"] > 10
