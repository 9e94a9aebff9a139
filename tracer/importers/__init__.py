"""Open anything gemscope can read: recordings, trace-cmd trace.dat (v6/v7) and ftrace text.

    open_any(path) -> Frames | str   a recording path is returned as is (the caller streams it);
                                     a trace.dat or ftrace text is imported into Frames
    import_file(path) -> Imported    events mapped to the schema + metadata + accounting
    write_recording(imported, out)   the same as a .gsrec recording

The format is recognised by content, never by file name: trace.dat magic 17 08 44 'tracing',
an Arrow IPC stream (a recording), otherwise text.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from ..clocks import import_clock
from ..errors import GemscopeError
from .. import schema

TRACEDAT_MAGIC = b"\x17\x08\x44tracing"
ARROW_STREAM = b"\xff\xff\xff\xff"
ARROW_FILE = b"ARROW1"
MAX_TEXT_BYTES = 8 << 30


class ImportFormatError(GemscopeError):
    """A file to import is missing, unreadable or in no format gemscope knows."""


@dataclass
class Imported:
    mapped: Any            # ftrace.mapping.Mapped
    meta: dict[str, Any]


def detect_format(path: str) -> str:
    """'tracedat', 'recording' or 'text' (by magic bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        raise ImportFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportFormatError(f"{path}: is a directory") from None
    except OSError as e:
        raise ImportFormatError(f"{path}: cannot read ({e.strerror})") from None
    if head[:3] == TRACEDAT_MAGIC[:3]:   # a truncated trace.dat is still one
        return "tracedat"
    if head.startswith(ARROW_STREAM) or head.startswith(ARROW_FILE):
        return "recording"
    if b"\0" in head:
        raise ImportFormatError(f"{path}: not an ftrace text, trace.dat or gemscope recording "
                                "(binary data without a known magic)")
    return "text"


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        frac = min(1.0, done / total)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {frac * 100:5.1f}%")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def read_raw(path: str, fmt: str | None = None, progress=None):
    """A RawTrace from a trace.dat or an ftrace text."""
    fmt = fmt or detect_format(path)
    if fmt == "tracedat":
        from ..ftrace.tracedat_reader import read_tracedat
        return read_tracedat(path, progress)
    if fmt == "text":
        from ..ftrace.text import parse_buffer, read_padded
        size = os.path.getsize(path)
        if size > MAX_TEXT_BYTES:
            raise ImportFormatError(f"{path}: {size} bytes of text exceed the {MAX_TEXT_BYTES} "
                                    "byte limit; split it (split -l)")
        buf, n = read_padded(path)
        trace = parse_buffer(buf, n, progress)
        trace.meta["import_format"] = "ftrace text"
        return trace
    raise ImportFormatError(f"{path}: a gemscope recording needs no import")


def import_file(path: str, progress=None) -> Imported:
    from ..ftrace.mapping import map_trace
    path = os.fspath(path)
    fmt = detect_format(path)
    if fmt == "recording":
        raise ImportFormatError(f"{path}: already a gemscope recording; open it directly")
    raw = read_raw(path, fmt, progress)
    mapped = map_trace(raw)
    if raw.events_in == 0 and raw.bad_count == 0 and not raw.lost_by_cpu:
        raise ImportFormatError(f"{path}: no ftrace events in this file")
    if raw.events_in == raw.bad_count and raw.bad_count:
        first = raw.bad_lines[0] if raw.bad_lines else "?"
        raise ImportFormatError(f"{path}: no ftrace event could be read ({raw.bad_count} lines not "
                                f"understood, the first at line {first})")
    return Imported(mapped, import_meta(path, raw, mapped))


def import_meta(path: str, raw, mapped) -> dict[str, Any]:
    from .. import __version__
    acc = dict(mapped.accounting)
    acc["bad_lines_first"] = raw.bad_lines[:100]
    recorded = sorted(mapped.recorded_kinds | {"generic"} | ({"lost"} if raw.lost_by_cpu else set()))
    clock, clock_note = import_clock(raw.clock, bool(raw.meta.get("import_clock_shifted")))
    meta = {
        "schema_version": schema.SCHEMA_VERSION, "tool": "gemscope", "tool_version": __version__,
        "source": f"import:{raw.meta.get('import_format', 'ftrace')}",
        "import_path": os.path.abspath(path), "import_clock": raw.clock,
        "clock": clock, "clock_note": clock_note,
        "realtime_offset_ns": None, "synthetic": False, "recorded_kinds": recorded,
        "probe_plan": {f"event:{name}": {"status": "attached", "reason": "events of it are in the imported file", "kinds": []}
                       for name in sorted(raw.groups)},
        "import_accounting": acc,
        "lost_by_cpu": {str(k): v for k, v in raw.lost_by_cpu.items()},
    }
    meta.update({k: v for k, v in raw.meta.items() if k.startswith("import_")})
    return meta


def _batches(mapped):
    from ..recording import _batch
    sch = schema.arrow_schema()
    for kind, cols in mapped.kinds.items():
        allowed = set(schema.kind_columns(kind)) - {"kind"}
        clean = {k: v for k, v in cols.items() if k in allowed}
        yield _batch(kind, [clean], sch)


def to_frames(imported: Imported):
    from ..frames import frames_from_batches
    return frames_from_batches(list(_batches(imported.mapped)), imported.meta)


def write_recording(imported: Imported, out: str) -> int:
    """Write the imported events as a recording; returns the number of events written."""
    from ..recording import RecordingWriter
    n = 0
    with RecordingWriter(out, imported.meta) as w:
        for kind, cols in imported.mapped.kinds.items():
            allowed = set(schema.kind_columns(kind)) - {"kind"}
            w.append(kind, {k: v for k, v in cols.items() if k in allowed})
            n += len(cols["ts_ns"])
    return n


def open_any(path: str | os.PathLike, progress=None):
    """A recording path (str, unchanged) or, for trace.dat / ftrace text, imported Frames.

    A `.gsrec` is always returned as a recording, so that a damaged one fails as a damaged
    recording (RecordingError) instead of being parsed as text."""
    path = os.fspath(path)
    if path.endswith(".gsrec") or detect_format(path) == "recording":
        return path
    return to_frames(import_file(path, progress))
