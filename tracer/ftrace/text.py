"""Parse ftrace text (`trace`, `trace_pipe`, `trace-cmd report`) into a RawTrace, vectorized.

A line is ``COMM-PID [(TGID)] [CPU] [FLAGS] SECS.FRAC: EVENT: PAYLOAD``, where COMM may hold spaces,
dashes and colons, the tgid and irq-flags columns are optional, and trace-cmd may prefix an
instance name. Instead of a regex per line, the file is one numpy byte array read in chunks of
whole lines (CHUNK_BYTES): per chunk, the ``[CPU]`` bracket of every line is found in a window after
the line start (or a second one, or among all brackets of the chunk when it is further), and the
columns around it are read with fixed-width windows and 8-byte words (text_scan.py); an instance
prefix is cut from the chunk's few distinct comms. Frequent payloads are read from the bytes
(text_payload.py, lock:contention_* here); the others are kept as text for one RE2 pattern per
event name (text_fields.py). The chunks' parts are merged once per event name. Lines that are
neither events nor known headers are counted as bad with their line numbers; lost-event lines
become lost counts.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .rawevents import EventGroup, RawTrace, spans_to_strings
from .text_payload import SPECS, template_fields
from .text_scan import (COLON, DASH, DOT, LBR, LPAR, LT, PAD, RBR, RPAR, SPACE, bytes_at,
                        digits as _digits, digits_ending_at as _digits_ending_at,
                        first_at_or_after as _first_at_or_after, first_byte,
                        first_cpu_bracket, hex_digits, rskip as _rskip,
                        skip as _skip, window as _window, words)

MAX_BAD_LINES_KEPT = 1000
# bytes searched after a position before looking at the whole chunk (the [CPU] bracket after the
# line start, the colon after the event name)
NEAR_BRACKET, NEAR_NAME = 40, 40
FAR_BRACKET = 40      # the bytes after NEAR_BRACKET searched next for the bracket (< PAD - 42)
_LOST_RE = re.compile(r"CPU:?\s*(\d+)\s*\[(?:LOST\s+(\d+)\s+EVENTS|EVENTS LOST)\]")
_FRAME_ADDR = re.compile(r" \([0-9a-fA-F]{8,16}\)$")   # trace-cmd prints "sym (address)"
_HEADER_RE = re.compile(r"^\s*(#|cpus=\d+|CPU \d+ is empty|version = |\s*$|"
                        r"Kernel buffer statistics|\w[\w ]*: \d+$)")


def read_padded(path: str) -> tuple:
    """(text, size) for parse_buffer: a TextFile that it reads in chunks (regular files with a
    size, text_read.py), or the file's bytes in memory with PAD spaces on both sides (files that
    report no size, such as tracefs `trace` and /proc files, are read to their end)."""
    from .text_read import open_text, read_whole
    f = open_text(path)
    return (f, f.size) if f is not None else read_whole(path)


CHUNK_BYTES = 4 << 20   # lines are parsed in chunks of about this size: the scratch arrays stay
                        # in cache and are reused instead of faulting in fresh memory per column


def parse_text(data: bytes, progress=None, chunk_bytes: int = CHUNK_BYTES,
               workers: int | None = None) -> RawTrace:
    """All events of an ftrace text held in memory (see parse_buffer)."""
    return parse_buffer(_padded(data), len(data), progress, chunk_bytes, workers)


def _padded(data: bytes) -> np.ndarray:
    a = np.empty(PAD + len(data) + 1 + PAD, np.uint8)
    a[:PAD] = SPACE
    a[PAD:PAD + len(data)] = np.frombuffer(data, np.uint8)
    a[PAD + len(data)] = 10
    a[PAD + len(data) + 1:] = SPACE
    return a


@dataclass
class _Part:
    """One chunk's events of one name."""
    ts: np.ndarray
    cpu: np.ndarray
    tid: np.ndarray
    seq: np.ndarray
    comm: tuple                    # (codes, the chunk's comm dictionary): strings at the merge
    tgid: np.ndarray | None
    fields: dict | None            # read straight from the bytes (contention_*), else None
    payload: pa.Array | None
    span: tuple | None             # (buffer or where, starts, lengths) of the payloads when
                                   # fields is set (_span_strings)


