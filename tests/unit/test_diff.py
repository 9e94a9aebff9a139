"""`gemscope diff`: the statistics on known inputs, and recordings whose true difference is known."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import beta as beta_dist

from diff_fixture import write_workload
from tracer.cli import main
from tracer.diff import diff_paths
from tracer.diff import stats


# ---------------------------------------------------------------- statistics on known inputs

def test_holm_adjustment_exact():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06], abs=1e-15)
    assert stats.holm([0.5, 0.001]) == pytest.approx([0.5, 0.002], abs=1e-15)
    assert stats.holm([0.9, 0.8]) == [1.0, 1.0]
    assert stats.holm([]) == []


def test_rate_ratio_exact_conditional_binomial():
    rr = stats.rate_ratio(10, 1.0, 20, 2.0, 0.95)       # equal rates: 10/s and 10/s
    assert rr.ratio == 1.0
    # under H0, k_B ~ Bin(30, 2/3): two-sided p = sum of outcomes no more likely than 20
    pmf = [math.comb(30, k) * (2 / 3) ** k * (1 / 3) ** (30 - k) for k in range(31)]
    assert rr.p_value == pytest.approx(sum(p for p in pmf if p <= pmf[20] * (1 + 1e-7)), rel=1e-9)
    # Clopper-Pearson bounds of k/n = 20/30, mapped to the ratio: p / (1 - p) * T_A / T_B
    lo = beta_dist.ppf(0.025, 20, 11)
    hi = beta_dist.ppf(0.975, 21, 10)
    assert rr.low == pytest.approx(lo / (1 - lo) * 0.5, rel=1e-9)
    assert rr.high == pytest.approx(hi / (1 - hi) * 0.5, rel=1e-9)
    assert stats.rate_ratio(0, 1.0, 0, 1.0, 0.95).p_value is None


def test_proportion_test_fisher():
    o = stats.proportion_test(5, 100, 30, 100, 0.95)
    assert o.p_value < 1e-5 and o.ratio > 1 and o.low > 1
    assert stats.proportion_test(0, 10, 0, 10, 0.95).p_value is None


def test_order_statistic_bootstrap_matches_the_resampling_distribution():
    """P(bootstrap k-th order statistic <= x_(j)) = P(Binomial(n, j/n) >= k): the Beta draw
    used by bootstrap_quantiles has exactly that law; check it numerically and by sampling."""
    n, k = 10, 5
    x = np.arange(1, n + 1, dtype=np.float64) * 10
    reps = stats.bootstrap_quantiles(x, [0.5], 200_000, np.random.default_rng(1))[:, 0]
    for j in range(1, n + 1):
        binom_tail = sum(math.comb(n, i) * (j / n) ** i * (1 - j / n) ** (n - i)
                         for i in range(k, n + 1))
        assert beta_dist.cdf(j / n, k, n + 1 - k) == pytest.approx(binom_tail, abs=1e-12)
        assert float(np.mean(reps <= x[j - 1])) == pytest.approx(binom_tail, abs=0.005)


def test_bootstrap_is_seeded():
    x = np.sort(np.random.default_rng(0).lognormal(size=1000))
    a = stats.bootstrap_quantiles(x, stats.QUANTILES, 500, np.random.default_rng(7))
    b = stats.bootstrap_quantiles(x, stats.QUANTILES, 500, np.random.default_rng(7))
    assert a.shape == (500, 3) and np.array_equal(a, b)


# ---------------------------------------------------------------- recordings with known truth

@pytest.fixture(scope="module")
def workloads(tmp_path_factory):
    d = tmp_path_factory.mktemp("diff")
    return {(design, seed): write_workload(d / f"{design}-{seed}.gsrec", design, seed)
            for design, seed in (("sync", 1), ("sync", 2), ("sync", 3), ("defer", 4),
                                 ("defer", 5))}


def _by_name(d):
    return {m["name"]: m for m in d["metrics"]}


def test_sync_free_vs_defer_finds_the_retire_difference_and_nothing_else(workloads):
    d = diff_paths(workloads[("sync", 1)], workloads[("defer", 4)])
    m = _by_name(d)
    assert d["significant"] == ["retire_run_duration", "retire_finalizer_per_run"]
    for name in d["significant"]:
        assert m[name]["verdict"].startswith("significant: B is lower (median -")
        assert m[name]["test"]["effect"]["prob_b_greater"] < 0.25
        assert m[name]["change"]["p50"]["difference_ci"][1] < 0   # the whole CI below zero
    assert m["retire_finalizer_per_run"]["b"]["p50"]["value"] == 0.0
    for name in ("free_duration", "resv_lock_duration", "retire_queue_delay", "frees",
                 "retire_runs", "resv_waits"):
        assert m[name]["verdict"].startswith("no significant difference"), name
    assert d["method"]["correction"] == ("Holm-Bonferroni over 8 tests (family-wise error "
                                         "rate 0.05)")


def test_the_reverse_direction_says_higher(workloads):
    d = diff_paths(workloads[("defer", 5)], workloads[("sync", 2)])
    m = _by_name(d)
    assert d["significant"] == ["retire_run_duration", "retire_finalizer_per_run"]
    assert m["retire_finalizer_per_run"]["verdict"].startswith("significant: B is higher")


@pytest.mark.parametrize("a,b", [(("sync", 1), ("sync", 2)), (("sync", 2), ("sync", 3)),
                                 (("defer", 4), ("defer", 5))])
def test_repeated_runs_of_one_design_show_no_significant_difference(workloads, a, b):
    d = diff_paths(workloads[a], workloads[b])
    assert d["significant"] == []
    tested = [m for m in d["metrics"] if m.get("test")]
    assert len(tested) == 8
    for m in tested:
        assert m["verdict"].startswith("no significant difference (adjusted p = "), m["name"]


def test_cli_formats(workloads, capsys):
    a, b = workloads[("sync", 1)], workloads[("defer", 4)]
    assert main(["diff", a, b, "--format", "json", "--resamples", "500", "--seed", "3"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"]["bootstrap"] == {"resamples": 500, "seed": 3,
                                        "method": "exact order-statistic bootstrap (Beta draws)"}
    assert main(["diff", a, b, "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# gemscope diff: B compared with A\n")
    assert ("**Significant differences: retire_run_duration, retire_finalizer_per_run**"
            in md)
    assert "| quantile | A [95% CI] | B [95% CI] | B - A [95% CI] |" in md
    assert "Holm-Bonferroni over 8 tests" in md
    assert main(["diff", a, b, "--alpha", "2"]) == 2
    assert capsys.readouterr().err.strip() == "gemscope: error: --alpha must be between 0 and 1"


def test_same_seed_gives_the_same_intervals(workloads):
    a, b = workloads[("sync", 1)], workloads[("sync", 2)]
    assert diff_paths(a, b, seed=11) == diff_paths(a, b, seed=11)


def test_dispersion_of_bursty_and_even_counts():
    even = np.arange(0, 1000, 10)                 # 5 per bin in every one of 20 bins
    assert stats.dispersion(even, (0, 1000), even, (0, 1000)) == 1.0
    bursty = np.repeat([25, 525], 50)             # all events in 2 of 20 bins, 50 each
    # per recording: mean 5, chi2 = (2 * 45^2 + 18 * 5^2) / 5 = 900, df 19; pooled 1800 / 38
    assert stats.dispersion(bursty, (0, 1000), bursty, (0, 1000)) == pytest.approx(1800 / 38)
    assert stats.dispersion(np.array([]), (0, 10), np.array([]), (0, 10)) == 1.0


def test_rate_ratio_on_effective_counts():
    plain = stats.rate_ratio(400, 1.0, 500, 1.0, 0.95)
    bursty = stats.rate_ratio(400, 1.0, 500, 1.0, 0.95, phi=10.0)
    assert plain.ratio == bursty.ratio == 1.25
    assert plain.p_value < 0.002                          # as if Poisson: "significant"
    same = stats.rate_ratio(40, 1.0, 50, 1.0, 0.95)       # k / phi: 40 and 50
    assert (bursty.p_value, bursty.low, bursty.high) == (same.p_value, same.low, same.high)
    assert bursty.p_value > 0.3
