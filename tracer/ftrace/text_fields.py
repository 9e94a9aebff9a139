"""Fields of known events from their ftrace text, following the kernels' print formats.

Each pattern mirrors a `print fmt` (lock:, vmscan:, dma_fence:, sched: kthread work, drm_msm_gpu:
from the 6.12/6.18 format files). `trace-cmd report -R` (raw `field=value`) and the gemscope kprobe
events (`name=value` fetch-args) are read by name. A payload that matches neither keeps its event
as a generic one. Patterns run once per event name over the whole column (Arrow's RE2), and hex
or flag words are converted once per distinct value.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .rawevents import EventGroup

X = r"(?:0x)?[0-9a-fA-F]+"     # %p prints hashed or raw pointers, with or without 0x
M = r"(?: \[[\w-]+\])?"         # %pS / %ps append " [module]" for module symbols
D = r"-?\d+"

PATTERNS: dict[str, str] = {
    "contention_begin": rf"^(?P<lock_addr>{X}) \(flags=(?P<flags>[A-Z_|0-9x]*)\)",
    "contention_end": rf"^(?P<lock_addr>{X}) \(ret=(?P<ret>{D})\)",
    "mm_shrink_slab_start": rf"^(?P<shrink>\S+){M} (?P<shr>{X}): nid: (?P<nid>{D}) objects to shrink "
                            rf"(?P<nr_objects_to_shrink>{D}) gfp_flags (?P<gfp_flags>\S+) cache items "
                            rf"(?P<cache_items>{D}) delta (?P<delta>{D}) total_scan (?P<total_scan>{D})"
                            rf" priority (?P<priority>{D})",
    "mm_shrink_slab_end": rf"^(?P<shrink>\S+){M} (?P<shr>{X}): nid: (?P<nid>{D}) unused scan count "
                          rf"(?P<unused_scan>{D}) new scan count (?P<new_scan>{D}) total_scan "
                          rf"(?P<total_scan>{D}) last shrinker return val (?P<retval>{D})",
    "mm_vmscan_direct_reclaim_begin": rf"^order=(?P<order>{D}) gfp_flags=(?P<gfp_flags>\S+)",
    "mm_vmscan_direct_reclaim_end": rf"^nr_reclaimed=(?P<nr_reclaimed>{D})",
    "dma_fence_signaled": rf"^driver=(?P<driver>\S*) timeline=(?P<timeline>.*) "
                          rf"context=(?P<context>{D}) seqno=(?P<seqno>{D})",
    "sched_kthread_work_execute_start": rf"^work struct (?P<work>{X}): function (?P<function>\S+){M}",
    "sched_kthread_work_execute_end": rf"^work struct (?P<work>{X}): function (?P<function>\S+){M}",
    "sched_kthread_work_queue_work": rf"^work struct=(?P<work>{X}) function=(?P<function>\S+){M} "
                                     rf"worker=(?P<worker>{X})",
    "msm_gpu_submit": rf"^id=(?P<id>{D}) pid=(?P<pid>{D}) ring=(?P<ringid>{D}) bos=(?P<nr_bos>{D}) "
                      rf"cmds=(?P<nr_cmds>{D})",
    "msm_gpu_submit_retired": rf"^id=(?P<id>{D}) pid=(?P<pid>{D}) ring=(?P<ringid>{D}):(?P<seqno>{D})"
                              rf" elapsed=(?P<elapsed>{D}) ns mhz=(?P<clock>{D}) start=(?P<start_ticks>"
                              rf"{D}) end=(?P<end_ticks>{D})",
    "msm_gem_shrink": rf"^nr_to_scan=(?P<nr_to_scan>{D}) pg, purged=(?P<purged>{D}) pg, evicted="
                      rf"(?P<evicted>{D}) pg, active_purged=(?P<active_purged>{D}) pg, active_evicted="
                      rf"(?P<active_evicted>{D}) pg",
}

# fields that hold addresses (hex) or symbols / flag words in text
HEX_FIELDS = {"lock_addr", "shr", "work", "worker", "obj", "lock", "ctx", "owner", "resv", "lru",
              "rem", "submit", "gpu", "caller", "back"}
STRING_FIELDS = {"shrink", "function", "driver", "timeline", "fn"}
LCB_FLAGS = {"SPIN": 1, "READ": 2, "WRITE": 4, "RT": 8, "PERCPU": 16, "MUTEX": 32}
# __GFP_* bits as printed by 6.x kernels (include/linux/gfp_types.h order of this era)
_GFP_BITS = ["DMA", "HIGHMEM", "DMA32", "MOVABLE", "RECLAIMABLE", "HIGH", "IO", "FS", "ZERO",
             "UNUSED", "DIRECT_RECLAIM", "KSWAPD_RECLAIM", "WRITE", "NOWARN", "RETRY_MAYFAIL",
             "NOFAIL", "NORETRY", "MEMALLOC", "COMP", "NOMEMALLOC", "HARDWALL", "THISNODE",
             "ACCOUNT", "ZEROTAGS", "NO_OBJ_EXT"]
GFP = {f"__GFP_{n}": 1 << i for i, n in enumerate(_GFP_BITS)}
GFP["__GFP_RECLAIM"] = GFP["__GFP_DIRECT_RECLAIM"] | GFP["__GFP_KSWAPD_RECLAIM"]
GFP["GFP_NOWAIT"] = GFP["__GFP_KSWAPD_RECLAIM"] | GFP["__GFP_NOWARN"]
GFP["GFP_NOIO"] = GFP["__GFP_RECLAIM"]
GFP["GFP_NOFS"] = GFP["__GFP_RECLAIM"] | GFP["__GFP_IO"]
GFP["GFP_KERNEL"] = GFP["GFP_NOFS"] | GFP["__GFP_FS"]
GFP["GFP_KERNEL_ACCOUNT"] = GFP["GFP_KERNEL"] | GFP["__GFP_ACCOUNT"]
GFP["GFP_ATOMIC"] = GFP["__GFP_HIGH"] | GFP["__GFP_KSWAPD_RECLAIM"]
GFP["GFP_USER"] = GFP["GFP_KERNEL"] | GFP["__GFP_HARDWALL"]
GFP["GFP_HIGHUSER"] = GFP["GFP_USER"] | GFP["__GFP_HIGHMEM"]
GFP["GFP_HIGHUSER_MOVABLE"] = GFP["GFP_HIGHUSER"] | GFP["__GFP_MOVABLE"]
GFP["GFP_DMA"], GFP["GFP_DMA32"] = GFP["__GFP_DMA"], GFP["__GFP_DMA32"]
GFP["GFP_TRANSHUGE_LIGHT"] = (GFP["GFP_HIGHUSER_MOVABLE"] | GFP["__GFP_COMP"] |
                              GFP["__GFP_NOMEMALLOC"] | GFP["__GFP_NOWARN"]) & ~GFP["__GFP_RECLAIM"]
GFP["GFP_TRANSHUGE"] = GFP["GFP_TRANSHUGE_LIGHT"] | GFP["__GFP_DIRECT_RECLAIM"]


def _flag_word(word: str | None, table: dict[str, int]) -> int | None:
    if word is None:
        return None
    if word in ("", "none"):
        return 0
    total = 0
    for part in word.split("|"):
        if part in table:
            total |= table[part]
        else:
            try:
                total |= int(part, 16) if part.lower().startswith("0x") else int(part)
            except ValueError:
                return None
    return total


def _per_unique(col: pa.Array, func, typ) -> pa.Array:
    """Apply a Python function once per distinct value of a string column."""
    enc = col.dictionary_encode()
    values = [func(v) for v in enc.dictionary.to_pylist()]
    return pa.array(values, typ).take(enc.indices)


def _hex(v: str | None) -> int | None:
    if v is None:
        return None
    try:
        x = int(v, 16)
    except ValueError:
        return None
    return x if x < (1 << 64) else None


def _int(v: str | None) -> int | None:
    if v is None or not v.lstrip("-").isdigit() or len(v) > 20:
        return None
    x = int(v)
    return x if -(1 << 63) <= x < (1 << 64) else None


def convert(name: str, col: pa.Array) -> pa.Array:
    """A text field column -> its typed column (addresses uint64, flags and numbers int)."""
    if name in STRING_FIELDS:
        return col
    if name == "flags":
        return _per_unique(col, lambda v: _flag_word(v, LCB_FLAGS), pa.int64())
    if name == "gfp_flags" or name == "gfp":
        return _per_unique(col, lambda v: _flag_word(v, GFP) if v is None or not v.startswith("0x")
                           else _hex(v), pa.int64())
    if name in HEX_FIELDS:
        return _per_unique(col, _hex, pa.uint64())
    try:
        return pc.cast(col, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    return _per_unique(col, lambda v: _hex(v) if v and v.startswith("0x") else _int(v), pa.int64()) \
        if not pc.any(pc.starts_with(col.fill_null(""), "0x")).as_py() else \
        _per_unique(col, lambda v: _hex(v) if v and v.startswith("0x") else _uint(v), pa.uint64())


def _uint(v: str | None) -> int | None:
    """A decimal in a column read as uint64 (it also holds hex): a negative one is unknown."""
    x = _int(v)
    return x if x is None or x >= 0 else None


def _contention_fast(payload: pa.Array, key: str):
    """'ADDR (flags=WORD)' / 'ADDR (ret=N)' without a regex: split at ' (' and strip."""
    parts = pc.split_pattern(payload, " (", max_splits=1)
    n = pc.list_value_length(parts).fill_null(0)
    ok = pc.equal(n, 2)
    safe = pc.if_else(ok, parts, pa.scalar(["", ""], parts.type))
    addr = pc.list_element(safe, 0)
    rest = pc.list_element(safe, 1)
    ok = pc.and_(ok, pc.and_(pc.starts_with(rest, key + "="), pc.ends_with(rest, ")")))
    ok = pc.and_(ok, pc.match_substring_regex(addr, r"^(0x)?[0-9a-fA-F]{1,16}$"))
    value = pc.utf8_slice_codeunits(rest, len(key) + 1, -1)
    return {"lock_addr": addr, key: value}, ok.to_numpy(zero_copy_only=False)


FAST = {"contention_begin": lambda p: _contention_fast(p, "flags"),
        "contention_end": lambda p: _contention_fast(p, "ret")}


def extract_fields(g: EventGroup, wanted_by_name: dict[str, tuple[str, ...]],
                   optional_by_name: dict[str, tuple[str, ...]] | None = None) -> np.ndarray:
    """Fill g.fields from g.payload; returns a mask of rows whose payload could not be read.
    Optional fields (fetch-args older recorders did not have) are read where present and never
    make a row unreadable."""
    n = len(g)
    if g.payload is None or n == 0:
        return np.zeros(n, bool)
    pat = PATTERNS.get(g.name)
    wanted = wanted_by_name.get(g.name, ())
    if pat is None and not wanted:
        return np.zeros(n, bool)   # nothing to read (a kretprobe without fetch-args)
    if g.name in COLUMN_NAMES and not g.fields and g.payload.null_count == 0:
        done = _column_fields(g, pat, wanted)
        if done is not None:
            return done
    failed = _general(g, pat, wanted)
    for fname in (optional_by_name or {}).get(g.name, ()):
        if fname not in g.fields:
            st = pc.extract_regex(g.payload, rf"(?:^|[ (])(?P<v>{fname})=(?P<val>[^ )]*)")
            g.fields[fname] = convert(fname, pc.struct_field(st, [1]))
    return failed


COLUMN_NAMES = ("msm_gpu_submit", "msm_gpu_submit_retired", "dma_fence_signaled")


def _column_fields(g: EventGroup, pat: str, wanted: tuple[str, ...]):
    """extract_fields with the payloads read from the column's bytes (text_payload): the rows of
    the print format's exact shape take those values, the others (if any) the general path, run
    on them alone. None (nothing done) when no row has that shape, or when the general path's
    name=value reading (dma_fence_signaled's WANTED fields) could depend on the other rows: every
    payload read here must hold its four '=' only, so that a name=value search finds its fields."""
    from .text_payload import (KV_SPECS, equal_signs, fence_fields, key_value_fields,
                               payload_bytes)
    a, ps, pe = payload_bytes(g.payload)
    if g.name in KV_SPECS:
        cols, ok = key_value_fields(a, g.name, ps, pe)
    else:
        cols, ok = fence_fields(a, ps, pe, g.payload.type)
    n = len(ok)
    if ok.all():
        for fname, col in cols.items():
            g.fields[fname] = pa.array(col, pa.int64()) if isinstance(col, np.ndarray) else col
        return np.zeros(n, bool)
    if not ok.any() or (wanted and (equal_signs(a, ps[ok], pe[ok]) != 4).any()):
        return None
    rest = np.flatnonzero(~ok)
    sub = dataclasses.replace(g, ts=g.ts[rest], cpu=g.cpu[rest], tid=g.tid[rest],
                              seq=g.seq[rest], comm=None, tgid=None, fields={},
                              payload=g.payload.take(pa.array(rest)))
    sub_failed = _general(sub, pat, wanted)
    good = np.flatnonzero(ok)
    # row i of the group: its place among the fast rows, or after them among the others
    where = np.empty(n, np.int64)
    where[good] = np.arange(len(good))
    where[rest] = len(good) + np.arange(len(rest))
    where = pa.array(where)
    merged = {}
    for fname, col in sub.fields.items():
        fast = cols.get(fname)
        if fast is None:
            return None
        fast = pa.array(fast[good], pa.int64()) if isinstance(fast, np.ndarray) else \
            fast.filter(pa.array(ok))
        if fast.type != col.type:
            return None
        merged[fname] = pa.concat_arrays([fast, col]).take(where)
    if list(merged) != list(cols):
        return None
    g.fields.update(merged)
    failed = np.zeros(n, bool)
    failed[rest] = sub_failed
    return failed


def _general(g: EventGroup, pat: str | None, wanted: tuple[str, ...]) -> np.ndarray:
    """The payload regex of the event name, then name=value pairs for the rows it did not read."""
    n = len(g)
    failed = np.ones(n, bool)
    if g.name in FAST:
        cols, ok = FAST[g.name](g.payload)
        if ok.all():
            for fname, col in cols.items():
                g.fields[fname] = convert(fname, col)
            return np.zeros(n, bool)
    if pat is not None:
        st = pc.extract_regex(g.payload, pat)
        ok = st.is_valid().to_numpy(zero_copy_only=False)
        failed &= ~ok
        for i in range(st.type.num_fields):
            fname = st.type.field(i).name
            g.fields[fname] = convert(fname, pc.struct_field(st, [i]))
    if failed.any() and wanted:
        # `trace-cmd report -R` and kprobe fetch-args: name=value pairs
        missing_all = np.zeros(n, bool)
        for fname in wanted:
            st = pc.extract_regex(g.payload, rf"(?:^|[ (])(?P<v>{fname})=(?P<val>[^ )]*)")
            ok = st.is_valid().to_numpy(zero_copy_only=False)
            missing_all |= ~ok
            col = convert(fname, pc.struct_field(st, [1]))
            old = g.fields.get(fname)
            if old is not None and old.type != col.type:
                col = col.cast(old.type, safe=False)
            g.fields[fname] = col if old is None else pc.if_else(pa.array(failed), col, old)
        failed &= missing_all
    return failed
