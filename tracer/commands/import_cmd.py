"""`gemscope import FILE -o RECORDING`: ftrace text or trace.dat -> a gemscope recording."""
from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  gemscope import trace.dat -o /tmp/t.gsrec           # trace-cmd record/extract output (v6, v7)
  gemscope import /sys/kernel/tracing/trace -o t.gsrec
  trace-cmd report -t trace.dat > t.txt && gemscope import t.txt -o t.gsrec
  gemscope report trace.dat                            # report reads trace.dat/text directly too

Recognised events: lock:contention_*, vmscan:mm_shrink_slab_*, vmscan:mm_vmscan_direct_reclaim_*,
dma_fence:dma_fence_signaled, sched:sched_kthread_work_* (retire_worker), drm_msm_gpu:*, and the
gemscope kprobe events; every other event is kept as a `generic` event. Lines that are not events
are counted and listed by line number. Timestamps stay in the file's trace clock (see `info`).
"""


def register(sub) -> None:
    p = sub.add_parser("import", help="convert ftrace text or trace.dat into a recording",
                       description="Read an ftrace text (trace, trace_pipe, trace-cmd report) or a "
                                   "trace-cmd trace.dat (v6/v7, compressed or not) in pure Python "
                                   "and write a gemscope recording with the same events.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="trace.dat or ftrace text")
    p.add_argument("-o", "--output", required=True, metavar="RECORDING",
                   help="recording to write (.gsrec)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..importers import _Progress, import_file, write_recording
    progress = _Progress("gemscope import", False if args.no_progress else None)
    imported = import_file(args.file, progress)
    n = write_recording(imported, args.output)
    print(summary(imported, args.output, n))
    return 0


def summary(imported, output: str, written: int) -> str:
    from ..clocks import clock_warning
    acc = imported.meta["import_accounting"]
    m = imported.mapped
    lines = [f"gemscope import: {imported.meta['import_path']} -> {output}",
             f"  format     {imported.meta['source']}, clock {imported.meta['import_clock']}",
             f"  events in  {acc['events_in']}  (mapped {acc['mapped_inputs']}, generic "
             f"{acc['generic']}, bad {acc['bad']}, unpaired {acc['unpaired_total']})",
             f"  written    {written}"]
    for kind in sorted(m.kinds):
        lines.append(f"    {kind:16} {m.count(kind)}")
    for key in ("unpaired_begins", "unmatched_ends", "unreadable_payloads"):
        if acc.get(key):
            lines.append(f"  {key.replace('_', ' '):18} " +
                         ", ".join(f"{k}: {v}" for k, v in sorted(acc[key].items())))
    if acc["bad"]:
        first = ", ".join(str(x) for x in acc["bad_lines_first"][:10])
        lines.append(f"  bad lines  {acc['bad']} (first at lines {first})")
    if acc["lost_events"]:
        lines.append(f"  lost       {acc['lost_events']} events dropped by the kernel")
    warning = clock_warning(imported.meta)
    if warning:
        lines.append(f"  {warning}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
