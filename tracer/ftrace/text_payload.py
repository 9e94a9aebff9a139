"""Payload fields of frequent tracepoints read straight from the text's bytes, per chunk.

The general path (text_fields) runs one RE2 pattern per event name over the payload strings; for
the events that dominate real traces this module reads the same fields with numpy: the payload is
read from its end, each piece checked against the print format (the literal text between fields,
decimals, hex, non-space words). A group is read here only when EVERY row has
exactly the printed shape; otherwise None is returned and the general path reads the whole group,
so both paths give the same values (tests/unit/test_ftrace_text_payload.py compares them).

The key=value payloads of msm_gpu_submit(_retired) and dma_fence_signaled are read later, from the
payload column's bytes (text_fields.extract_fields, at the mapping): row by row, the rows of
another shape go to the general path alone (tests/unit/test_ftrace_column_payload.py).
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from .rawevents import spans_to_strings
from .text_fields import convert
from .text_scan import (DASH, bytes_at, digits, digits_before, digits_ending_at, first_byte,
                        hex_digits, words)

SPACE = 32
# the print fmts of vmscan:mm_shrink_slab_start/end (6.x): "%pS %p: nid: %d ..." where %pS may be
# followed by " [module]"; the tokens after the symbol are fixed, so they are read from the end
SUFFIX = {
    "mm_shrink_slab_start": "{shr:X}: nid: {nid} objects to shrink {nr_objects_to_shrink} "
                            "gfp_flags {gfp_flags:S} cache items {cache_items} delta {delta} "
                            "total_scan {total_scan} priority {priority}",
    "mm_shrink_slab_end": "{shr:X}: nid: {nid} unused scan count {unused_scan} new scan count "
                          "{new_scan} total_scan {total_scan} last shrinker return val {retval}",
}
HEAD = "shrink"                       # the %pS symbol, a non-space word
_MODULE = re.compile(r"\[[\w-]+\]", re.ASCII)
_FIELD = re.compile(r"\{(\w+)(?::([DXS]))?\}")


def _spec(template: str) -> list[tuple]:
    """The payload after the head symbol as [(kind, name or literal bytes)] in print order:
    kind "L" for literal text (the words between fields with their spaces, read as one), "D"
    decimal, "X" hex, "S" a non-space word. The head's separating space comes first."""
    parts = _FIELD.split(template)                 # literal, name, kind, literal, ...
    out = [("L", b" " + parts[0].encode())]
    for i in range(1, len(parts), 3):
        out.append((parts[i + 1] or "D", parts[i]))
        if parts[i + 2]:
            out.append(("L", parts[i + 2].encode()))
    for (k0, v0), (k1, _) in zip(out, out[1:]):
        # a field's start is found at the space before it; fields are not adjacent
        assert k0 == "L" and v0.endswith(b" ") if k1 != "L" else k0 != "L"
    return out


SPECS = {name: _spec(t) for name, t in SUFFIX.items()}


def _literal(wd: np.ndarray, s, e, lit: bytes) -> np.ndarray:
    """Rows whose token a[s:e] is lit (wd = words(a))."""
    return (e - s == len(lit)) & bytes_at(wd, s, lit)


_SP = np.uint64(0x2020202020202020)
_7F = np.uint64(0x7F7F7F7F7F7F7F7F)
MAX_TOKEN_WORDS = 16          # a token longer than 128 bytes sends the group to the general path


