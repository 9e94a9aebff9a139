"""`gemscope replay FILE`: the TUI on a recording."""
from __future__ import annotations

import argparse

EPILOG = """examples:
  gemscope replay sample-traces/sync-free-in-retire.gsrec
  gemscope replay /tmp/live.gsrec --view events

In the app: 1-7 switch views, ? help, [ ] move the time window, w its width, 0 the whole trace,
space play/pause, + - speed, J the worst event of the view, / filter events, q quit.
A damaged file (cut short, recorder killed) opens with a notice; everything before the damage
is shown.
"""
VIEWS = ("overview", "contention", "trylock", "finalizers", "retire", "shrinker", "events")


def register(sub) -> None:
    p = sub.add_parser(
        "replay", help="open the TUI on a recording (views, time window, replay)",
        description="Open the gemscope terminal UI on a recording: health and alerts, "
                    "reservation contention, trylock failures, finalizers, the retire worker, "
                    "the shrinker, and every event with each GEM object's lifecycle. The file "
                    "is read in the background: the first view appears while a large file is "
                    "still loading.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="a gemscope recording (.gsrec) or bug-report bundle")
    p.add_argument("--view", choices=VIEWS, default="overview", help="the view to open first")
    p.set_defaults(func=run)


def run(args) -> int:
    from tracer.bundle import open_input
    from tracer.sources.recording_source import RecordingSource
    # a recording, or a bug-report bundle: verified, its recording extracted to a private temp
    # dir that lives until the app exits (BundleError/RecordingError -> one line from the CLI)
    with open_input(args.file) as path:
        source = RecordingSource(path)
        from ..app import GemscopeApp
        app = GemscopeApp(source, first_view=args.view)
        app.run()
    return app.return_code or 0
