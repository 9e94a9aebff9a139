"""Import speed: gemscope's text and trace.dat importers against `trace-cmd report` on the same
trace.dat, side by side, on a real host trace replicated to millions of events.

    .venv/bin/python benchmarks/import_speed.py [--events 2000000] [--keep DIR]

The real trace (tests/data/host-6.18-v7.dat: lock:contention_*, vmscan:mm_shrink_slab_*) has its
ring-buffer pages copied N times, each copy shifted later in time, into a trace.dat v6 that
trace-cmd reads too. Then, each timed once (wall clock, one run):
  trace-cmd report -t big.dat > big.txt     what trace-cmd does to produce text
  gemscope text import of big.txt            read + parse + map to the schema's columns
  gemscope trace.dat import of big.dat       decode + map to the schema's columns
  gemscope text import of mixed.txt          the same on a mixed text (benchmarks/mixed_text.py:
                                             host + guest msm traces, gemscope kprobes with
                                             fetch-args, a perf-probe kprobe, tgid/flag columns)
Each row gives wall and CPU seconds (this process and its children): the machine is shared, so
events per CPU second is the figure that does not depend on the load of other work.
--phases then imports the host text once more per worker count and prints the CPU seconds of each
phase (thread CPU time, summed over the parse threads): open, read, chunk scan, the two byte-level
payload readers, merge, and the mapping's payload regexes, symbols, pairing and the rest.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mixed_text import write_mixed  # noqa: E402
from tracedat_writer import replicate_pages, write_v6  # noqa: E402
from tracer.ftrace.mapping import map_trace  # noqa: E402
from tracer.ftrace.text import parse_buffer, read_padded  # noqa: E402
from tracer.ftrace.tracedat import open_tracedat  # noqa: E402
from tracer.ftrace.tracedat_reader import read_tracedat  # noqa: E402

SOURCE = ROOT / "tests" / "data" / "host-6.18-v7.dat"


def build(out: Path, events: int) -> int:
    td = open_tracedat(str(SOURCE))
    base = read_tracedat(str(SOURCE))
    per_copy = base.events_in
    copies = max(1, -(-events // per_copy))
    span = max(int(g.ts.max()) for g in base.groups.values()) - \
        min(int(g.ts.min()) for g in base.groups.values()) + 1_000_000
    cpus = [c for b in td.buffers for c in b.cpus if c.size]
    pages = [replicate_pages(bytes(td.cpu_bytes(c)), td.page_size, copies, span) for c in cpus]
    write_v6(str(out), td, pages, clock=base.clock or "local")
    return copies * per_copy


CPU: dict[str, float] = {}


def timed(label, func):
    """Wall seconds (returned) and CPU seconds of this process and its children (CPU[label])."""
    r0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = func()
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[label] = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(r0, r1))
    return label, dt, result


PHASES = (  # (module, function, label); nested phases are subtracted from their parent
    ("tracer.ftrace.text", "read_padded", "open the file"),
    ("tracer.ftrace.text_read", "TextFile.fill", "read (preadv into reused buffers)"),
    ("tracer.ftrace.text", "_parse_chunk", "chunks: scan, names, comms"),
    ("tracer.ftrace.text", "_contention_fields", "chunks: lock:contention_* payloads"),
    ("tracer.ftrace.text", "template_fields", "chunks: mm_shrink_slab_* payloads"),
    ("tracer.ftrace.text", "_merge", "merge"),
    ("tracer.ftrace.mapping", "map_trace", "map: rest"),
    ("tracer.ftrace.mapping", "extract_fields", "map: payload regexes"),
    ("tracer.ftrace.mapping", "_symbolize", "map: symbols"),
    ("tracer.ftrace.mapping", "pair", "map: pairing"),
    ("tracer.ftrace.mapping", "_reclaim_context", "map: reclaim context"))
PARENT = {"chunks: lock:contention_* payloads": "chunks: scan, names, comms",
          "chunks: mm_shrink_slab_* payloads": "chunks: scan, names, comms"}


def print_phases(txt: Path, lines: int, workers: int) -> None:
    """Thread CPU seconds of each phase of one text import (parse with `workers` threads + map)."""
    import functools
    import importlib
    import threading
    spent: dict[str, float] = {}
    lock = threading.Lock()
    saved = []
    for mod_name, fn, label in PHASES:
        mod = importlib.import_module(mod_name)
        *outer, fn = fn.split(".")                # "Class.method": patched on the class
        for name in outer:
            mod = getattr(mod, name)
        orig = getattr(mod, fn)

        def timed_fn(*a, _orig=orig, _label=label, **k):
            t0 = time.thread_time()
            try:
                return _orig(*a, **k)
            finally:
                with lock:
                    spent[_label] = spent.get(_label, 0.0) + time.thread_time() - t0
        saved.append((mod, fn, orig))
        setattr(mod, fn, functools.wraps(orig)(timed_fn))
    text_mod = importlib.import_module("tracer.ftrace.text")
    map_mod = importlib.import_module("tracer.ftrace.mapping")
    try:
        t0 = time.perf_counter()
        buf, n = text_mod.read_padded(str(txt))
        raw = text_mod.parse_buffer(buf, n, workers=workers)
        map_mod.map_trace(raw)
        wall = time.perf_counter() - t0
    finally:
        for mod, fn, orig in saved:
            setattr(mod, fn, orig)
    for child, parent in PARENT.items():
        spent[parent] = spent.get(parent, 0.0) - spent.get(child, 0.0)
    for child in ("map: payload regexes", "map: symbols", "map: pairing", "map: reclaim context"):
        spent["map: rest"] = spent.get("map: rest", 0.0) - spent.get(child, 0.0)
    total = sum(spent.values())
    print(f"text import phases, {workers} parse thread(s): {wall:.2f} s wall, {total:.2f} "
          f"thread CPU-s ({lines / total:,.0f} lines per CPU-s), load {os.getloadavg()[0]:.1f}")
    for _, _, label in PHASES:
        v = spent.get(label, 0.0)
        print(f"  {label:36} {v:6.3f} CPU-s {1e9 * v / lines:7.0f} ns/line")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--keep", help="keep the generated files in this directory")
    ap.add_argument("--mixed-lines", type=int, help="lines of the mixed text (default: --events)")
    ap.add_argument("--phases", action="store_true",
                    help="also print the CPU seconds of each phase of the text import")
    args = ap.parse_args()
    if not shutil.which("trace-cmd"):
        print("trace-cmd is not installed (scripts/setup.sh --test installs it)", file=sys.stderr)
        return 2
    work = Path(args.keep or tempfile.mkdtemp(prefix="gemscope-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    dat, txt = work / "big.dat", work / "big.txt"
    expected = build(dat, args.events)
    size_dat = dat.stat().st_size
    print(f"trace.dat v6 {size_dat / 1e6:.0f} MB, {expected} events "
          f"(real host trace x {expected // 680} copies)")
    rows = []

    def report():
        with open(txt, "w") as f:
            subprocess.run(["trace-cmd", "report", "-t", str(dat)], stdout=f,
                           stderr=subprocess.DEVNULL, check=True)
    label, dt, _ = timed("trace-cmd report -t > text", report)
    lines = sum(1 for _ in open(txt, "rb"))
    rows.append((label, dt, lines, expected, CPU[label]))

    def text_parse():
        buf, n = read_padded(str(txt))
        return parse_buffer(buf, n)
    label, dt, raw = timed("gemscope text parse", text_parse)
    rows.append((label, dt, lines, raw.events_in, CPU[label]))
    label2, dt2, mapped = timed("gemscope text map", lambda: map_trace(raw))
    rows.append(("gemscope text import (parse+map)", dt + dt2, lines, raw.events_in,
                 CPU[label] + CPU[label2]))
    assert mapped.accounting["balanced"]

    label, dt, raw2 = timed("gemscope trace.dat decode", lambda: read_tracedat(str(dat)))
    rows.append((label, dt, None, raw2.events_in, CPU[label]))
    label2, dt2, mapped2 = timed("gemscope trace.dat map", lambda: map_trace(raw2))
    rows.append(("gemscope trace.dat import (decode+map)", dt + dt2, None, raw2.events_in,
                 CPU[label] + CPU[label2]))
    assert raw2.events_in == expected == raw.events_in, (raw2.events_in, expected, raw.events_in)

    mixed = work / "mixed.txt"
    mixed_lines = write_mixed(mixed, args.mixed_lines or args.events)

    def mixed_parse():
        buf, n = read_padded(str(mixed))
        return parse_buffer(buf, n)
    label, dt, raw3 = timed("gemscope text parse, mixed", mixed_parse)
    label2, dt2, mapped3 = timed("gemscope text map, mixed", lambda: map_trace(raw3))
    rows.append(("gemscope text import, mixed text", dt + dt2, mixed_lines, raw3.events_in,
                 CPU[label] + CPU[label2]))
    assert mapped3.accounting["balanced"]

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine: "
          "wall figures depend on it; cpu = CPU seconds used)")
    print(f"{'step':40} {'wall s':>7} {'cpu s':>6} {'lines/s':>11} {'events/s':>11}"
          f" {'lines/cpu-s':>11} {'ev/cpu-s':>11}")
    for label, dt, nlines, nev, cpu in rows:
        lps = f"{nlines / dt:11,.0f}" if nlines else f"{'-':>11}"
        lpc = f"{nlines / cpu:11,.0f}" if nlines else f"{'-':>11}"
        print(f"{label:40} {dt:7.2f} {cpu:6.2f} {lps} {nev / dt:11,.0f} {lpc} {nev / cpu:11,.0f}")
    print(f"text {txt.stat().st_size / 1e6:.0f} MB, {lines} lines; mapped kinds: " +
          ", ".join(f"{k} {mapped2.count(k)}" for k in sorted(mapped2.kinds)))
    print(f"mixed text {mixed.stat().st_size / 1e6:.0f} MB, {mixed_lines} lines, "
          f"{raw3.events_in} events ({raw3.bad_count} bad lines); mapped kinds: " +
          ", ".join(f"{k} {mapped3.count(k)}" for k in sorted(mapped3.kinds)))
    if args.phases:
        for workers in (1, 2):
            print_phases(txt, lines, workers)
    if not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
