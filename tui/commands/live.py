"""`gemscope live`: the TUI on this machine's kernel, through the live BCC source."""
from __future__ import annotations

import argparse
import importlib

from tracer.errors import GemscopeError

EPILOG = """examples:
  sudo gemscope live                 # the last 10 s, refreshed a few times a second
  sudo gemscope live -o /tmp/live.gsrec   # and keep a recording of the session

The window shows the last N seconds (w changes N). Needs root, BPF and python3-bpfcc.
"""
# Where tracer's live source lives once it exists (module, class). The TUI never builds one itself.
LIVE_SOURCES = (("tracer.sources.live_bcc", "LiveBccSource"),
                ("tracer.sources.live", "LiveSource"))


class LiveUnavailable(GemscopeError):
    """This gemscope has no live source to open."""


def register(sub) -> None:
    p = sub.add_parser(
        "live", help="open the TUI on this machine's kernel (root, BPF)",
        description="Trace the msm driver's GEM buffer objects on this machine with eBPF and "
                    "show the same views as `replay`, over the last N seconds.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", help="also write a recording to this file")
    p.set_defaults(func=run)


def find_live_source():
    """The live Source class tracer provides, or None."""
    for module, name in LIVE_SOURCES:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        cls = getattr(mod, name, None)
        if cls is not None:
            return cls
    return None


def run(args) -> int:
    cls = find_live_source()
    if cls is None:
        raise LiveUnavailable("live tracing needs the BCC backend, which this gemscope does not "
                              "have yet; record elsewhere and use `gemscope replay FILE`")
    source = cls(output=args.output) if args.output else cls()
    from ..app import GemscopeApp
    app = GemscopeApp(source)
    app.run()
    return app.return_code or 0
