"""Turn ring-buffer records (ringbuf.Records) into EventGroups using the event format files.

Records are grouped by their common_type id, and each field is gathered for all records of an id
at once (a numpy gather of `size` bytes at `offset`). Fields are decoded by the layout stored with
the trace, never by assumptions about the kernel that wrote it.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .formats import EventFormat, FieldFormat
from .rawevents import EventGroup, RawTrace, spans_to_strings
from .ringbuf import Records

_INT_DTYPES = {(1, False): "<u1", (2, False): "<u2", (4, False): "<u4", (8, False): "<u8",
               (1, True): "<i1", (2, True): "<i2", (4, True): "<i4", (8, True): "<i8"}


def _gather(buf: np.ndarray, offs: np.ndarray, size: int) -> np.ndarray:
    return buf[offs[:, None] + np.arange(size)]


def _numeric(buf, offs, f: FieldFormat) -> pa.Array:
    raw = _gather(buf, offs, f.size).copy().view(_INT_DTYPES[(f.size, f.signed)]).ravel()
    if f.signed:
        return pa.array(raw.astype(np.int64))
    return pa.array(raw.astype(np.uint64) if f.size == 8 else raw.astype(np.int64))


def _cut_at_nul(arr: pa.Array) -> pa.Array:
    """C strings: keep what precedes the first NUL (linear, no per-row matrix)."""
    if not pc.any(pc.match_substring(arr, "\x00")).as_py():
        return arr
    return pc.list_element(pc.split_pattern(arr, "\x00", max_splits=1), 0)


def _char_array(buf, offs, f: FieldFormat) -> pa.Array:
    return _cut_at_nul(spans_to_strings(buf, offs, np.full(len(offs), f.size, np.int64)))


def _dynamic(buf, offs, lens, f: FieldFormat) -> pa.Array:
    loc = _gather(buf, offs + f.offset, 4).copy().view("<u4").ravel().astype(np.int64)
    off, ln = loc & 0xFFFF, loc >> 16
    if f.is_relative:
        off = off + f.offset + 4
    ok = (off + ln <= lens) & (ln >= 0)
    ln = np.where(ok, ln, 0)
    start = offs + np.where(ok, off, 0)
    arr = _cut_at_nul(spans_to_strings(buf, start, ln))
    return arr if ok.all() else pc.if_else(pa.array(ok), arr, pa.scalar(None, pa.string()))


MAX_FRAMES = 128


def _stack_frames(buf, offs, lens, fmt: EventFormat) -> pa.Array:
    """ftrace:kernel_stack: `size` return addresses from `caller` (bounded by the record)."""
    size_f, caller = fmt.common("size"), fmt.common("caller[8]")
    if size_f is None or caller is None:
        return pa.nulls(len(offs), pa.list_(pa.uint64()))
    n = _gather(buf, offs + size_f.offset, 4).copy().view("<i4").ravel().astype(np.int64)
    n = np.clip(np.minimum(n, (lens - caller.offset) // 8), 0, MAX_FRAMES)
    starts = offs + caller.offset
    flat_off = np.repeat(starts, n) + 8 * (np.arange(int(n.sum())) -
                                           np.repeat(np.cumsum(n) - n, n))
    addrs = _gather(buf, flat_off, 8).copy().view("<u8").ravel() if len(flat_off) else \
        np.zeros(0, np.uint64)
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(addrs, pa.uint64()))


def decode_records(buf: np.ndarray, recs: Records, formats: dict[int, EventFormat], cpu: int,
                   trace: RawTrace, seq0: int) -> int:
    """Add the records of one CPU buffer to `trace`; returns the next free sequence number."""
    n = len(recs.offset)
    trace.events_in += n
    if n == 0:
        return seq0
    ok_hdr = recs.length >= 8
    trace.bad_count += int((~ok_hdr).sum())
    offs_all, lens_all = recs.offset[ok_hdr], recs.length[ok_hdr]
    ts_all, seq_all = recs.ts[ok_hdr], np.arange(seq0, seq0 + n, dtype=np.int64)[ok_hdr]
    hdr = _gather(buf, offs_all, 8).copy()
    types = hdr[:, 0:2].copy().view("<u2").ravel()
    pids = hdr[:, 4:8].copy().view("<i4").ravel()
    for typ in np.unique(types):
        sel = np.flatnonzero(types == typ)
        fmt = formats.get(int(typ))
        offs, lens = offs_all[sel], lens_all[sel]
        if fmt is None:
            g = EventGroup(f"unknown_event_{int(typ)}", None, ts_all[sel].astype(np.int64),
                           np.full(len(sel), cpu, np.int16), pids[sel].astype(np.int32),
                           seq_all[sel])
            g.payload = pa.array([f"common_type={int(typ)} bytes={int(x)}" for x in lens])
            trace.add(g)
            continue
        # records must hold every field we decode (numeric arrays such as kernel_stack's
        # caller[] are as long as the record says, not as the format's nominal size)
        need = max([f.offset + f.size for f in fmt.fields
                    if "[" not in f.name or f.is_char_array or f.is_dynamic] or [8])
        fits = lens >= need
        trace.bad_count += int((~fits).sum())
        if not fits.all():
            sel, offs, lens = sel[fits], offs[fits], lens[fits]
        if len(sel) == 0:
            continue
        fields: dict[str, pa.Array] = {}
        if fmt.name == "kernel_stack" and fmt.system == "ftrace":
            fields["frames_addr"] = _stack_frames(buf, offs, lens, fmt)
        for f in fmt.own_fields:
            if f.is_dynamic and f.size == 4:
                fields[f.base_name] = _dynamic(buf, offs, lens, f)
            elif f.is_char_array:
                fields[f.base_name] = _char_array(buf, offs + f.offset, f)
            elif "[" not in f.name and (f.size, f.signed) in _INT_DTYPES:
                fields[f.name] = _numeric(buf, offs + f.offset, f)
        trace.add(EventGroup(fmt.name, fmt.system, ts_all[sel].astype(np.int64),
                             np.full(len(sel), cpu, np.int16), pids[sel].astype(np.int32),
                             seq_all[sel], fields=fields))
    return seq0 + n
