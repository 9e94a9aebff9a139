"""`gemscope export FILE --perfetto OUT | --csv DIR | --parquet DIR`."""
from __future__ import annotations

import argparse

EPILOG = """examples:
  gemscope export trace.gsrec --perfetto trace.pftrace     # open in https://ui.perfetto.dev
  gemscope export report.gsbundle --perfetto trace.pftrace # bundles work too
  gemscope export trace.gsrec --csv out/ --parquet out/    # one file per event kind

Perfetto: a track per thread for frees, lock waits, retire runs and shrinker scans, counter tracks
for the shrinker's page counts and per-stage freed/skipped pages, and flows from each GPU submit
to its retirement and to the frees that retirement caused.
"""


def register(sub) -> None:
    p = sub.add_parser("export", help="export a recording to Perfetto, CSV or Parquet",
                       description="Export a recording (or bundle) for other tools.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="a gemscope recording or bundle")
    p.add_argument("--perfetto", metavar="OUT", help="write a Perfetto protobuf trace")
    p.add_argument("--csv", metavar="DIR", help="write DIR/<kind>.csv for every kind")
    p.add_argument("--parquet", metavar="DIR", help="write DIR/<kind>.parquet for every kind")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..bundle import open_input
    from ..errors import GemscopeError
    from ..frames import load_frames
    if not (args.perfetto or args.csv or args.parquet):
        raise GemscopeError("export: say what to write: --perfetto OUT, --csv DIR or "
                            "--parquet DIR")
    with open_input(args.file) as path:
        frames = load_frames(path)
    try:
        _write(args, frames)
    except OSError as e:
        raise GemscopeError(f"export: cannot write {e.filename or 'the output'} "
                            f"({e.strerror or e})") from None
    return 0


def _write(args, frames) -> None:
    if args.perfetto:
        from ..export.perfetto import export_perfetto
        st = export_perfetto(frames, args.perfetto)
        print(f"wrote {args.perfetto}: {st.packets} packets, {st.tracks} tracks, "
              f"{sum(st.slices.values())} slices, {sum(st.instants.values())} instants, "
              f"{sum(st.counter_points.values())} counter points, {st.flows} flows")
    if args.csv:
        from ..export.tables import export_csv
        n = export_csv(frames, args.csv)
        print(f"wrote {len(n)} CSV files ({sum(n.values())} rows) to {args.csv}")
    if args.parquet:
        from ..export.tables import export_parquet
        n = export_parquet(frames, args.parquet)
        print(f"wrote {len(n)} Parquet files ({sum(n.values())} rows) to {args.parquet}")
