"""Text and Markdown views of a diff dict (compare.diff_frames); JSON is the dict itself."""
from __future__ import annotations

from typing import Any, Mapping

from ..render import fmt_ns


def _ns(v: float | None) -> str:
    return "-" if v is None else fmt_ns(int(round(v)))


def _ci(ci) -> str:
    return f"[{_ns(ci[0])}, {_ns(ci[1])}]"


def _signed_ns(v: float) -> str:
    return ("+" if v >= 0 else "-") + _ns(abs(v))


def _side_line(s: Mapping[str, Any]) -> str:
    bits = [f"{s['events']} events over {s['duration_s']:.3f} s"]
    if s.get("scenario"):
        bits.append(f"scenario {s['scenario']}" + (f" seed {s['seed']}" if s.get("seed")
                                                    is not None else ""))
    if s.get("kernel_release"):
        bits.append(f"kernel {s['kernel_release']}")
    if s.get("synthetic"):
        bits.append("SYNTHETIC")
    return f"{s['label']}: " + ", ".join(bits)


def _dist_rows(m: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for key in ("p50", "p90", "p99"):
        a, b, c = m["a"][key], m["b"][key], m["change"][key]
        rel = "" if c["relative"] is None else f" ({c['relative']:+.0%})"
        rows.append([key, f"{_ns(a['value'])} {_ci(a['ci'])}", f"{_ns(b['value'])} {_ci(b['ci'])}",
                     f"{_signed_ns(c['difference'])}{rel} "
                     f"[{_signed_ns(c['difference_ci'][0])}, {_signed_ns(c['difference_ci'][1])}]"])
    return rows


def _count_line(m: Mapping[str, Any]) -> str:
    a, b = m["a"], m["b"]
    if m["type"] == "count":
        rate = (lambda s: "-" if s["rate_per_s"] is None else f"{s['rate_per_s']:.4g}/s")
        return f"A {a['count']} ({rate(a)}), B {b['count']} ({rate(b)})"
    pct = (lambda s: "-" if s["rate"] is None else f"{s['rate']:.2%}")
    return f"A {a['successes']}/{a['trials']} ({pct(a)}), B {b['successes']}/{b['trials']} ({pct(b)})"


def render_diff(d: Mapping[str, Any], markdown: bool = False) -> str:
    h1, h2, bullet = ("# ", "### ", "- ") if markdown else ("", "", "  ")
    meth = d["method"]
    out = [f"{h1}gemscope diff: B compared with A", "",
           f"{bullet}{_side_line(d['a'])}", f"{bullet}{_side_line(d['b'])}",
           f"{bullet}tests: {meth['correction']}; intervals {meth['confidence']:.0%} "
           f"(bootstrap, {meth['bootstrap']['resamples']} resamples, seed "
           f"{meth['bootstrap']['seed']})"]
    out += [f"{bullet}WARNING: {w}" for w in d["warnings"]]
    sig = d["significant"]
    out += ["", f"{'**' if markdown else ''}Significant differences: "
                f"{', '.join(sig) if sig else 'none'}{'**' if markdown else ''}", ""]
    for m in d["metrics"]:
        out.append(f"{h2}{m['title']} [{m['name']}]" if markdown else f"== {m['title']} "
                                                                       f"[{m['name']}] ==")
        out.append(f"{bullet}verdict: {m.get('verdict', '-')}")
        if m["type"] == "distribution":
            out.append(f"{bullet}n: A {m['a']['n']}, B {m['b']['n']}; "
                       f"P(B > A) = {m['test']['effect']['prob_b_greater']:.3f}")
            rows = _dist_rows(m)
            head = ["quantile", "A [95% CI]", "B [95% CI]", "B - A [95% CI]"]
            if markdown:
                out += ["", "| " + " | ".join(head) + " |", "|---|---|---|---|"]
                out += ["| " + " | ".join(r) + " |" for r in rows]
            else:
                widths = [max(len(x[i]) for x in [head] + rows) for i in range(4)]
                out += ["    " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                        for r in [head] + rows]
        else:
            phi = (m.get("test") or {}).get("dispersion_phi")
            out.append(f"{bullet}{_count_line(m)}" + (f"; bursty: dispersion {phi:.1f}, tested "
                                                       "on counts / dispersion"
                                                       if phi and phi > 1 else ""))
        out.append("")
    if d["skipped"]:
        out.append(f"{h2}Not compared" if markdown else "== not compared ==")
        out += [f"{bullet}{s['name']}: {s['why']}" for s in d["skipped"]]
    return "\n".join(out).rstrip() + "\n"