def _last_space(wd: np.ndarray, end: np.ndarray, lo: np.ndarray):
    """Position of the last space in a[lo:end] per row (-1: none), 8 bytes at a time from the
    end; None when some row's search is still open after MAX_TOKEN_WORDS words."""
    cur = end.astype(np.int64)
    start = cur - 8
    x = wd[start] ^ _SP
    t = ~(((x & _7F) + _7F) | x | _7F)
    if (start >= lo).all():
        if t.all():                                     # the usual case: one word per row
            return start + ((np.frexp(t.astype(np.float64))[1] - 8) >> 3)
        near = _last_space_near(wd, start, t, lo)
        if near is not None:
            return near
    res = np.full(len(end), -1, np.int64)
    rows = np.arange(len(end))
    for _ in range(MAX_TOKEN_WORDS):
        start = cur - 8
        x = wd[start] ^ _SP                               # zero bytes: spaces
        t = ~(((x & _7F) + _7F) | x | _7F)                 # high bit of exactly those bytes
        below = np.clip(lo[rows] - start, 0, 8)                     # bytes before lo
        keep = ~((np.uint64(1) << (np.minimum(below, 7).astype(np.uint64) * np.uint64(8))) -
                 np.uint64(1))
        t = np.where(below >= 8, np.uint64(0), t & keep)
        found = t != 0
        top = np.frexp(t[found].astype(np.float64))[1] - 1          # bit 8j+7 of byte j
        res[rows[found]] = start[found] + ((top - 7) >> 3)
        more = ~found & (start > lo[rows])
        rows, cur = rows[more], start[more]
        if len(rows) == 0:
            return res
    return None


def _last_space_near(wd: np.ndarray, start: np.ndarray, t: np.ndarray, lo: np.ndarray):
    """_last_space when every row's search ends within its last NEAR_WORDS words: at a space
    (tokens such as kernel addresses and gfp flags), or at lo with none (the head symbol, which
    starts the payload); those words of every row at once, no row subsets. None when some
    row's search goes on. start, t: the last word's position and space bits (start >= lo)."""
    res = np.where(t != 0, start + ((np.frexp(t.astype(np.float64))[1] - 8) >> 3), -1)
    open_ = (t == 0) & (start > lo)
    for k in range(1, NEAR_WORDS):
        if not open_.any():
            return res
        s_k = start - 8 * k
        x = wd[np.maximum(s_k, 0)] ^ _SP
        t = ~(((x & _7F) + _7F) | x | _7F)
        if (open_ & (s_k < lo)).any():                      # bytes before lo do not count
            below = np.clip(lo - s_k, 0, 8)
            keep = ~((np.uint64(1) << (np.minimum(below, 7).astype(np.uint64) *
                                       np.uint64(8))) - np.uint64(1))
            t = np.where(open_ & (below < 8), t & keep, np.uint64(0))
        else:
            t = np.where(open_, t, np.uint64(0))
        res = np.where(t != 0, s_k + ((np.frexp(t.astype(np.float64))[1] - 8) >> 3), res)
        open_ &= (t == 0) & (s_k > lo)
    return None if open_.any() else res


NEAR_WORDS = 4


def _decimal_before(a: np.ndarray, wd: np.ndarray, e: np.ndarray, ps: np.ndarray):
    """(start, value, ok) of the [-]digits token ending at e (1 to 18 digits, start >= ps);
    start None when a long number's token has no space before it (fewer tokens)."""
    val, nd = digits_before(wd, e)
    long = np.flatnonzero(nd >= 8)
    neg = a[e - nd - 1] == DASH
    s = e - nd - neg
    ok = (nd > 0) & (s >= ps)
    if len(long):                                   # 8 digits or more: read as a token
        sp = _last_space(wd, e[long], ps[long])
        if sp is None or (sp < 0).any():
            return None, None, None
        t = sp + 1
        ng = a[t] == DASH
        v, n = digits(a, t + ng, 8, 19)
        ok[long] = (n > 0) & (n <= 18) & (t + ng + n == e[long])
        val[long], neg[long], s[long] = v, ng, t
    return s, np.where(neg, -val, val), ok