@dataclass
class _Parts:
    """What the chunks found, merged once at the end."""
    by_name: dict = field(default_factory=dict)      # name -> [_Part]
    stk: list = field(default_factory=list)          # (ts, cpu, pid, line, comm) of stack lines
    frames: list = field(default_factory=list)       # (line, frame text)
    ev_lines: list = field(default_factory=list)     # line numbers and CPUs of the event lines
    ev_cpu: list = field(default_factory=list)


def _chunk_end(a: np.ndarray, lo: int, end: int, chunk_bytes: int) -> int:
    """Index just past the first newline at or after lo + chunk_bytes (end when none is left)."""
    p = lo + max(chunk_bytes, 1) - 1
    while p < end:
        win = a[p:min(p + 65536, end)]
        k = int(np.argmax(win == 10))
        if win[k] == 10:
            return p + k + 1
        p += len(win)
    return end + 1


def parse_buffer(a, n_data: int, progress=None,
                 chunk_bytes: int = CHUNK_BYTES, workers: int | None = None) -> RawTrace:
    """All events of an ftrace text: a padded buffer in memory, or a TextFile read in chunks
    (read_padded); bad lines are counted with their line numbers, never raised. Chunks end at
    newlines and carry the text's bytes around them, so every line is parsed with the same bytes
    around it as in one pass over the whole text.

    With several CPUs the text is split into `workers` contiguous runs of lines parsed by threads
    (numpy and Arrow release the GIL inside their loops): each run numbers its lines from 1 and
    keeps its own parts and bookkeeping, merged in file order with its lines renumbered, so the
    result is the same as one thread's (tests/unit/test_ftrace_text_chunks.py)."""
    from .text_read import TextFile
    if workers is None:
        workers = min(MAX_WORKERS, os.cpu_count() or 1)
    advance = None
    if progress:
        progress(0, max(n_data, 1))
        advance = _progress_in_bytes(progress, n_data)
    if isinstance(a, TextFile):
        runs = _file_runs(a, workers, chunk_bytes)
    else:
        runs = _buffer_runs(a, n_data, workers, chunk_bytes)
    if len(runs) == 1:
        results = [_parse_run(runs[0], advance)]
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(len(runs), thread_name_prefix="gemscope-text") as pool:
            futures = [pool.submit(_parse_run, run, advance) for run in runs]
            results = [f.result() for f in futures]
    trace, parts, lines = results[0]
    for t, p, n in results[1:]:
        _absorb(trace, parts, t, p, lines)
        lines += n
    _merge(trace, parts)
    return trace


MAX_WORKERS = 2   # more threads gain little: the GIL is held between numpy calls


def _buffer_runs(a: np.ndarray, n_data: int, workers: int, chunk_bytes: int) -> list:
    """Chunks (view, n, None) of a padded buffer, split into up to `workers` runs of about equal
    bytes."""
    end = PAD + n_data                        # a[end] is the newline read_padded put there
    bounds, lo = [], PAD
    while lo < end or lo == PAD:
        hi = _chunk_end(a, lo, end, chunk_bytes)      # a[hi - 1] is a newline
        bounds.append((lo, hi))
        lo = hi
    workers = max(1, min(workers, len(bounds)))
    sizes = np.array([hi - lo for lo, hi in bounds], np.int64)
    cut = np.searchsorted(np.cumsum(sizes), np.arange(1, workers) * sizes.sum() / workers)
    edges = [0, *sorted(set(int(c) + 1 for c in cut if c + 1 < len(bounds))), len(bounds)]
    return [[(a[lo - PAD:hi + PAD], hi - 1 - lo, None) for lo, hi in bounds[i:j]]
            for i, j in zip(edges, edges[1:]) if j > i]


