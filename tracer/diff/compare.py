"""`diff_frames(A, B)`: every comparable metric of two recordings, tested, corrected, judged.

Output is one JSON-safe dict (the single source the text and Markdown views render). A metric is
"significant" when its Holm-adjusted p-value is below alpha; its size is then stated (quantile
changes with bootstrap intervals, probability of superiority, rate or odds ratio with interval).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..analyses.base import Result
from ..frames import Frames
from . import stats
from .metrics import (COUNTS, DISTRIBUTIONS, PROPORTIONS, duration_s, headline_value, samples)

DEFAULTS = {"alpha": 0.05, "confidence": 0.95, "resamples": 2000, "seed": 0}


def _side(frames: Frames, label: str) -> dict[str, Any]:
    m = frames.meta
    return {"label": label, "events": int(sum(len(df) for df in frames.by_kind.values())),
            "duration_s": duration_s(frames), "synthetic": bool(m.get("synthetic")),
            "scenario": m.get("scenario"), "kernel_release": m.get("kernel_release"),
            "seed": m.get("seed"), "truncated": bool(frames.truncated)}


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _distribution(d, a: np.ndarray, b: np.ndarray, rng, cfg) -> dict[str, Any]:
    a_sorted, b_sorted = np.sort(a), np.sort(b)
    reps_a = stats.bootstrap_quantiles(a_sorted, stats.QUANTILES, cfg["resamples"], rng)
    reps_b = stats.bootstrap_quantiles(b_sorted, stats.QUANTILES, cfg["resamples"], rng)
    out: dict[str, Any] = {"name": d.name, "title": d.title, "unit": "ns", "type": "distribution",
                           "a": {"n": len(a)}, "b": {"n": len(b)}, "change": {}}
    for j, q in enumerate(stats.QUANTILES):
        key = f"p{round(q * 100)}"
        qa, qb = stats.percentile(a, q), stats.percentile(b, q)
        out["a"][key] = {"value": qa, "ci": stats.interval(reps_a[:, j], cfg["confidence"])}
        out["b"][key] = {"value": qb, "ci": stats.interval(reps_b[:, j], cfg["confidence"])}
        diff_ci = stats.interval(reps_b[:, j] - reps_a[:, j], cfg["confidence"])
        out["change"][key] = {"difference": qb - qa, "difference_ci": diff_ci,
                              "relative": _num((qb - qa) / qa) if qa else None}
    shift = stats.mann_whitney(a, b)
    out["test"] = {"name": "Mann-Whitney U (two-sided)", "statistic_u_b": shift.u_b,
                   "p_value": shift.p_value, "effect": {"prob_b_greater": shift.prob_b_greater}}
    return out


def _count(c, fa: Frames, fb: Frames, ra, rb, cfg) -> dict[str, Any] | str:
    ka, kb = headline_value(ra, c.analysis, c.key), headline_value(rb, c.analysis, c.key)
    if ka is None or kb is None:
        return "not answerable in " + ("A" if ka is None else "B")
    ta, tb = duration_s(fa), duration_s(fb)
    phi = stats.dispersion(c.events(fa), fa.time_range_ns or (0, 0),
                           c.events(fb), fb.time_range_ns or (0, 0))
    rr = stats.rate_ratio(ka, ta, kb, tb, cfg["confidence"], phi)
    out = {"name": c.name, "title": c.title, "type": "count", "unit": "events/s",
           "a": {"count": ka, "rate_per_s": ka / ta if ta else None},
           "b": {"count": kb, "rate_per_s": kb / tb if tb else None}}
    if rr.p_value is None:
        return out | {"verdict": "no events in either recording", "test": None}
    out["test"] = {"name": "exact conditional rate-ratio test on effective counts (k / phi)",
                   "p_value": rr.p_value, "dispersion_phi": phi,
                   "effect": {"rate_ratio": _num(rr.ratio),
                              "rate_ratio_ci": [_num(rr.low), _num(rr.high)]}}
    return out


def _proportion(pr, fa: Frames, fb: Frames, ra, rb, cfg) -> dict[str, Any] | str:
    xa, na = headline_value(ra, pr.analysis, pr.successes), headline_value(ra, pr.analysis, pr.trials)
    xb, nb = headline_value(rb, pr.analysis, pr.successes), headline_value(rb, pr.analysis, pr.trials)
    if None in (xa, na, xb, nb):
        return "not answerable in " + ("A" if None in (xa, na) else "B")
    # bursty failures: Fisher's test on effective sizes (x / phi of n / phi), as for counts
    phi = stats.dispersion(pr.events(fa), fa.time_range_ns or (0, 0),
                           pr.events(fb), fb.time_range_ns or (0, 0))
    o = stats.proportion_test(round(xa / phi), round(na / phi), round(xb / phi),
                              round(nb / phi), cfg["confidence"])
    out = {"name": pr.name, "title": pr.title, "type": "proportion", "unit": "fraction",
           "a": {"successes": xa, "trials": na, "rate": xa / na if na else None},
           "b": {"successes": xb, "trials": nb, "rate": xb / nb if nb else None}}
    if o.p_value is None:
        return out | {"verdict": "nothing to test (no trials, or all/none failed on both sides)",
                      "test": None}
    out["test"] = {"name": "Fisher's exact test on effective sizes (x / phi of n / phi)",
                   "p_value": o.p_value, "dispersion_phi": phi,
                   "effect": {"odds_ratio": _num(o.ratio), "odds_ratio_ci": [_num(o.low),
                                                                            _num(o.high)]}}
    return out


def diff_frames(fa: Frames, fb: Frames, ra: Mapping[str, Result], rb: Mapping[str, Result],
                labels: tuple[str, str] = ("A", "B"), **options) -> dict[str, Any]:
    cfg = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    rng = np.random.default_rng(cfg["seed"])
    metrics: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for d in DISTRIBUTIONS:
        a, b = samples(fa, ra, d), samples(fb, rb, d)
        if a is None or b is None:
            skipped.append({"name": d.name, "why": "not recorded in " +
                            ("A" if a is None else "B")})
        elif len(a) < 2 or len(b) < 2:
            skipped.append({"name": d.name, "why": f"too few values (A {len(a)}, B {len(b)})"})
        else:
            metrics.append(_distribution(d, a, b, rng, cfg))
    for c in COUNTS:
        m = _count(c, fa, fb, ra, rb, cfg)
        (skipped.append({"name": c.name, "why": m}) if isinstance(m, str) else metrics.append(m))
    for pr in PROPORTIONS:
        m = _proportion(pr, fa, fb, ra, rb, cfg)
        (skipped.append({"name": pr.name, "why": m}) if isinstance(m, str) else metrics.append(m))
    tested = [m for m in metrics if m.get("test")]
    for m, p_adj in zip(tested, stats.holm([m["test"]["p_value"] for m in tested])):
        m["test"]["p_adjusted"] = p_adj
        m["significant"] = p_adj < cfg["alpha"]
        m["verdict"] = _verdict(m)
    for m in metrics:
        m.setdefault("significant", False)
    return {
        "a": _side(fa, labels[0]), "b": _side(fb, labels[1]),
        "method": {"alpha": cfg["alpha"], "confidence": cfg["confidence"],
                   "correction": f"Holm-Bonferroni over {len(tested)} tests (family-wise error "
                                 f"rate {cfg['alpha']})",
                   "bootstrap": {"resamples": cfg["resamples"], "seed": cfg["seed"],
                                 "method": "exact order-statistic bootstrap (Beta draws)"},
                   "tests": len(tested)},
        "warnings": _warnings(fa, fb),
        "metrics": metrics, "skipped": skipped,
        "significant": [m["name"] for m in metrics if m["significant"]],
    }


def _verdict(m: dict[str, Any]) -> str:
    p = m["test"]["p_adjusted"]
    if not m["significant"]:
        return f"no significant difference (adjusted p = {p:.3g})"
    eff = m["test"]["effect"]
    if m["type"] == "distribution":
        ps = eff["prob_b_greater"]
        rel = m["change"]["p50"]["relative"]
        size = f"median {rel:+.0%}" if rel is not None else "median from 0"
        direction = "higher" if ps > 0.5 else "lower"
        return (f"significant: B is {direction} ({size}, P(B > A) = {ps:.2f}, "
                f"adjusted p = {p:.3g})")
    key = "rate_ratio" if m["type"] == "count" else "odds_ratio"
    r, (lo, hi) = eff[key], eff[key + "_ci"]
    direction = "higher" if (r is None or r > 1) else "lower"
    fmt = (lambda x: "inf" if x is None else f"{x:.3g}")
    return (f"significant: B is {direction} ({key.replace('_', ' ')} {fmt(r)} "
            f"[{fmt(lo)}, {fmt(hi)}], adjusted p = {p:.3g})")


def _warnings(fa: Frames, fb: Frames) -> list[str]:
    out = []
    for label, f in (("A", fa), ("B", fb)):
        if f.meta.get("synthetic"):
            out.append(f"{label} is SYNTHETIC (gemscope simulate, scenario "
                       f"{f.meta.get('scenario')}): it shows the model, not a kernel")
        if f.truncated:
            out.append(f"{label} is truncated: its last batch was lost")
    ka, kb = fa.meta.get("kernel_release"), fb.meta.get("kernel_release")
    if ka and kb and ka != kb:
        out.append(f"A and B come from different kernels ({ka} vs {kb})")
    return out