def template_fields(a: np.ndarray, name: str, ps: np.ndarray, pe: np.ndarray,
                    ctrl: np.ndarray):
    """Fields of the rows' payloads a[ps:pe] when all have the shape of SUFFIX[name], else None.
    ctrl: sorted positions of the chunk's bytes below 32 (a tab or CR: general path).

    Read from the end: literal text is compared 8 bytes at a time, decimals are read backwards
    from the word that ends where they end (digits_before; 8 digits or more: from the space
    before them, as a token), hex and word fields start after the last space before their end."""
    spec = SPECS.get(name)
    if spec is None or len(ps) == 0:
        return None
    if not (np.searchsorted(ctrl, pe) == np.searchsorted(ctrl, ps)).all():
        return None
    cols: dict[str, object] = {}
    wd = words(a)
    e = pe
    for kind, what in reversed(spec):
        if kind == "L":
            s = e - len(what)
            ok = (s >= ps) & bytes_at(wd, s, what)
        elif kind == "D":
            s, val, ok = _decimal_before(a, wd, e, ps)
            if s is None:
                return None
            cols[what] = pa.array(val, pa.int64())
        else:
            sp = _last_space(wd, e, ps)
            if sp is None or (sp < 0).any():
                return None                            # fewer tokens than the format has
            s = sp + 1
            if kind == "X":
                val, nd, h0 = hex_digits(a, s)
                ok = (nd > 0) & (h0 + nd == e)
                cols[what] = pa.array(val, pa.uint64())
            else:
                ok = e > s
                cols[what] = convert(what, spans_to_strings(a, s, e - s, validate=False))
        if not ok.all():
            return None
        e = s
    # e is now at the space before the first field; the head: "SYMBOL" or "SYMBOL [module]"
    sp2 = _last_space(wd, e, ps)
    if sp2 is None:
        return None
    head_end = np.where(sp2 >= 0, sp2, e)
    mod = np.flatnonzero(sp2 >= 0)
    if len(mod):
        sp3 = _last_space(wd, sp2[mod], ps[mod])
        if sp3 is None or (sp3 >= 0).any():
            return None                                # more than two head tokens
        ms, me = sp2[mod] + 1, e[mod]
        mods = spans_to_strings(a, ms, me - ms, validate=False).dictionary_encode()
        if not all(_MODULE.fullmatch(w) for w in mods.dictionary.to_pylist()):
            return None
    if not (head_end > ps).all():
        return None
    ordered = {what: cols[what] for kind, what in spec if kind != "L"}   # print order
    return {HEAD: spans_to_strings(a, ps, head_end - ps, validate=False), **ordered}


# key=value payloads read from the payload column's bytes (text_fields.extract_fields): the
# print fmts of drm_msm_gpu:msm_gpu_submit/_retired (6.12/6.18), all fields %d / %lld
KEY_VALUE = {
    "msm_gpu_submit": "id={id} pid={pid} ring={ringid} bos={nr_bos} cmds={nr_cmds}",
    "msm_gpu_submit_retired": "id={id} pid={pid} ring={ringid}:{seqno} elapsed={elapsed} ns "
                              "mhz={clock} start={start_ticks} end={end_ticks}",
}
FENCE = "dma_fence_signaled"     # "driver=%s timeline=%s context=%u seqno=%u"
MAX_DIGITS = 18                  # longer numbers (and "-" before context/seqno) go the regex way


def _kv_spec(template: str) -> list[tuple[bytes, str]]:
    """[(literal before the field, field name)] in print order (decimal fields only)."""
    parts = _FIELD.split(template)                 # literal, name, kind, literal, ...
    assert parts[-1] == "" and all(k is None for k in parts[2::3])
    return [(parts[i].encode(), parts[i + 1]) for i in range(0, len(parts) - 1, 3)]


KV_SPECS = {name: _kv_spec(t) for name, t in KEY_VALUE.items()}
COLUMN_READERS = (*KV_SPECS, FENCE)


def payload_bytes(payload: pa.Array):
    """(a, ps, pe): the bytes of a string column without nulls copied into one buffer with PAD
    spaces on both sides, and each row's payload a[ps:pe]."""
    from .text_scan import PAD
    n = len(payload)
    bufs = payload.buffers()
    otype = np.int64 if pa.types.is_large_string(payload.type) else np.int32
    off = np.frombuffer(bufs[1], otype, n + 1, payload.offset * np.dtype(otype).itemsize)
    off = off.astype(np.int64)
    lo, hi = int(off[0]), int(off[-1])
    a = np.empty(PAD + (hi - lo) + PAD, np.uint8)
    a[:PAD] = SPACE
    a[PAD + hi - lo:] = SPACE
    if hi > lo:
        a[PAD:PAD + hi - lo] = np.frombuffer(bufs[2], np.uint8, hi - lo, lo)
    pos = off - lo + PAD
    return a, pos[:-1], pos[1:]