def _file_runs(f, workers: int, chunk_bytes: int) -> list:
    """Chunk iterators of a TextFile, one per run of lines of about equal bytes."""
    fd = os.open(f.path, os.O_RDONLY)
    try:
        cuts = [f.line_start_after(fd, f.size * k // workers) for k in range(workers)]
    finally:
        os.close(fd)
    edges = sorted(set(c for c in cuts if c <= f.size)) + [f.size + 1]
    return [f.chunks(lo, hi, chunk_bytes) for lo, hi in zip(edges, edges[1:])]


def _progress_in_bytes(progress, n_data: int):
    """advance(nbytes): reports the bytes parsed so far by every thread, in order."""
    import threading
    lock, done = threading.Lock(), [0]

    def advance(nbytes: int) -> None:
        with lock:
            done[0] += nbytes
            progress(min(done[0], n_data), max(n_data, 1))
    return advance


def _parse_run(chunks, advance=None) -> tuple[RawTrace, "_Parts", int]:
    """Parse consecutive chunks (view, n, where) whose lines are numbered from 1; advance(bytes)
    after each chunk. where is None for a buffer that stays, else (file, offset, length) to read
    the view again (it is overwritten by the next chunk). Returns the lines seen too."""
    trace, parts = RawTrace(), _Parts()
    scratch, lines = np.empty(0, bool), 0
    for view, n, where in chunks:
        if len(scratch) < len(view):
            scratch = np.empty(len(view) + 65536, bool)
        lines = _parse_chunk(view, n, scratch[:len(view)], lines, trace, parts, where)
        if advance:
            advance(n + 1)
    return trace, parts, lines


def _absorb(trace: RawTrace, parts: "_Parts", t: RawTrace, p: "_Parts", lines: int) -> None:
    """Add a later run's results to the earlier runs' (file order kept), its line numbers moved
    past the `lines` lines of the earlier runs."""
    trace.events_in += t.events_in
    trace.bad_count += t.bad_count
    room = max(0, MAX_BAD_LINES_KEPT - len(trace.bad_lines))
    trace.bad_lines.extend(ln + lines for ln in t.bad_lines[:room])
    for cpu, n in t.lost_by_cpu.items():
        trace.lost_by_cpu[cpu] = trace.lost_by_cpu.get(cpu, 0) + n
    for k, v in t.meta.items():
        trace.meta[k] = trace.meta.get(k, 0) + v if isinstance(v, int) else v
    for name, ps in p.by_name.items():
        for part in ps:
            part.seq += lines
        parts.by_name.setdefault(name, []).extend(ps)
    parts.stk += [(ts, cpu, pid, ln + lines, comm) for ts, cpu, pid, ln, comm in p.stk]
    parts.frames += [(ln + lines, frame) for ln, frame in p.frames]
    parts.ev_lines += [ln + lines for ln in p.ev_lines]
    parts.ev_cpu += p.ev_cpu


def _parse_chunk(a, n_data, mask, line0, trace, parts, where=None) -> int:
    """Parse the lines of a[PAD:PAD + n_data] (a[PAD + n_data] is a newline) into parts;
    returns the number of lines read so far. where: see _parse_run."""
    if a[PAD:PAD + n_data].max(initial=0) > 127:
        # not plain ASCII: make it valid UTF-8 once, then every slice is valid
        raw = bytes(a[PAD:PAD + n_data])
        text = raw.decode("utf-8", "replace").encode()
        if text != raw:
            b = _padded(text)
            return _parse(b, len(text), np.empty(len(b), bool), line0, trace, parts)
    return _parse(a, n_data, mask, line0, trace, parts, where)


def _parse(a: np.ndarray, n_data: int, mask: np.ndarray, line0: int, trace: RawTrace,
           parts: _Parts, where=None) -> int:
    """Comms are dictionary-encoded per chunk while its bytes are in cache (a few distinct
    values); the strings are made once, at the merge, from the codes."""
    # the chunk's bytes below 32: its newlines, and tabs or CRs when it has some (one pass for
    # the lines, the CR line ends and the shrink_slab payloads' control-byte check)
    below = np.less(a[PAD:PAD + n_data + 1], SPACE, out=mask[:n_data + 1])
    nl = np.flatnonzero(below) + PAD
    only_nl = bool((a[nl] == 10).all())
    if not only_nl:
        nl = nl[a[nl] == 10]
    starts = np.concatenate([[PAD], nl[:-1] + 1]).astype(np.int64)
    ends = nl.astype(np.int64)
    keep = starts < ends                              # blank lines are fine
    if not only_nl:
        cr = (ends > starts) & (a[np.maximum(ends - 1, 0)] == 13)
        ends = ends - cr
    line_no = np.arange(line0 + 1, line0 + len(starts) + 1, dtype=np.int64)
    lines_seen = line0 + len(starts)
    starts, ends, line_no = starts[keep], ends[keep], line_no[keep]
    # the [CPU] bracket: the first " [<digit>" of the line
    # searched in a window after the line start; the lines with no bracket there (an instance
    # prefix) in the next window, the rare others among all brackets of the chunk (the same
    # first bracket either way)
    b = first_cpu_bracket(a, starts, NEAR_BRACKET)
    far = np.flatnonzero(b < 0)
    if len(far):
        b[far] = first_cpu_bracket(a, starts[far] + NEAR_BRACKET, FAR_BRACKET)
        far = far[b[far] < 0]
    if len(far):
        np.equal(a, LBR, out=mask)
        br = np.flatnonzero(mask)
        br = br[(a[br - 1] == SPACE) & (a[br + 1] >= 48) & (a[br + 1] <= 57)]
        b[far] = _first_at_or_after(br, starts[far])
    ok = b < ends
    b = np.where(ok, b, starts)
    cpu, ncd = _digits(a, b + 1, 4, 6)
    ok &= (ncd > 0) & (a[b + 1 + ncd] == RBR)
    q = _skip(a, b + 2 + ncd, 8)
    flagged = np.flatnonzero((a[q] < 48) | (a[q] > 57))      # an irq-flags column to pass
    if len(flagged):
        qf = q[flagged]
        flag_end = qf + np.argmax(_window(a, qf, 12) == SPACE, axis=1)
        q[flagged] = _skip(a, flag_end, 8)
    sec, nsd = _digits(a, q, 7, 14)
    ok &= nsd > 0
    has_frac = a[q + nsd] == DOT
    frac, nfd = _digits(a, q + nsd + 1, 10, 12)
    nfd = np.where(has_frac, nfd, 0)
    tsc = q + nsd + np.where(has_frac, 1 + nfd, 0)
    ok &= (a[tsc] == COLON) & (nfd <= 9)
    scale = 10 ** (9 - np.clip(nfd, 0, 9))
    ts = np.where(has_frac, sec * 1_000_000_000 + np.where(has_frac, frac, 0) * scale, sec)
    es = _skip(a, tsc + 1, 8)
    colons = None

    def first_colon(pos):
        nonlocal colons
        if colons is None:
            np.equal(a, COLON, out=mask)
            colons = np.flatnonzero(mask)
        return _first_at_or_after(colons, pos)

    ee = first_byte(a, es, NEAR_NAME, COLON)
    far = np.flatnonzero((ee < 0) & ok)         # a line that is no event needs no name
    if len(far):
        ee[far] = first_colon(es[far])
    ev_ok = (ee < ends) & (ee > es)
    ee = np.where(ok & ev_ok, ee, es)
    ps = _skip(a, np.minimum(ee + 1, ends), 16)
    ps = np.minimum(ps, ends)

    # head: COMM-PID [(TGID)] before the bracket
    h = _rskip(a, b - 1, 24)
    has_tgid = a[h] == RPAR
    tgid = np.full(len(h), -1, np.int64)
    tg = np.flatnonzero(has_tgid)                            # a "(TGID)" column to pass
    if len(tg):
        ht = h[tg]
        lpar = ht - 1 - np.argmax(_window(a, ht - 12, 12)[:, ::-1] == LPAR, axis=1)
        val, ntg = _digits(a, _skip(a, lpar + 1, 10), 8, 10)
        tgid[tg] = np.where(ntg > 0, val, -1)
        h[tg] = _rskip(a, lpar - 1, 16)
    pid, npd = _digits_ending_at(a, h, 9)
    ok &= (npd > 0) & (a[h - npd] == DASH)
    cs = _skip(a, starts, 16)                   # the comm, with an instance prefix (_comms)
    ce = h - npd
    ok &= ce >= cs
    stk = ok & ~ev_ok & (a[es] == LT)           # "<stack trace>" lines of the kernel's text
    ok &= ev_ok

    bad = ~ok & ~stk
    if bad.any():
        parts.frames += _classify_bad_lines(a, starts[bad], ends[bad], line_no[bad], trace)
    sel = np.flatnonzero(ok)
    stk_rows = np.flatnonzero(stk)
    trace.events_in += len(sel) + len(stk_rows)
    if len(stk_rows):
        parts.stk.append((ts[stk_rows], cpu[stk_rows], pid[stk_rows], line_no[stk_rows],
                          _comm_column(a, cs, ce, stk_rows)))
    if len(sel) == 0:
        return lines_seen
    parts.ev_lines.append(line_no[sel])
    parts.ev_cpu.append(cpu[sel])
    names = spans_to_strings(a, es[sel], ee[sel] - es[sel], validate=False).dictionary_encode()
    codes = names.indices.to_numpy(zero_copy_only=False)
    comm_codes, comm_dict = _comms(a, cs, ce, sel)
    # a few names: as 16-bit numbers the stable sort is a radix sort
    order = np.argsort(codes.astype(np.uint16) if len(names.dictionary) <= 1 << 16 else codes,
                       kind="stable")
    edges = [0, *(np.flatnonzero(np.diff(codes[order])) + 1).tolist(), len(order)]
    # every column put in name order once: each name's rows are then one slice of it (one
    # gather per column per chunk instead of one per column per name)
    rows = sel[order]
    ts_o, cpu_o, pid_o = ts[rows], cpu[rows].astype(np.int16), pid[rows].astype(np.int32)
    line_o, comm_o, ps_o = line_no[rows], comm_codes[order], ps[rows]
    pl_o = ends[rows] - ps_o
    has_tgid_o = has_tgid[rows]
    tgid_o = tgid[rows].astype(np.int32) if has_tgid_o.any() else None
    ctrl = np.zeros(0, np.int64) if only_nl else None   # None: listed when a payload needs it
    for lo, hi in zip(edges, edges[1:]):
        name = names.dictionary[int(codes[order[lo]])].as_py()
        p_s, p_l = ps_o[lo:hi], pl_o[lo:hi]
        fast = _contention_fields(a, name, p_s, p_s + p_l)
        if fast is None and name in SPECS:
            if ctrl is None:
                ctrl = _control_bytes(a, mask)
            fast = template_fields(a, name, p_s, p_s + p_l, ctrl)
        tg = tgid_o[lo:hi] if tgid_o is not None and has_tgid_o[lo:hi].any() else None
        parts.by_name.setdefault(name, []).append(_Part(
            ts_o[lo:hi], cpu_o[lo:hi], pid_o[lo:hi], line_o[lo:hi], (comm_o[lo:hi], comm_dict),
            tg, fast, None if fast else spans_to_strings(a, p_s, p_l, validate=False),
            (where or a, p_s, p_l) if fast else None))
    return lines_seen


def _comms(a: np.ndarray, cs: np.ndarray, ce: np.ndarray, rows: np.ndarray) -> tuple:
    """(codes, dictionary) of the comms a[cs:ce] of rows. trace-cmd report prefixes "INSTANCE:  "
    when a file holds several buffers: a comm whose first colon is followed by two spaces loses
    it and the spaces after it. That is looked for in the chunk's few distinct comms (the
    dictionary) instead of at every line; the rows of one distinct comm have the same bytes."""
    enc = spans_to_strings(a, cs[rows], ce[rows] - cs[rows], validate=False).dictionary_encode()
    codes = enc.indices.to_numpy(zero_copy_only=False)
    values = [v.encode() for v in enc.dictionary.to_pylist()]
    colon = [b.find(b":") for b in values]
    inst = [k for k, (b, c) in enumerate(zip(values, colon)) if c >= 0 and b[c + 1:c + 3] == b"  "]
    if not inst:
        return codes, enc.dictionary
    some_row = np.empty(len(values), np.int64)
    some_row[codes] = rows                     # any row of a comm will do: same bytes
    s0 = cs[some_row[inst]]
    s1 = _skip(a, s0 + np.array([colon[k] for k in inst]) + 1, 16)   # as the comm column
    cut = [b.decode() for b in values]
    for k, skip in zip(inst, (s1 - s0).tolist()):
        cut[k] = values[k][skip:].decode()
    return codes, pa.array(cut, enc.dictionary.type)


def _comm_column(a: np.ndarray, cs: np.ndarray, ce: np.ndarray, rows: np.ndarray) -> pa.Array:
    """The comms of rows as one string per row (_comms)."""
    codes, dictionary = _comms(a, cs, ce, rows)
    return dictionary.take(pa.array(codes))


def _control_bytes(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sorted positions of the bytes below 32 (tabs, CRs, newlines) of a chunk that has bytes
    below 32 other than its newlines (a chunk whose only ones are its newlines has none to list:
    they end payloads, never sit inside one)."""
    np.less(a, SPACE, out=mask)
    return np.flatnonzero(mask)


def _merge(trace: RawTrace, parts: _Parts) -> None:
    """One EventGroup per name from the chunks' parts (concatenated once), then the stacks."""
    for name, ps in parts.by_name.items():
        tgid = None
        if any(p.tgid is not None for p in ps):
            tgid = np.concatenate([p.tgid if p.tgid is not None else
                                   np.full(len(p.ts), -1, np.int32) for p in ps])
        fields, payload = {}, None
        if all(p.fields for p in ps):
            fields = {k: pa.concat_arrays([p.fields[k] for p in ps]) for k in ps[0].fields}
        else:   # a chunk's payloads did not all have the fast shape: all take the general path
            payload = pa.concat_arrays([p.payload if p.payload is not None else
                                        _span_strings(*p.span) for p in ps])
        comm = _strings([p.comm for p in ps])
        cat = (lambda k: getattr(ps[0], k)) if len(ps) == 1 else \
            (lambda k: np.concatenate([getattr(p, k) for p in ps]))
        trace.groups[name] = EventGroup(name, None, cat("ts"), cat("cpu"), cat("tid"), cat("seq"),
                                        comm=comm, tgid=tgid, fields=fields, payload=payload)
    if parts.stk or "kernel_stack" in trace.groups:   # the event lines matter for stacks only
        ev_lines = np.concatenate(parts.ev_lines) if parts.ev_lines else np.zeros(0, np.int64)
        ev_cpu = np.concatenate(parts.ev_cpu) if parts.ev_cpu else np.zeros(0, np.int16)
        _stack_group(trace, parts.frames, parts.stk, ev_lines, ev_cpu)
    trace.events_in += trace.bad_count


def _span_strings(buf, starts, lengths) -> pa.Array:
    """The payload strings of a part read by the fast path, from its chunk's buffer, read again
    from the file when the buffer was reused (where = (TextFile, offset, length))."""
    if isinstance(buf, tuple):
        f, off, n = buf
        buf = f.reread(off, n)
    return spans_to_strings(buf, starts, lengths, validate=False)


def _strings(pieces: list) -> pa.Array:
    """One string array from (codes, dictionary) pieces: the dictionaries (a few comms per chunk)
    are encoded together once, and the strings are taken from that one small dictionary."""
    dicts = list({id(d): d for _, d in pieces}.values())
    base, at = {}, 0
    for d in dicts:
        base[id(d)] = at
        at += len(d)
    enc = pa.concat_arrays(dicts).dictionary_encode()
    remap = enc.indices.to_numpy(zero_copy_only=False)
    codes = np.concatenate([remap[base[id(d)] + c] for c, d in pieces])
    return enc.dictionary.take(pa.array(codes))


def _stack_group(trace: RawTrace, frames, stk, ev_lines, ev_cpu):
    """Stack-trace entries (the kernel's "<stack trace>" lines, trace-cmd's kernel_stack events)
    with the "=>" frame lines that follow them, as one kernel_stack group whose seq makes the
    mapping attach each stack to the previous event line of the same CPU."""
    tc = trace.groups.pop("kernel_stack", None)
    parts = list(stk)
    if tc is not None:
        parts.append((tc.ts, tc.cpu, tc.tid, tc.seq, tc.comm))
    if not parts:
        return
    s_ts = np.concatenate([p[0] for p in parts]).astype(np.int64)
    s_cpu = np.concatenate([p[1] for p in parts]).astype(np.int16)
    s_tid = np.concatenate([p[2] for p in parts]).astype(np.int32)
    s_line = np.concatenate([p[3] for p in parts]).astype(np.int64)
    s_comm = pa.concat_arrays([p[4].cast(pa.large_string()) for p in parts])
    order = np.argsort(s_line)
    s_ts, s_cpu, s_tid, s_line = s_ts[order], s_cpu[order], s_tid[order], s_line[order]
    s_comm = s_comm.take(pa.array(order))
    texts: list[list[str]] = [[] for _ in range(len(s_line))]
    if frames:
        fl = np.array([f[0] for f in frames])
        owner = np.searchsorted(s_line, fl) - 1
        for (_, frame), o in zip(frames, owner.tolist()):
            if o >= 0:
                texts[o].append(frame)
    # seq = (previous event line on the same CPU) + 1: the mapping looks up seq - 1
    seq = np.full(len(s_line), -2, np.int64)
    for c in np.unique(s_cpu):
        lines_c = np.sort(ev_lines[ev_cpu == c])
        mine = np.flatnonzero(s_cpu == c)
        j = np.searchsorted(lines_c, s_line[mine]) - 1
        seq[mine] = np.where(j >= 0, lines_c[np.maximum(j, 0)] + 1, -2)
    g = EventGroup("kernel_stack", "ftrace", s_ts, s_cpu, s_tid, seq, comm=s_comm)
    g.fields["frames_text"] = pa.array(["\n".join(t) for t in texts], pa.string())
    trace.groups["kernel_stack"] = g


_LCB = {"SPIN": 1, "READ": 2, "WRITE": 4, "RT": 8, "PERCPU": 16, "MUTEX": 32}


def _contention_fields(a: np.ndarray, name: str, ps: np.ndarray, pe: np.ndarray):
    """lock:contention_begin/end payloads ('ADDR (flags=WORD)', 'ADDR (ret=N)') read straight
    from the bytes; None when any row does not have that shape (the general path takes over)."""
    if name not in ("contention_begin", "contention_end") or len(ps) == 0:
        return None
    addr, nd, h0 = hex_digits(a, ps)
    ok = nd > 0
    q = h0 + nd
    key = b" (flags=" if name == "contention_begin" else b" (ret="
    ok &= bytes_at(words(a), q, key)
    v0 = q + len(key)
    ok &= (a[np.maximum(pe - 1, 0)] == RPAR) & (pe - 1 >= v0)
    if not ok.all():
        return None
    if name == "contention_end":
        neg = a[v0] == DASH
        val, nv = _digits(a, v0 + neg, 8, 19)
        if not ((v0 + neg + nv == pe - 1) & (nv <= 18)).all():
            return None
        return {"lock_addr": pa.array(addr, pa.uint64()),
                "ret": pa.array(np.where(neg, -val, val), pa.int64())}
    flag_words = spans_to_strings(a, v0, pe - 1 - v0, validate=False).dictionary_encode()
    values = []
    for w in flag_words.dictionary.to_pylist():
        total = 0
        for part in (w.split("|") if w else []):
            if part not in _LCB:
                return None
            total |= _LCB[part]
        values.append(total)
    flags = pa.array(values, pa.int64()).take(flag_words.indices)
    return {"lock_addr": pa.array(addr, pa.uint64()), "flags": flags}


def _classify_bad_lines(a: np.ndarray, starts, ends, line_no, trace: RawTrace) -> list:
    """Lost-event lines, headers, stack frames ("=> sym", returned with their line numbers)
    and truly bad lines (counted, numbers kept)."""
    frames = []
    for s, e, ln in zip(starts.tolist(), ends.tolist(), line_no.tolist()):
        line = a[s:min(e, s + 512)].tobytes().decode("utf-8", "replace")
        m = _LOST_RE.search(line)
        if m:
            cpu, n = int(m.group(1)), int(m.group(2) or 0)
            trace.lost_by_cpu[cpu] = trace.lost_by_cpu.get(cpu, 0) + n
            continue
        if _HEADER_RE.match(line):
            continue
        if line.lstrip().startswith("=>"):
            trace.meta["import_stack_text_lines"] = trace.meta.get("import_stack_text_lines", 0) + 1
            frames.append((ln, _FRAME_ADDR.sub("", line.lstrip()[2:].strip())))
            continue
        trace.bad_count += 1
        if len(trace.bad_lines) < MAX_BAD_LINES_KEPT:
            trace.bad_lines.append(ln)
    return frames
