"""The statistics behind `gemscope diff`: pure functions on numpy arrays, seeded, vectorized.

- Quantiles: the point estimate is gemscope's percentile (numpy "linear", see analyses/stats.py).
- Bootstrap CIs of a quantile are drawn from the EXACT nonparametric bootstrap distribution of the
  sample order statistic of rank k = ceil(q * n): resampling n values with replacement from the
  empirical distribution and taking the k-th smallest is x[ceil(n * U) - 1] with
  U ~ Beta(k, n + 1 - k) (the k-th of n uniform order statistics). So R resamples cost R Beta
  draws instead of R * n index draws: the same distribution, vectorized, at any n.
- Shift: two-sided Mann-Whitney U (scipy.stats.mannwhitneyu) with the probability of
  superiority P(B > A) + P(B = A) / 2 = U_B / (n_A n_B) as its effect size.
- Counts: rate ratio (B per second / A per second) with the exact conditional test:
  given n = k_A + k_B events, k_B ~ Binomial(n, T_B / (T_A + T_B)) under equal Poisson rates;
  the Clopper-Pearson interval of that proportion maps to the rate-ratio interval. Kernel events
  come in bursts (a deferred-free worker frees dozens of objects at once, one shrinker scan
  takes many locks), which makes counts vary far more than Poisson between runs; so the
  dispersion phi = Pearson chi-square / df of the counted events' per-bin counts (BINS equal
  time bins per recording, pooled, floored at 1) is estimated, and the exact test runs on the
  effective counts k / phi (the quasi-Poisson / design-effect correction).
- Proportions (e.g. trylock failure rate): Fisher's exact test, conditional MLE odds ratio with
  its exact interval (scipy.stats.contingency.odds_ratio), on effective sizes x / phi of n / phi
  with phi the dispersion of the failures (compare.py), for the same reason as counts.
- Distributions are compared as if their values were independent draws; values that come in
  correlated bursts make the Mann-Whitney test and the bootstrap intervals optimistic.
- Multiple comparisons: Holm's step-down procedure over every test of one diff.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

QUANTILES = (0.50, 0.90, 0.99)


def percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q * 100, method="linear"))


def bootstrap_quantiles(sorted_values: np.ndarray, qs, resamples: int,
                        rng: np.random.Generator) -> np.ndarray:
    """(resamples, len(qs)) bootstrap replicates of the order statistics of rank ceil(q n)."""
    n = len(sorted_values)
    out = np.empty((resamples, len(qs)), dtype=np.float64)
    for j, q in enumerate(qs):
        k = min(max(1, math.ceil(q * n)), n)
        u = rng.beta(k, n + 1 - k, size=resamples)
        idx = np.clip(np.ceil(u * n).astype(np.int64) - 1, 0, n - 1)
        out[:, j] = sorted_values[idx]
    return out


def interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    lo, hi = np.quantile(replicates, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


@dataclass
class ShiftTest:
    u_b: float
    p_value: float
    prob_b_greater: float   # P(B > A) + P(B = A) / 2


def mann_whitney(a: np.ndarray, b: np.ndarray) -> ShiftTest:
    from scipy.stats import mannwhitneyu
    res = mannwhitneyu(b, a, alternative="two-sided",
                       method="asymptotic" if len(a) * len(b) > 400 else "auto")
    p = float(res.pvalue) if np.isfinite(res.pvalue) else 1.0
    return ShiftTest(float(res.statistic), p, float(res.statistic) / (len(a) * len(b)))


@dataclass
class RateRatio:
    ratio: float | None           # (k_B / T_B) / (k_A / T_A); None when undefined
    low: float | None
    high: float | None
    p_value: float | None          # None when there is nothing to test (no events at all)


BINS = 20


def dispersion(ts_a: np.ndarray, span_a: tuple[int, int], ts_b: np.ndarray,
               span_b: tuple[int, int], bins: int = BINS) -> float:
    """Pooled Pearson dispersion of per-bin event counts (>= 1; 1 = Poisson-like)."""
    chi2, df = 0.0, 0
    for ts, (lo, hi) in ((ts_a, span_a), (ts_b, span_b)):
        if len(ts) == 0 or hi <= lo:
            continue
        counts = np.histogram(ts, bins=bins, range=(lo, hi))[0].astype(np.float64)
        mean = counts.mean()
        chi2 += float(((counts - mean) ** 2).sum() / mean)
        df += bins - 1
    return max(1.0, chi2 / df) if df else 1.0


def rate_ratio(k_a: int, t_a: float, k_b: int, t_b: float, confidence: float,
               phi: float = 1.0) -> RateRatio:
    """Exact conditional (binomial) test and interval for the ratio of two rates, on the
    effective counts k / phi when the counts are overdispersed (phi > 1)."""
    from scipy.stats import binomtest
    if k_a + k_b == 0 or t_a <= 0 or t_b <= 0:
        return RateRatio(None, None, None, None)
    e_a, e_b = (k_a, k_b) if phi <= 1 else (round(k_a / phi), round(k_b / phi))
    n = e_a + e_b
    if n == 0:
        return RateRatio((k_b / t_b) / (k_a / t_a) if k_a else math.inf, 0.0, math.inf, 1.0)
    p0 = t_b / (t_a + t_b)
    res = binomtest(e_b, n, p0)
    ci = res.proportion_ci(confidence_level=confidence, method="exact")
    scale = t_a / t_b

    def to_ratio(p: float) -> float:
        return math.inf if p >= 1 else p / (1 - p) * scale

    ratio = (k_b / t_b) / (k_a / t_a) if k_a else math.inf
    return RateRatio(ratio, to_ratio(ci.low), to_ratio(ci.high), float(res.pvalue))


@dataclass
class OddsRatio:
    ratio: float | None
    low: float | None
    high: float | None
    p_value: float | None


def proportion_test(x_a: int, n_a: int, x_b: int, n_b: int, confidence: float) -> OddsRatio:
    """Fisher's exact test of x_A/n_A vs x_B/n_B; odds ratio B vs A with its exact interval."""
    from scipy.stats import fisher_exact
    from scipy.stats.contingency import odds_ratio
    if n_a == 0 or n_b == 0 or x_a + x_b == 0 or x_a + x_b == n_a + n_b:
        return OddsRatio(None, None, None, None)
    table = np.array([[x_b, n_b - x_b], [x_a, n_a - x_a]])
    p = float(fisher_exact(table).pvalue)
    res = odds_ratio(table, kind="conditional")
    ci = res.confidence_interval(confidence_level=confidence)
    return OddsRatio(float(res.statistic), float(ci.low), float(ci.high), p)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1), in the input order."""
    m = len(p_values)
    if m == 0:
        return []
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()