def key_value_fields(a: np.ndarray, name: str, ps: np.ndarray, pe: np.ndarray):
    """(fields as int64 arrays in print order, ok): the rows of KEY_VALUE[name]'s exact shape,
    read forward: each literal compared 8 bytes at a time, each [-]decimal (1 to MAX_DIGITS
    digits) read with SWAR words; ok also needs the last number to end at the payload's end.
    A row's digits running past its end (into the next row's bytes) make it not ok."""
    wd = words(a)
    ok = np.ones(len(ps), bool)
    pos = ps
    cols = {}
    for lit, fname in KV_SPECS[name]:
        if lit:
            ok &= bytes_at(wd, pos, lit)
            pos = pos + len(lit)
            ok &= pos <= pe
            pos = np.minimum(pos, pe)
        neg = a[pos] == DASH
        val, nd = digits(a, pos + neg, 8, 19)
        ok &= (nd > 0) & (nd <= MAX_DIGITS)
        cols[fname] = np.where(neg, -val, val)
        pos = pos + neg + nd
        ok &= pos <= pe
        pos = np.minimum(pos, pe)
    ok &= pos == pe
    return cols, ok


def fence_fields(a: np.ndarray, ps: np.ndarray, pe: np.ndarray, typ=pa.large_string()):
    """(fields in print order, ok) of dma_fence_signaled payloads "driver=D timeline=T context=C
    seqno=S": the driver up to the first space (within 32 bytes), C and S (plain decimals of 1 to
    MAX_DIGITS digits) read back from the end, the timeline (any text, spaces too) between. Rows
    with a byte below 32 are not ok (the regex's \\S and . treat some of them apart)."""
    wd = words(a)
    ok = (pe - ps >= len("driver= timeline= context=0 seqno=0")) & bytes_at(wd, ps, b"driver=")
    d0 = ps + 7
    de = first_byte(a, d0, 32, SPACE)
    ok &= (de >= 0)
    de = np.where(ok, de, d0)
    ok &= bytes_at(wd, de, b" timeline=")
    t0 = de + 10
    sv, sn = digits_ending_at(a, pe - 1, 19)
    ok &= (sn > 0) & (sn <= MAX_DIGITS)
    se = pe - np.where(ok, sn, 0) - 7                    # " seqno=" starts here
    ok &= (se >= t0) & bytes_at(wd, np.maximum(se, 0), b" seqno=")
    se = np.where(ok, se, pe)
    cv, cn = digits_ending_at(a, se - 1, 19)
    ok &= (cn > 0) & (cn <= MAX_DIGITS)
    te = se - np.where(ok, cn, 0) - 9                    # " context=" starts here
    ok &= (te >= t0) & bytes_at(wd, np.maximum(te, 0), b" context=")
    ctrl = np.flatnonzero(a < SPACE)
    ok &= np.searchsorted(ctrl, pe) == np.searchsorted(ctrl, ps)
    te = np.where(ok, te, t0)
    de = np.where(ok, de, d0)
    driver = spans_to_strings(a, d0, de - d0, validate=False).cast(typ)
    timeline = spans_to_strings(a, t0, np.maximum(te - t0, 0), validate=False).cast(typ)
    return {"driver": driver, "timeline": timeline, "context": cv, "seqno": sv}, ok


def equal_signs(a: np.ndarray, ps: np.ndarray, pe: np.ndarray) -> np.ndarray:
    """'=' bytes in each row's payload."""
    eq = np.flatnonzero(a == ord("="))
    return np.searchsorted(eq, pe) - np.searchsorted(eq, ps)
