"""trace.dat -> RawTrace: decode every CPU buffer of every instance with the file's formats."""
from __future__ import annotations

import numpy as np

from .binary_events import decode_records
from .rawevents import RawTrace
from .ringbuf import decode_pages
from .tracedat import TraceDatError, open_tracedat


def read_tracedat(path: str, progress=None) -> RawTrace:
    """All events of a trace.dat; `progress(done_bytes, total_bytes)` is called per CPU buffer."""
    td = open_tracedat(path)
    trace = RawTrace(clock=td.clock, cmdlines=td.cmdlines)
    trace.meta.update({"import_format": f"trace.dat v{td.version}",
                       "import_compression": td.compression,
                       "import_buffers": [b.name or "(top)" for b in td.buffers if b.cpus]})
    for k in ("uname", "version", "offset"):
        if k in td.options:
            trace.meta[f"import_{k}"] = td.options[k]
    clocks = {b.clock for b in td.buffers if b.cpus and b.clock}
    if clocks:
        trace.clock = sorted(clocks)[0]
    total = sum(c.size for b in td.buffers for c in b.cpus) or 1
    done, seq = 0, 0
    for b in td.buffers:
        page_size = td.options.get("buffer_page_size", {}).get(b.name, td.page_size)
        for c in b.cpus:
            if c.size == 0:
                continue
            raw = np.frombuffer(td.cpu_bytes(c), np.uint8)
            recs = decode_pages(raw, page_size, td.page_header)
            if recs.corrupt_pages:
                trace.meta.setdefault("import_corrupt_pages", 0)
                trace.meta["import_corrupt_pages"] += recs.corrupt_pages
            lost = recs.lost
            if lost or recs.lost_pages:
                trace.lost_by_cpu[c.cpu] = trace.lost_by_cpu.get(c.cpu, 0) + max(lost, 0)
                trace.meta.setdefault("import_pages_with_lost_events", 0)
                trace.meta["import_pages_with_lost_events"] += recs.lost_pages
            seq = decode_records(raw, recs, td.formats, c.cpu, trace, seq)
            done += c.size
            if progress:
                progress(done, total)
    _apply_clock_options(trace, td)
    trace.kallsyms_text = td.kallsyms_text
    return trace


def _apply_clock_options(trace: RawTrace, td) -> None:
    """TSC2NSEC (x86-tsc clock) and OFFSET options, as trace-cmd applies them when reading."""
    t2n = td.options.get("tsc2nsec")
    off = td.options.get("offset")
    try:
        offset = int(str(off).strip().split()[0], 0) if off else 0
    except (ValueError, IndexError):
        raise TraceDatError(f"{td.path}: OFFSET option {str(off)[:40]!r} is not a number") from None
    if t2n or offset:
        trace.meta["import_clock_shifted"] = True
    for g in trace.groups.values():
        if t2n:
            mult, shift, toff = t2n
            g.ts = ((g.ts.astype(object) * mult) >> shift).astype(np.int64) + toff
        if offset:
            g.ts = g.ts + offset
