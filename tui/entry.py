"""The `gemscope` console script: the headless commands of tracer.cli plus the TUI commands."""
from __future__ import annotations

import sys
from typing import Sequence

from tracer import cli

TUI_COMMAND_MODULES: tuple[str, ...] = ("replay", "live")


def main(argv: Sequence[str] | None = None) -> int:
    import importlib
    parser, sub = cli.build_parser()
    for name in TUI_COMMAND_MODULES:
        importlib.import_module(f"tui.commands.{name}").register(sub)
    return cli.run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
