"""`gemscope diff A B`: which differences between two recordings are real, and which are noise."""
from __future__ import annotations

import argparse
import json

EPILOG = """examples:
  gemscope diff before.gsrec after.gsrec                      # text
  gemscope diff before.gsbundle after.gsbundle --format markdown > mail.md
  gemscope diff a.gsrec b.gsrec --format json | jq .significant

Distributions (lock waits, free durations, retire runs and their finalizer time, queue delay,
scan latency): p50/p90/p99 with bootstrap confidence intervals and a Mann-Whitney U test for a
shift. Counts: Poisson rate ratios (per second of recording) with exact intervals. Trylock
failure rate: Fisher's exact test. All p-values are Holm-corrected together; a metric is
"significant" only when its corrected p-value is below --alpha.
"""


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare two recordings or bundles with statistics",
                       description="Compare recording B with recording A, analysis by analysis, "
                                   "and say plainly which differences are significant.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="the baseline recording or bundle (A)")
    p.add_argument("b", help="the recording or bundle to compare with it (B)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="family-wise significance level after Holm correction (default 0.05)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (0): same seed, same CIs")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..diff import diff_paths
    from ..errors import GemscopeError
    if not 0 < args.alpha < 1:
        raise GemscopeError("--alpha must be between 0 and 1")
    if args.resamples < 100:
        raise GemscopeError("--resamples must be at least 100")
    d = diff_paths(args.a, args.b, alpha=args.alpha, resamples=args.resamples, seed=args.seed)
    if args.format == "json":
        print(json.dumps(d, indent=2, allow_nan=False))
    else:
        from ..diff.render import render_diff
        print(render_diff(d, markdown=args.format == "markdown"), end="")
    return 0
