"""The headless `gemscope` commands. The console script lives in tui/entry.py, which adds the TUI
commands (replay, live) to this parser, so that `tracer` never imports textual."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Sequence

from . import __version__
from .errors import GemscopeError

# Each module in tracer.commands defines register(subparsers); keep this list sorted by use.
COMMAND_MODULES = (
    "bundle",
    "diff",
    "doctor",
    "export",
    "import_cmd",
    "info",
    "probes_cmd",
    "record",
    "report",
    "schema_cmd",
    "simulate",
)

EPILOG = """examples:
  gemscope replay sample-traces/sync-free-in-retire.gsrec   # the TUI on a recording
  gemscope report sample-traces/shrinker-storm.gsrec --format markdown
  gemscope info sample-traces/shrinker-storm.gsrec          # metadata and health
  gemscope simulate sync-free-in-retire -o /tmp/sfr.gsrec   # a synthetic recording
  sudo gemscope record -d 10 -o /tmp/live.gsrec             # record this machine (root)
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    p = argparse.ArgumentParser(
        prog="gemscope",
        description="Latency profiler for the msm DRM driver's GEM buffer-object lifecycle: "
                    "reservation-lock contention, shrinker trylock failures, finalizer delays "
                    "and the GPU retire worker.",
        epilog=EPILOG, formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"gemscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.commands.{name}").register(sub)
    return p, sub


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except GemscopeError as e:
        print(f"gemscope: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gemscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser, _ = build_parser()
    return run(parser, argv)
