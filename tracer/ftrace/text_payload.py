"""Payload fields of frequent tracepoints read straight from the text's bytes, per chunk.

The general path (text_fields) runs one RE2 pattern per event name over the payload strings; for
the events that dominate real traces this module reads the same fields with numpy: the payload is
split at its spaces, counted from the end, and each token is checked against the print format
(literal words, decimal, hex, non-space words). A group is read here only when EVERY row has
exactly the printed shape; otherwise None is returned and the general path reads the whole group,
so both paths give the same values (tests/unit/test_ftrace_text_payload.py compares them).
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from .rawevents import spans_to_strings
from .text_fields import convert
from .text_scan import DASH, digits, hex_digits, words

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
_FIELD = re.compile(r"^\{(\w+)(?::([DXS]))?\}(.*)$")


def _spec(template: str) -> list[tuple]:
    """[(kind, name or literal bytes, suffix bytes)] of the space-separated tokens."""
    out = []
    for tok in template.split(" "):
        m = _FIELD.match(tok)
        out.append(("L", tok.encode(), b"") if m is None else
                   (m.group(2) or "D", m.group(1), m.group(3).encode()))
    return out


SPECS = {name: _spec(t) for name, t in SUFFIX.items()}


def _literal(wd: np.ndarray, s, e, lit: bytes) -> np.ndarray:
    """Rows whose token a[s:e] is lit, compared 8 bytes at a time (wd = words(a))."""
    ok = e - s == len(lit)
    for i in range(0, len(lit), 8):
        part = lit[i:i + 8]
        want = np.uint64(int.from_bytes(part, "little"))
        ok &= (wd[s + i] & np.uint64((1 << (8 * len(part))) - 1)) == want
    return ok


def template_fields(a: np.ndarray, name: str, ps: np.ndarray, pe: np.ndarray,
                    spaces: np.ndarray, ctrl: np.ndarray):
    """Fields of the rows' payloads a[ps:pe] when all have the shape of SUFFIX[name], else None.
    spaces / ctrl: sorted positions of the chunk's spaces and of its bytes below 32."""
    spec = SPECS.get(name)
    if spec is None or len(ps) == 0:
        return None
    k_all = len(spec)
    lo, hi = np.searchsorted(spaces, ps), np.searchsorted(spaces, pe)
    ntok = hi - lo + 1
    if not (((ntok == k_all + 1) | (ntok == k_all + 2)).all() and
            (np.searchsorted(ctrl, pe) == np.searchsorted(ctrl, ps)).all()):
        return None                                   # other token counts, tabs, CRs: general
    cols: dict[str, object] = {}
    ok = np.ones(len(ps), bool)
    wd = words(a)
    for k, (kind, what, sfx) in enumerate(reversed(spec), start=1):
        s = spaces[hi - k] + 1
        e = pe if k == 1 else spaces[hi - k + 1]
        if kind == "L":
            ok &= _literal(wd, s, e, what)
            continue
        if sfx:
            ok &= _literal(wd, e - len(sfx), e, sfx)
            e = e - len(sfx)
        if kind == "D":
            neg = a[s] == DASH
            val, nd = digits(a, s + neg, 8, 19)
            ok &= (nd > 0) & (nd <= 18) & (s + neg + nd == e)
            cols[what] = pa.array(np.where(neg, -val, val), pa.int64())
        elif kind == "X":
            val, nd, h0 = hex_digits(a, s)
            ok &= (nd > 0) & (h0 + nd == e)
            cols[what] = pa.array(val, pa.uint64())
        else:
            ok &= e > s
            cols[what] = convert(what, spans_to_strings(a, s, e - s, validate=False))
        if not ok.all():
            return None
    head_end = spaces[lo]
    ok &= head_end > ps
    mod = np.flatnonzero(ntok == k_all + 2)
    if len(mod):
        ms, me = spaces[lo[mod]] + 1, spaces[lo[mod] + 1]
        mods = spans_to_strings(a, ms, me - ms, validate=False).dictionary_encode()
        if not all(_MODULE.fullmatch(w) for w in mods.dictionary.to_pylist()):
            return None
    if not ok.all():
        return None
    ordered = {what: cols[what] for kind, what, _ in spec if kind != "L"}   # print order
    return {HEAD: spans_to_strings(a, ps, head_end - ps, validate=False), **ordered}
