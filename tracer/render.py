"""Turn analysis Results into a report: one JSON-safe dict, and text / Markdown views of it.

`report_dict` is the single source: `gemscope report --format json` prints it, and the text and
Markdown renderers read only it, so every format shows the same numbers. The TUI and bug-report
bundles reuse `report_dict`, `fmt_value` and `fmt_cell`.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from .analyses.base import Result
from .clocks import clock_warning
from .analyses.stats import json_safe
from .frames import Frames

JSON_TABLE_ROWS = 50
TEXT_TABLE_ROWS = 10
STACK_FRAMES_SHOWN = 3
PROVENANCE_KEYS = ("source", "scenario", "kernel_release", "machine", "hostname", "driver",
                   "tool_version", "schema_version", "clock", "realtime_offset_ns", "command",
                   "seed")


def health_dict(frames: Frames, closed_cleanly: bool | None = None) -> dict[str, Any]:
    """Events per kind, lost events, truncation: can the numbers below be trusted?"""
    counts = {k: int(len(df)) for k, df in sorted(frames.by_kind.items()) if len(df)}
    span = frames.time_range_ns
    lost = frames["lost"]["lost_count"]
    return {"events": int(sum(counts.values())), "events_by_kind": counts,
            "start_ts_ns": span[0] if span else None,
            "lost_events": int(lost.sum()) if len(lost) else 0,
            "duration_s": (span[1] - span[0]) / 1e9 if span else 0.0,
            "truncated": bool(frames.truncated), "closed_cleanly": closed_cleanly,
            "synthetic": bool(frames.meta.get("synthetic"))}


def table_records(df: pd.DataFrame, rows: int = JSON_TABLE_ROWS) -> list[dict[str, Any]]:
    """The first `rows` rows as JSON-safe records (numpy ints -> int, NaN/NA -> None)."""
    head = df.head(rows)
    return [json_safe(r) for r in head.astype(object).to_dict("records")]


def result_dict(result: Result, rows: int = JSON_TABLE_ROWS) -> dict[str, Any]:
    return {"title": result.title, "answerable": result.answerable,
            "missing": list(result.missing), "headline": json_safe(result.headline),
            "notes": list(result.notes),
            "tables": {name: table_records(df, rows) for name, df in result.tables.items()},
            "table_rows": {name: int(len(df)) for name, df in result.tables.items()}}


def report_dict(frames: Frames, results: Mapping[str, Result], *,
                health: Mapping[str, Any] | None = None,
                window: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out = {"meta": json_safe(dict(frames.meta)),
           "health": json_safe(dict(health if health is not None else health_dict(frames))),
           "analyses": {name: result_dict(r) for name, r in results.items()}}
    if window is not None:
        out["window"] = json_safe(dict(window))
    return out


# ---------------------------------------------------------------- human units

def fmt_ns(ns: Any) -> str:
    if ns is None:
        return "n/a"
    ns = float(ns)
    for limit, div, unit in ((1e3, 1, "ns"), (1e6, 1e3, "us"), (1e9, 1e6, "ms")):
        if abs(ns) < limit:
            return f"{ns:.0f} ns" if unit == "ns" else f"{ns / div:.3g} {unit}"
    return f"{ns / 1e9:.3f} s"


def fmt_bytes(b: Any) -> str:
    if b is None:
        return "n/a"
    b = float(b)
    for limit, div, unit in ((1 << 10, 1, "B"), (1 << 20, 1 << 10, "KiB"),
                             (1 << 30, 1 << 20, "MiB")):
        if abs(b) < limit:
            return f"{b:.0f} B" if unit == "B" else f"{b / div:.4g} {unit}"
    return f"{b / (1 << 30):.4g} GiB"


def fmt_value(key: str, value: Any) -> str:
    """A headline value in human units chosen by its key's unit suffix."""
    if isinstance(value, dict):
        if not value:
            return "none"
        return ", ".join(f"{k}: {fmt_value(key, v)}" for k, v in value.items())
    if value is None:
        return "n/a (not recorded)"
    if "_ns" in key:
        return fmt_ns(value)
    if "bytes" in key:
        return fmt_bytes(value)
    if key.endswith("_rate"):
        return f"{100 * float(value):.2f}%"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fmt_cell(column: str, value: Any, t0_ns: int | None = None) -> str:
    """A table cell in human units chosen by its column name; with t0_ns, a ts_ns cell is shown
    as seconds after it."""
    if value is None:
        return "-"
    if column == "ts_ns" and t0_ns is not None and isinstance(value, int):
        return f"{(value - t0_ns) / 1e9:.6f}"
    if column in ("stack", "holder_stack"):
        frames = [f for f in str(value).split("\n") if f][:STACK_FRAMES_SHOWN]
        return " < ".join(frames) if frames else "-"
    if column.endswith("_addr") and isinstance(value, int):
        return f"{value:#x}"
    if column.endswith("_ns") and column != "ts_ns":
        return fmt_ns(value)
    if column.endswith("bytes"):
        return fmt_bytes(value)
    if column.endswith("_rate"):
        return f"{100 * float(value):.1f}%"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.4g}"
    return str(value)


# ---------------------------------------------------------------- text and Markdown

