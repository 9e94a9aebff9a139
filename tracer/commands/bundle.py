"""`gemscope bundle create|verify|summary`: one-file bug reports a maintainer can trust."""
from __future__ import annotations

import argparse
import os
import tempfile

from ..errors import GemscopeError

EPILOG = """examples:
  gemscope bundle create trace.gsrec -o report.gsbundle          # recording -> bundle
  gemscope bundle create trace.gsrec -o report.gsbundle --redact-comm --redact-paths
  sudo gemscope bundle create --record 10 -o report.gsbundle     # record 10 s, then bundle
  gemscope bundle verify report.gsbundle                         # every check, every digest
  gemscope bundle summary report.gsbundle > mail.md              # the Markdown summary
  gemscope report report.gsbundle / gemscope info report.gsbundle / gemscope replay report.gsbundle

A bundle is a ZIP: manifest.json (SHA-256 per part), recording.gsrec, environment.json (kernel
release and config lines, msm parameters, GPU, attach plan, tool versions, command line),
formats/ (tracepoint formats), summary.md, plots/*.png and, with --perfetto, trace.pftrace. Readers verify every part and refuse
path tricks, links, devices, bombs and damaged parts with a one-line reason.
"""


class RecordUnavailable(GemscopeError):
    """--record was asked but this gemscope has no live recorder."""


def register(sub) -> None:
    p = sub.add_parser("bundle", help="make or check a one-file bug-report bundle",
                       description="Bug-report bundles: one file holding a recording, where it "
                                   "was made, the tracepoint formats and a Markdown summary.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    bsub = p.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    c = bsub.add_parser("create", help="bundle a recording (or record one first)",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("recording", nargs="?", help="a gemscope recording (or a bundle)")
    src.add_argument("--record", type=float, metavar="SECONDS",
                     help="record this machine for SECONDS with the live recorder first (root)")
    c.add_argument("--backend", choices=("auto", "bcc", "ftrace"), default="auto",
                   help="with --record: the recorder backend (see gemscope record --help)")
    c.add_argument("-o", "--output", required=True, help="bundle file to write")
    c.add_argument("--perfetto", action="store_true",
                   help="also include the Perfetto export (trace.pftrace) for ui.perfetto.dev")
    c.add_argument("--redact-comm", action="store_true",
                   help="replace task names by task-NNN tokens (consistently, everywhere)")
    c.add_argument("--redact-paths", action="store_true",
                   help="replace user paths (and the hostname) by <path-NNN> tokens")
    c.set_defaults(func=run_create)
    v = bsub.add_parser("verify", help="check a bundle: structure, sizes, every part's SHA-256")
    v.add_argument("bundle")
    v.set_defaults(func=run_verify)
    s = bsub.add_parser("summary", help="print a verified bundle's Markdown summary")
    s.add_argument("bundle")
    s.set_defaults(func=run_summary)


def _record(seconds: float, out: str, backend: str = "auto") -> None:
    """Run the live recorder's `record` command in-process, if this gemscope has one."""
    from .. import cli
    parser, sub = cli.build_parser()
    if "record" not in sub.choices:
        raise RecordUnavailable(
            "--record: this gemscope has no live recorder (`gemscope record`); record on the "
            "device first (sudo gemscope record -d 10 -o trace.gsrec) and run "
            "`gemscope bundle create trace.gsrec -o FILE`")
    args = parser.parse_args(["record", "-d", str(seconds), "-o", out, "--backend", backend])
    rc = args.func(args)
    if rc:
        raise RecordUnavailable(f"--record: `gemscope record` failed (exit {rc}); see above")


def run_create(args) -> int:
    from ..bundle import open_input
    from ..bundle.writer import create_bundle
    if args.record is not None:
        if not args.record > 0:
            raise GemscopeError("--record SECONDS must be a positive number of seconds")
        with tempfile.TemporaryDirectory(prefix="gemscope-record-") as tmp:
            rec = os.path.join(tmp, "live.gsrec")
            _record(args.record, rec, args.backend)
            manifest = create_bundle(rec, args.output, redact_comm=args.redact_comm,
                                     redact_paths=args.redact_paths,
                                     with_perfetto=args.perfetto)
    else:
        with open_input(args.recording) as rec:
            manifest = create_bundle(rec, args.output, redact_comm=args.redact_comm,
                                     redact_paths=args.redact_paths,
                                     with_perfetto=args.perfetto)
    size = os.path.getsize(args.output)
    print(f"wrote {args.output}: {len(manifest['parts'])} parts, {manifest['events']} events, "
          f"{size} bytes" + (" (SYNTHETIC recording)" if manifest["synthetic"] else ""))
    return 0


def run_verify(args) -> int:
    from ..bundle import open_and_verify
    contents = open_and_verify(args.bundle)
    m = contents.manifest
    print(f"{args.bundle}: OK, {len(m['parts'])} parts verified (sha256), made by "
          f"{m.get('created_by', '?')}" + (", SYNTHETIC" if m.get("synthetic") else ""))
    for name, entry in sorted(m["parts"].items()):
        print(f"  {name:60} {entry['size_bytes']:>12}  {entry['sha256'][:16]}")
    return 0


def run_summary(args) -> int:
    from ..bundle import read_text_part
    print(read_text_part(args.bundle, "summary.md"), end="")
    return 0
