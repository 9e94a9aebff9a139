"""Read trace-cmd's trace.dat, versions 6 and 7 (sections, zstd/zlib compression), in pure Python.

Layout (trace-cmd.dat.v6(5) / trace-cmd.dat.v7(5)): magic 17 08 44 'tracing', version, endianness,
long size, page size. v6 then stores header_page/header_event, ftrace and event formats, kallsyms,
printk formats, saved cmdlines, options and per-CPU (offset, size) pairs. v7 stores a compression
name and the offset of the first options section; options point at sections (id, flags, string id,
u64 size; flag 1 = compressed as <u32 csize><u32 usize><data>) and BUFFER options list each
instance's per-CPU data (compressed as <u32 chunks> then chunks of <u32 csize><u32 usize><data>).
Every count, size and offset read from the file is checked against the file and fixed limits, so
a truncated or hostile file raises TraceDatError (one line) instead of crashing or hanging.
"""
from __future__ import annotations

import mmap
import os
import struct
import zlib
from dataclasses import dataclass, field

from ..errors import GemscopeError
from .formats import EventFormat, FormatError, PageHeader, parse_event_format

MAGIC = b"\x17\x08\x44tracing"
MAX_META = 256 << 20          # uncompressed metadata section limit
MAX_CHUNK = 64 << 20          # one decompressed trace-data chunk
MAX_COUNT = 100_000           # systems, events per system, options, chunks per CPU
MAX_CPUS = 4096
MAX_RATIO = 1000              # decompressed / compressed bytes of one CPU's data
MAX_CPU_DATA = 16 << 30       # decompressed bytes of one CPU's data

OPT_DONE, OPT_CPUSTAT, OPT_BUFFER, OPT_TRACECLOCK, OPT_UNAME = 0, 2, 3, 4, 5
OPT_OFFSET, OPT_CPUCOUNT, OPT_VERSION, OPT_TSC2NSEC = 7, 8, 9, 14
OPT_HEADER_INFO, OPT_FTRACE_EVENTS, OPT_EVENT_FORMATS, OPT_KALLSYMS = 16, 17, 18, 19
OPT_PRINTK, OPT_CMDLINES = 20, 21


class TraceDatError(GemscopeError):
    """A trace.dat file is damaged, truncated or not one."""


@dataclass
class CpuData:
    cpu: int
    offset: int
    size: int
    compressed: bool = False


@dataclass
class Buffer:
    name: str
    clock: str | None
    cpus: list[CpuData] = field(default_factory=list)


@dataclass
class TraceDat:
    path: str
    version: int
    page_size: int
    long_size: int
    compression: str = "none"
    page_header: PageHeader = field(default_factory=PageHeader)
    formats: dict[int, EventFormat] = field(default_factory=dict)
    kallsyms_text: str = ""
    cmdlines: dict[int, str] = field(default_factory=dict)
    buffers: list[Buffer] = field(default_factory=list)
    clock: str | None = None
    options: dict[str, object] = field(default_factory=dict)
    raw_texts: dict[str, object] = field(default_factory=dict)   # metadata as stored (for tools)
    _data: object = None

    def cpu_bytes(self, c: CpuData) -> bytes | memoryview:
        """The raw ring-buffer pages of one CPU (decompressed when needed)."""
        mv = memoryview(self._data)
        if not c.compressed:
            return mv[c.offset:c.offset + c.size]
        r = _Cursor(mv, c.offset, "<", self.path, limit=c.offset + c.size + 4)  # size excludes the count
        n = r.u32()
        _check(n <= MAX_COUNT * 10, self.path, f"{n} compressed chunks for CPU {c.cpu}")
        out, total = [], 0
        budget = min(MAX_CPU_DATA, MAX_RATIO * c.size + MAX_CHUNK)   # no decompression bombs
        for _ in range(n):
            csize, usize = r.u32(), r.u32()
            _check(usize <= MAX_CHUNK, self.path, f"chunk of {usize} bytes exceeds the limit")
            total += usize
            _check(total <= budget, self.path, f"CPU {c.cpu} data would decompress to more than "
                                               f"{budget} bytes (ratio limit {MAX_RATIO})")
            out.append(_decompress(self.compression, r.take(csize), usize, self.path))
        return b"".join(out)