def _synthetic_banner(meta: Mapping[str, Any]) -> str | None:
    if not meta.get("synthetic"):
        return None
    return (f"SYNTHETIC RECORDING: made by the gemscope workload model (scenario "
            f"{meta.get('scenario', '?')}), not by a real kernel. Numbers show what the model "
            "injected, not how msm behaves.")


def _probe_lines(plan: Any) -> list[str]:
    """How many probes attached, and why the others did not (what "cannot answer" rests on)."""
    if not isinstance(plan, dict) or not plan:
        return []
    status = {p: (v or {}).get("status") if isinstance(v, dict) else None for p, v in plan.items()}
    missing = sorted(p for p, st in status.items() if st != "attached")
    lines = [f"probes: {len(plan) - len(missing)} attached, {len(missing)} not"]
    for p in missing[:TEXT_TABLE_ROWS]:
        v = plan[p] if isinstance(plan[p], dict) else {}
        lines.append(f"probe {p} {v.get('status', '?')}: {v.get('reason', '?')}")
    if len(missing) > TEXT_TABLE_ROWS:
        lines.append(f"... and {len(missing) - TEXT_TABLE_ROWS} more probes not attached")
    return lines


def _health_lines(h: Mapping[str, Any]) -> list[str]:
    lines = [f"events: {h.get('events', 0)} over {float(h.get('duration_s') or 0):.3f} s"]
    lost = h.get("lost_events") or 0
    lines.append(f"lost events: {lost}" + ("  <-- the kernel dropped events; counts are lower "
                                           "bounds" if lost else ""))
    if h.get("truncated"):
        lines.append("TRUNCATED: the file ends inside a batch; every complete batch was read")
    elif h.get("closed_cleanly") is False:
        lines.append("NOT CLOSED: the recorder did not close the file (killed?); all batches "
                     "were read")
    return lines


def _table_lines(name: str, records: list[dict[str, Any]], total: int, rows: int,
                 markdown: bool, t0_ns: int | None = None) -> list[str]:
    shown = records[:rows]
    head = f"{name} (top {len(shown)} of {total})" if total > len(shown) else name
    if not shown:
        return [f"**{head}**: no rows", ""] if markdown else [f"  {head}: no rows"]
    keys = list(shown[0])
    cells = [[fmt_cell(c, r.get(c), t0_ns) for c in keys] for r in shown]
    # times read as seconds after the recording's first event
    cols = ["t_s" if c == "ts_ns" and t0_ns is not None else c for c in keys]
    if markdown:
        esc = [[v.replace("|", "\\|") for v in row] for row in cells]
        return [f"**{head}**", "", "| " + " | ".join(cols) + " |",
                "|" + "|".join("---" for _ in cols) + "|",
                *("| " + " | ".join(row) + " |" for row in esc), ""]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    fmt = "    " + "  ".join(f"{{:{w}}}" for w in widths)
    return [f"  {head}", fmt.format(*cols).rstrip(),
            *(fmt.format(*row).rstrip() for row in cells)]


def render(report: Mapping[str, Any], markdown: bool = False,
           rows: int = TEXT_TABLE_ROWS) -> str:
    """The report as plain text (default) or Markdown, from `report_dict`'s output."""
    meta, health = report.get("meta", {}), report.get("health", {})
    h1, h2 = ("# ", "## ") if markdown else ("", "")
    out = [f"{h1}gemscope report", ""]
    banner = _synthetic_banner(meta)
    if banner:
        out += [f"> **{banner}**", ""] if markdown else ["!" * 78, f"!! {banner}", "!" * 78, ""]
    bullet = "- " if markdown else "  "
    out.append(f"{h2}Provenance" if markdown else "provenance")
    out += [f"{bullet}{k}: {meta[k]}" for k in PROVENANCE_KEYS if k in meta]
    clock = clock_warning(meta)
    if clock:
        out.append(f"{bullet}{clock}")
    out += [f"{bullet}{line}" for line in _probe_lines(meta.get("probe_plan"))]
    out.append("")
    out.append(f"{h2}Health" if markdown else "health")
    out += [f"{bullet}{line}" for line in _health_lines(health)]
    if report.get("window"):
        w = report["window"]
        end = "the end" if w.get("end_s") is None else f"{w['end_s']} s"
        out.append(f"{bullet}window: {w.get('start_s')} s .. {end} after the first "
                   "event (events starting inside it)")
    out.append("")
    for name, a in report.get("analyses", {}).items():
        out.append(f"{h2}{a['title']} [{name}]" if markdown else
                   f"== {a['title']} [{name}] ==")
        if not a["answerable"]:
            out += [f"{bullet}cannot answer: no {', '.join(a['missing'])} events were recorded",
                    ""]
            continue
        out += [f"{bullet}{k}: {fmt_value(k, v)}" for k, v in a["headline"].items()]
        out += [f"{bullet}note: {n}" for n in a["notes"]]
        out.append("")
        for tname, records in a["tables"].items():
            out += _table_lines(tname, records, a["table_rows"].get(tname, len(records)), rows,
                                markdown, health.get("start_ts_ns"))
        out.append("")
    return "\n".join(out).rstrip() + "\n"
