"""`gemscope simulate SCENARIO -o FILE`: write a SYNTHETIC recording from the workload model, with
the ground-truth manifest of what it injected beside it (FILE.truth.json)."""
from __future__ import annotations

import textwrap

EPILOG = """\
scenarios (gemscope simulate --list describes each):
  sync-free-in-retire, async-free-worker, trylock-or-defer, shrinker-storm, vm-lock-under-reclaim

examples:
  gemscope simulate --list
  gemscope simulate sync-free-in-retire -o /tmp/sfr.gsrec
  gemscope simulate shrinker-storm -o /tmp/storm.gsrec --seed 7 --duration-s 10
  gemscope simulate vm-lock-under-reclaim -o /tmp/big.gsrec --duration-s 60 --scale 20
  gemscope report /tmp/sfr.gsrec          # the analyses should match /tmp/sfr.truth.json

The same scenario, seed, duration and scale always give the same events. Recordings made here are
marked synthetic (metadata synthetic=true, source=simulate, every probe "modelled").
"""


def register(sub) -> None:
    p = sub.add_parser(
        "simulate", help="write a synthetic recording of a modelled msm design, with ground truth",
        description="Run gemscope's seeded workload model of the msm GEM buffer-object lifecycle "
                    "(GPU clients submitting, the retire worker, frees, the shrinker under memory "
                    "pressure) for one of the designs the 2022 msm/DRM thread argues about, and "
                    "write a recording plus FILE.truth.json: the headline numbers every analysis "
                    "must reproduce, counted from what the model injected.",
        epilog=EPILOG, formatter_class=_formatter())
    p.add_argument("scenario", nargs="?", metavar="SCENARIO", help="which design to model")
    p.add_argument("-o", "--output", metavar="FILE", help="recording to write (FILE.gsrec); the "
                   "manifest goes to FILE.truth.json")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--duration-s", type=float, default=5.0, metavar="S",
                   help="simulated seconds (default 5)")
    p.add_argument("--scale", type=float, default=1.0, metavar="K",
                   help="multiply every rate by K (default 1, about 7,000 events per simulated "
                   "second; --duration-s 60 --scale 24 is about 10 million events)")
    p.add_argument("--list", action="store_true", help="describe every scenario and exit")
    p.set_defaults(func=run)


def _formatter():
    import argparse
    return argparse.RawDescriptionHelpFormatter


def describe_scenarios() -> str:
    from ..simulate import SCENARIOS
    out = []
    for s in SCENARIOS.values():
        out.append(s.name)
        for label, text in (("", s.summary), ("models: ", s.kernel), ("shows: ", s.shows)):
            out += textwrap.wrap(label + text, 96, initial_indent="    ",
                                 subsequent_indent="      ")
        out.append("")
    return "\n".join(out).rstrip()


def run(args) -> int:
    from ..simulate import SimulateError, find_scenario, generate, truth_path
    if args.list:
        print(describe_scenarios())
        return 0
    if not args.scenario:
        raise SimulateError("name a scenario (gemscope simulate --list shows them)")
    find_scenario(args.scenario)                # unknown names fail before -o is asked for
    if not args.output:
        raise SimulateError("say where to write the recording: -o FILE")
    manifest = generate(args.scenario, args.output, seed=args.seed, duration_s=args.duration_s,
                        scale=args.scale)
    from ..recording import open_recording
    with open_recording(args.output) as rec:
        events = rec.summary().events
    t = manifest["truth"]
    print(f"wrote {args.output}: {events} events, SYNTHETIC scenario {args.scenario} "
          f"(seed {args.seed}, {args.duration_s:g} s, scale {args.scale:g})")
    print(f"ground truth in {truth_path(args.output)}: "
          f"{t['finalizers']['frees']} frees, {t['contention']['resv_waits']} resv waits, "
          f"{t['trylock']['trylock_failures']} trylock failures, {t['shrinker']['scans']} "
          f"shrinker scans, {t['retire']['fences_delayed_by_finalizers']} fences delayed by "
          "finalizers")
    return 0
