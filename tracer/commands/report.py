"""`gemscope report FILE`: every analysis of a recording, as text, Markdown or JSON."""
from __future__ import annotations

import json
import math

from ..errors import GemscopeError

EPILOG = """examples:
  gemscope report sample-traces/sync-free-in-retire.gsrec            # text, every analysis
  gemscope report trace.gsrec --format markdown > report.md         # for a bug report / mail
  gemscope report trace.gsrec --format json | jq .analyses.retire.headline
  gemscope report trace.gsrec --window 2:5                          # events from 2 s to 5 s
  gemscope report trace.gsrec --window 10:                          # from 10 s to the end
  gemscope report trace.gsrec --only contention,retire              # just these analyses

Times in --window are seconds after the recording's first event; an event belongs to the window
when it STARTS inside it. An analysis whose events were not recorded says "cannot answer"
(never zero). Synthetic recordings (gemscope simulate) carry a SYNTHETIC banner.
"""


class WindowError(GemscopeError):
    """A --window argument that is not START_S:END_S."""


class UnknownAnalysis(GemscopeError):
    """An --only name that is not an analysis."""


def pick_analyses(only: str | None) -> list:
    """The analyses named in --only (in display order), or all of them."""
    from ..analyses import ALL
    if not only:
        return list(ALL)
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = {a.name for a in ALL}
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise UnknownAnalysis(f"--only {only!r}: unknown analysis {', '.join(bad) or '(none)'}; "
                              f"choose from {', '.join(a.name for a in ALL)}")
    return [a for a in ALL if a.name in names]


def register(sub) -> None:
    import argparse
    p = sub.add_parser(
        "report", help="print every analysis of a recording (text, markdown or json)",
        description="Run every gemscope analysis (reservation contention, trylock failures, "
                    "finalizer delays, retire worker split, shrinker, reclaim lock-order risks) "
                    "on a recording and print the answers, starting with where the recording "
                    "came from and whether it is complete.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="a gemscope recording (.gsrec), bug-report bundle, trace.dat or ftrace text")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="output format (default: text)")
    p.add_argument("--window", metavar="START_S:END_S",
                   help="only events starting in this window, seconds after the first event; "
                        "either side may be empty")
    p.add_argument("--only", metavar="NAMES",
                   help="comma-separated analyses to run (contention, trylock, finalizers, "
                        "retire, shrinker, reclaim_risks); default: all")
    p.set_defaults(func=run)


def parse_window(text: str) -> tuple[float | None, float | None]:
    """'2:5' -> (2.0, 5.0); '2:' -> (2.0, None); ':5' -> (None, 5.0)."""
    parts = text.split(":")
    if len(parts) != 2:
        raise WindowError(f"--window {text!r}: expected START_S:END_S, e.g. 2:5 or 10:")
    try:
        lo, hi = (float(x) if x.strip() else None for x in parts)
    except ValueError:
        raise WindowError(f"--window {text!r}: START_S and END_S must be numbers of "
                          "seconds") from None
    for v in (lo, hi):
        if v is not None and (math.isnan(v) or math.isinf(v) or v < 0):
            raise WindowError(f"--window {text!r}: times must be finite and >= 0")
    if lo is not None and hi is not None and hi <= lo:
        raise WindowError(f"--window {text!r}: END_S must be after START_S")
    return lo, hi


def build_report(path: str, window: str | None = None, only: str | None = None) -> dict:
    """Load, optionally window, analyse: the JSON-safe report dict of tracer.render."""
    from ..frames import load_frames
    from ..recording import open_recording
    from ..render import health_dict, report_dict
    bounds = parse_window(window) if window else None
    analyses = pick_analyses(only)
    from ..importers import open_any
    src = open_any(path)   # a recording path, or Frames imported from trace.dat / ftrace text
    if isinstance(src, str):
        with open_recording(src) as rec:
            frames = load_frames(rec)
            closed = rec.closed_cleanly
    else:
        frames, closed = src, True
    health = health_dict(frames, closed_cleanly=closed)
    win = None
    if bounds is not None:
        span = frames.time_range_ns
        t0 = span[0] if span else 0
        lo, hi = bounds
        frames = frames.window(None if lo is None else t0 + int(lo * 1e9),
                               None if hi is None else t0 + int(hi * 1e9))
        win = {"start_s": lo if lo is not None else 0.0, "end_s": hi,
               "events": sum(len(df) for df in frames.by_kind.values())}
    return report_dict(frames, {a.name: a(frames) for a in analyses}, health=health, window=win)


def run(args) -> int:
    from ..bundle import open_input
    from ..render import render
    # bad arguments fail before any file is opened or a bundle extracted
    if args.window:
        parse_window(args.window)
    pick_analyses(args.only)
    with open_input(args.file) as path:   # a recording, or a verified bug-report bundle
        report = build_report(path, args.window, args.only)
    if args.format == "json":
        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        print(render(report, markdown=args.format == "markdown"), end="")
    return 0
