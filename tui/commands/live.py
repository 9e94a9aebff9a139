"""`gemscope live`: the TUI on this machine's kernel, through tracer's live sources.

The source is started before the app opens, so a machine that cannot trace (not root, no BCC,
no kernel headers, no tracefs) gets one actionable line instead of an empty screen.
"""
from __future__ import annotations

import argparse

EPILOG = """examples:
  sudo gemscope live                          # the last 10 s, refreshed 4 times a second
  sudo gemscope live -o /tmp/live.gsrec       # and keep a recording of the session
  sudo gemscope live --backend ftrace         # no BCC: tracefs kprobe_events instead

The window shows the last N seconds (w changes N, [ ] look back). `gemscope doctor` says what
this machine lacks for live tracing.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "live", help="open the TUI on this machine's kernel (root; BPF or tracefs)",
        description="Trace the msm driver's GEM buffer objects on this machine and show the "
                    "same views as `replay`, over the last N seconds, while writing a recording.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="gemscope-live.gsrec", metavar="FILE",
                   help="recording written while tracing (default: gemscope-live.gsrec)")
    p.add_argument("--backend", choices=("auto", "bcc", "ftrace"), default="auto",
                   help="bcc (BPF), ftrace (tracefs, no BCC needed) or auto (default)")
    from tracer.commands.record import add_buffer_option
    add_buffer_option(p)
    p.add_argument("--no-taskstats", action="store_true", help="do not sample delay accounting")
    p.add_argument("--pid", dest="pids", type=int, action="append", metavar="PID",
                   help="also sample taskstats of this task (repeatable)")
    p.add_argument("--view", default="overview", help="the view to open first")
    p.set_defaults(func=run, uncontended_ns=0)


def open_source(args):
    """tracer's live Source for these arguments (the same choice `gemscope record` makes)."""
    from tracer.commands.record import _use_ftrace
    if _use_ftrace(args):
        from tracer.ftrace.live import open_tracefs_source
        return open_tracefs_source(args)
    from tracer.sources.bcc_source import open_live_source
    return open_live_source(args)


def run(args) -> int:
    source = open_source(args)
    source.start()                  # GemscopeError (not root, no BCC...) -> one line, exit 2
    from ..app import GemscopeApp
    app = GemscopeApp(source, first_view=args.view, source_started=True)
    try:
        app.run()
    finally:
        source.stop()
    return app.return_code or 0