def _check(ok: bool, path: str, what: str) -> None:
    if not ok:
        raise TraceDatError(f"{path}: damaged trace.dat: {what}")


class _Cursor:
    """Bounded little/big-endian reads over a buffer; any overrun is a TraceDatError."""

    def __init__(self, mv, pos: int, endian: str, path: str, limit: int | None = None):
        self.mv, self.pos, self.e, self.path = mv, pos, endian, path
        self.limit = len(mv) if limit is None else min(limit, len(mv))

    def take(self, n: int):
        _check(0 <= n and self.pos + n <= self.limit, self.path,
               f"needs {n} bytes at offset {self.pos}, "
               + (f"only {self.limit - self.pos} left" if self.pos <= self.limit else
                  "beyond the end of the data") + " (file truncated?)")
        b = self.mv[self.pos:self.pos + n]
        self.pos += n
        return b

    def u16(self) -> int:
        return struct.unpack(self.e + "H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(self.e + "I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack(self.e + "Q", self.take(8))[0]

    def cstr(self, max_len: int = 4096) -> str:
        end = min(self.limit, self.pos + max_len + 1)
        chunk = bytes(self.mv[self.pos:end])
        i = chunk.find(b"\0")
        _check(i >= 0, self.path, f"unterminated string at offset {self.pos}")
        self.pos += i + 1
        return chunk[:i].decode("utf-8", "replace")

    def text(self, n: int) -> str:
        _check(n <= MAX_META, self.path, f"metadata block of {n} bytes exceeds the limit")
        return bytes(self.take(n)).decode("utf-8", "replace")


def _decompress(algo: str, data, usize: int, path: str) -> bytes:
    try:
        if algo == "zstd":
            import zstandard
            out = zstandard.ZstdDecompressor().decompress(bytes(data), max_output_size=usize)
        elif algo == "zlib":
            d = zlib.decompressobj()
            out = d.decompress(bytes(data), usize)
        else:
            raise TraceDatError(f"{path}: compression {algo!r} is not supported (zstd, zlib are)")
    except TraceDatError:
        raise
    except Exception as e:  # zstandard.ZstdError, zlib.error: damaged data
        raise TraceDatError(f"{path}: damaged compressed data ({type(e).__name__}: "
                            f"{str(e)[:80]})") from None
    _check(len(out) == usize, path, f"chunk decompressed to {len(out)} bytes, header said {usize}")
    return out


def open_tracedat(path: str) -> TraceDat:
    """Parse the metadata of a trace.dat; CPU data is read later with `cpu_bytes`."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise TraceDatError(f"{path}: cannot open ({e.strerror})") from None
    with f:
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:
            data = b""
        except OSError as e:
            raise TraceDatError(f"{path}: cannot read ({e.strerror})") from None
    mv = memoryview(data)
    _check(bytes(mv[:10]) == MAGIC, path, "no trace.dat magic")
    r = _Cursor(mv, 10, "<", path)
    ver_s = r.cstr(16)
    _check(ver_s.isdigit(), path, f"version {ver_s!r}")
    version = int(ver_s)
    endian = r.take(1)[0]
    r.e = ">" if endian else "<"
    long_size = r.take(1)[0]
    page_size = r.u32()
    _check(page_size in (4096, 8192, 16384, 32768, 65536), path, f"page size {page_size}")
    td = TraceDat(path, version, page_size, long_size, _data=data)
    if r.e == ">":
        raise TraceDatError(f"{path}: big-endian trace.dat files are not supported")
    if version in (6, 5):
        _read_v6(td, r)
    elif version == 7:
        _read_v7(td, r)
    else:
        raise TraceDatError(f"{path}: trace.dat version {version} is not supported (6 and 7 are)")
    return td


# ---- shared metadata blocks ---------------------------------------------------------------

def _header_info(td: TraceDat, r: _Cursor) -> None:
    _check(r.cstr(16) == "header_page", td.path, "missing header_page")
    td.raw_texts["header_page"] = r.text(r.u64())
    try:
        td.page_header = PageHeader.parse(td.raw_texts["header_page"])
    except FormatError as e:
        raise TraceDatError(f"{td.path}: {e}") from None
    _check(r.cstr(16) == "header_event", td.path, "missing header_event")
    td.raw_texts["header_event"] = r.text(r.u64())


def _formats(td: TraceDat, r: _Cursor, system: str) -> None:
    n = r.u32()
    _check(n <= MAX_COUNT, td.path, f"{n} event formats")
    for _ in range(n):
        text = r.text(r.u64())
        td.raw_texts.setdefault("formats", []).append((system, text))
        try:
            fmt = parse_event_format(text, system)
        except FormatError as e:
            raise TraceDatError(f"{td.path}: event format in {system}: {e}") from None
        td.formats[fmt.id] = fmt


def _event_formats(td: TraceDat, r: _Cursor) -> None:
    n = r.u32()
    _check(n <= MAX_COUNT, td.path, f"{n} event systems")
    for _ in range(n):
        _formats(td, r, r.cstr(256))


def _cmdlines(text: str) -> dict[int, str]:
    out = {}
    for line in text.splitlines():
        pid, _, comm = line.strip().partition(" ")
        if pid.isdigit():
            out[int(pid)] = comm
    return out


# ---- version 6 ----------------------------------------------------------------------------

def _read_v6(td: TraceDat, r: _Cursor) -> None:
    _header_info(td, r)
    _formats(td, r, "ftrace")
    _event_formats(td, r)
    td.kallsyms_text = r.text(r.u32())
    r.text(r.u32())  # printk formats
    td.cmdlines = _cmdlines(r.text(r.u64()))
    ncpu = r.u32()
    _check(ncpu <= MAX_CPUS, td.path, f"{ncpu} CPUs")
    td.options["ncpu"] = ncpu
    kind = r.cstr(16)
    if kind.strip() == "options":
        for _ in range(MAX_COUNT):
            oid = r.u16()
            if oid == OPT_DONE:
                break
            size = r.u32()
            _option(td, oid, r.take(size), r)
        kind = r.cstr(16)
    if kind.strip() == "latency":
        raise TraceDatError(f"{td.path}: a latency-tracer trace.dat (text only) has no events")
    _check(kind.strip() == "flyrecord", td.path, f"unknown data kind {kind!r}")
    buf = Buffer("", td.clock)
    for cpu in range(ncpu):
        off, size = r.u64(), r.u64()
        _check(off + size <= len(r.mv), td.path, f"CPU {cpu} data beyond the end of the file")
        buf.cpus.append(CpuData(cpu, off, size))
    td.buffers.insert(0, buf)


# ---- version 7 ----------------------------------------------------------------------------

def _read_v7(td: TraceDat, r: _Cursor) -> None:
    td.compression = r.cstr(64)
    r.cstr(64)  # compression version
    next_opts = r.u64()
    seen = set()
    while next_opts and next_opts not in seen and len(seen) < 1000:
        seen.add(next_opts)
        body, _ = _section(td, r.mv, next_opts, r.e)
        next_opts = 0
        o = _Cursor(body, 0, r.e, td.path)
        for _ in range(MAX_COUNT):
            if o.pos >= o.limit:
                break
            oid, size = o.u16(), o.u32()
            payload = o.take(size)
            if oid == OPT_DONE:
                next_opts = struct.unpack(r.e + "Q", payload[:8])[0] if size >= 8 else 0
                break
            _option(td, oid, payload, r)


def _section(td: TraceDat, mv, offset: int, e: str):
    s = _Cursor(mv, offset, e, td.path)
    sid, flags = s.u16(), s.u16()
    s.u32()
    size = s.u64()
    body = s.take(size)
    if flags & 1:
        c = _Cursor(body, 0, e, td.path)
        csize, usize = c.u32(), c.u32()
        _check(usize <= MAX_META, td.path, f"section of {usize} bytes exceeds the limit")
        body = memoryview(_decompress(td.compression, c.take(csize), usize, td.path))
    return body, sid


def _option(td: TraceDat, oid: int, payload, r: _Cursor) -> None:
    p = _Cursor(payload, 0, r.e, td.path)
    if oid == OPT_TRACECLOCK:
        text = bytes(payload).decode("utf-8", "replace")
        if "[" in text:
            td.clock = text.split("[", 1)[1].split("]", 1)[0]
    elif oid in (OPT_UNAME, OPT_VERSION, OPT_OFFSET):
        td.options[{OPT_UNAME: "uname", OPT_VERSION: "version", OPT_OFFSET: "offset"}[oid]] = \
            bytes(payload).rstrip(b"\0").decode("utf-8", "replace")[:512]
    elif oid == OPT_CPUSTAT:
        td.options.setdefault("cpustat", []).append(
            bytes(payload).rstrip(b"\0").decode("utf-8", "replace")[:4096])
    elif oid == OPT_TSC2NSEC and len(payload) >= 16:
        td.options["tsc2nsec"] = (p.u32(), p.u32(), p.u64())
    elif oid == OPT_BUFFER and td.version >= 7:
        off = p.u64()
        name, clock = p.cstr(256), p.cstr(64)
        rest = p.limit - p.pos
        n = p.u32()
        if rest != 4 + 20 * n:   # trace-cmd >= 3.1 stores the buffer's page size first
            _check(n in (4096, 8192, 16384, 32768, 65536), td.path, f"buffer {name!r} layout")
            td.options.setdefault("buffer_page_size", {})[name] = n
            n = p.u32()
        _check(n <= MAX_CPUS, td.path, f"{n} CPUs in buffer {name!r}")
        flags = 0
        try:
            s = _Cursor(r.mv, off, r.e, td.path)
            s.u16()
            flags = s.u16()
        except TraceDatError:
            pass
        buf = Buffer(name, clock or None)
        for _ in range(n):
            cpu, coff, csize = p.u32(), p.u64(), p.u64()
            _check(coff + csize <= len(r.mv), td.path, f"CPU {cpu} data beyond the end of the file")
            buf.cpus.append(CpuData(cpu, coff, csize, bool(flags & 1) and csize > 0))
        td.buffers.append(buf)
    elif oid == OPT_BUFFER:  # v6: offset of "flyrecord\0" + (offset, size) per CPU
        off, name = p.u64(), p.cstr(256)
        s = _Cursor(r.mv, off, r.e, td.path)
        _check(s.cstr(16) == "flyrecord", td.path, f"buffer {name!r} has no flyrecord data")
        buf = Buffer(name, td.clock)
        for cpu in range(int(td.options.get("ncpu", 0))):
            coff, csize = s.u64(), s.u64()
            _check(coff + csize <= len(r.mv), td.path, f"CPU {cpu} data beyond the end of the file")
            buf.cpus.append(CpuData(cpu, coff, csize))
        td.buffers.append(buf)
    elif td.version >= 7 and oid in (OPT_HEADER_INFO, OPT_FTRACE_EVENTS, OPT_EVENT_FORMATS,
                                     OPT_KALLSYMS, OPT_CMDLINES):
        body, _ = _section(td, r.mv, p.u64(), r.e)
        s = _Cursor(body, 0, r.e, td.path)
        if oid == OPT_HEADER_INFO:
            _header_info(td, s)
        elif oid == OPT_FTRACE_EVENTS:
            _formats(td, s, "ftrace")
        elif oid == OPT_EVENT_FORMATS:
            _event_formats(td, s)
        elif oid == OPT_KALLSYMS:
            td.kallsyms_text = s.text(s.u32())
        elif oid == OPT_CMDLINES:
            td.cmdlines = _cmdlines(s.text(s.u64()))


def file_size(path: str) -> int:
    return os.path.getsize(path)
