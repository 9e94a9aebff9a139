"""Map ftrace events (tracepoints and gemscope kprobes) to gemscope's schema kinds.

  lock:contention_begin/end            -> lock_contention (paired per tid and lock)
  vmscan:mm_shrink_slab_start/end      -> shrink_slab (+ shrink_scan when the shrinker's scan
                                          function is msm_gem_shrinker_scan)
  vmscan:mm_vmscan_direct_reclaim_*    -> direct_reclaim
  dma_fence:dma_fence_signaled         -> fence_signal
  sched:sched_kthread_work_execute_*   -> retire_run for retire_worker (queue delay from queue_work)
  drm_msm_gpu:msm_gpu_submit/_retired, msm_gem_shrink -> gpu_submit / gpu_retired / shrink_tp
  gemscope kprobes (probe catalog 5.3): free/free_r -> free, scan/scan_r -> shrink_scan,
    count/count_r -> shrink_count, lru/lru_r -> lru_scan, try/try_r and mtry/mtry_r ->
    resv_trylock, lock/lock_r and locki/locki_r -> resv_lock, wait/wait_r -> fence_wait,
    lastput -> last_put, unlock -> resv_hold (from the acquisition before it: derived.py)
Everything else, and known events whose payload could not be read, become `generic` events.
`accounting` says where every input event went: mapped, generic, unpaired or bad.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..jiffies import valid_hz
from .derived import derive_lock_facts
from .kinds import (_BUILD, _SINGLE, _f, _is_kswapd, _reclaim_kind, _retire_extras,
                    fence_wait_timeouts)
from .pairing import inside, pair
from .rawevents import EventGroup, RawTrace
from .text_fields import extract_fields

# (kind, begin event, end event, key field or None, expected system)
PAIRS = (
    ("lock_contention", "contention_begin", "contention_end", "lock_addr", "lock"),
    ("shrink_slab", "mm_shrink_slab_start", "mm_shrink_slab_end", "shr", "vmscan"),
    ("direct_reclaim", "mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end", None,
     "vmscan"),
    ("retire_run", "sched_kthread_work_execute_start", "sched_kthread_work_execute_end", "work",
     "sched"),
    ("free", "free", "free_r", None, "gemscope"),
    ("shrink_scan", "scan", "scan_r", None, "gemscope"),
    ("shrink_count", "count", "count_r", None, "gemscope"),
    ("lru_scan", "lru", "lru_r", None, "gemscope"),
    ("resv_trylock", "try", "try_r", None, "gemscope"),
    ("resv_trylock", "mtry", "mtry_r", None, "gemscope"),
    ("resv_lock", "lock", "lock_r", None, "gemscope"),
    ("resv_lock", "locki", "locki_r", None, "gemscope"),
    ("fence_wait", "wait", "wait_r", None, "gemscope"),
)
RETURN_EVENTS = {p[2] for p in PAIRS if p[4] == "gemscope"}     # gemscope's kretprobes
SINGLES = (("fence_signal", "dma_fence_signaled", "dma_fence"),
           ("gpu_submit", "msm_gpu_submit", "drm_msm_gpu"),
           ("gpu_retired", "msm_gpu_submit_retired", "drm_msm_gpu"),
           ("shrink_tp", "msm_gem_shrink", "drm_msm_gpu"),
           ("last_put", "lastput", "gemscope"))
AUX = {"sched_kthread_work_queue_work": "sched"}   # consumed for retire queue delays, kept generic
# fields read by name (kprobe fetch-args, `trace-cmd report -R`)
WANTED = {
    "free": ("obj",), "free_r": (), "scan": ("nr", "gfp"), "scan_r": ("freed",),
    "count": (), "count_r": ("cnt",), "lru": ("lru", "nr", "rem", "fn"), "lru_r": ("freed",),
    "try": ("lock", "ctx", "owner"), "try_r": ("ok",), "mtry": ("lock", "owner"), "mtry_r": ("ok",),
    "lock": ("lock", "ctx", "owner"), "lock_r": ("ret",), "locki": ("lock", "ctx", "owner"),
    "locki_r": ("ret",), "wait": ("resv", "tmo"),
    "wait_r": ("ret",), "lastput": ("obj",), "unlock": ("lock",),
    "contention_begin": ("lock_addr", "flags"), "contention_end": ("lock_addr", "ret"),
    "mm_vmscan_direct_reclaim_begin": ("order", "gfp_flags"),
    "mm_vmscan_direct_reclaim_end": ("nr_reclaimed",),
    "dma_fence_signaled": ("driver", "timeline", "context", "seqno"),
}
# read where present: fetch-args gemscope's kprobes gained later (a last put's caller, object
# sizes), absent from older recordings and hand-written kprobe_events
OPTIONAL = {"free": ("size",), "lastput": ("size", "caller"), "try": ("size", "back"),
            "lock": ("back",), "locki": ("back",)}
SYMBOL_FIELDS = ("shrink", "function", "fn")
CALLER_FIELDS = ("caller",)      # return addresses: symbolized as func+0xoff, like stack frames
MSM_SCAN = "msm_gem_shrinker_scan"


@dataclass
class Mapped:
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounting: dict[str, Any] = field(default_factory=dict)
    recorded_kinds: set[str] = field(default_factory=set)

    def add(self, kind: str, cols: dict[str, Any]) -> None:
        if len(cols["ts_ns"]) == 0:
            return
        old = self.kinds.get(kind)
        if old is None:
            self.kinds[kind] = cols
            return
        for k in set(old) | set(cols):
            a, b = old.get(k), cols.get(k)
            na, nb = len(old["ts_ns"]), len(cols["ts_ns"])
            a = _arrow(a, na)
            b = _arrow(b, nb, a.type)
            old[k] = pa.concat_arrays([a, b.cast(a.type) if b.type != a.type else b])

    def count(self, kind: str) -> int:
        c = self.kinds.get(kind)
        return 0 if c is None else len(c["ts_ns"])


def _arrow(v, n, typ=pa.null()):
    if v is None:
        return pa.nulls(n, typ if typ != pa.null() else pa.int64())
    if isinstance(v, pa.ChunkedArray):
        return v.combine_chunks()
    return v if isinstance(v, pa.Array) else pa.array(v)


def _sys_ok(g: EventGroup, system: str) -> bool:
    if system == "gemscope" and g.system:      # live kprobe groups are gemscope_<pid>
        return g.system.startswith("gemscope")
    return g.system is None or g.system == system


def _comm(trace: RawTrace, g: EventGroup) -> pa.Array:
    if g.comm is not None:
        return g.comm
    uniq, inv = np.unique(g.tid, return_inverse=True)
    names = [trace.cmdlines.get(int(t), "<idle>" if t == 0 else None) for t in uniq]
    return pa.array(names, pa.string()).take(pa.array(inv.ravel()))


def _common(trace: RawTrace, g: EventGroup, idx: np.ndarray) -> dict[str, Any]:
    ia = pa.array(idx, pa.int64())
    pid = None
    if g.tgid is not None:
        t = g.tgid[idx]
        pid = pa.array(t, pa.int32(), mask=t < 0)
    return {"ts_ns": g.ts[idx], "cpu": g.cpu[idx], "tid": g.tid[idx],
            "pid": pid if pid is not None else pa.nulls(len(idx), pa.int32()),
            "comm": _comm(trace, g).take(ia)}


def _return_site(g: EventGroup) -> None:
    """`caller` of a kretprobe event: where the probed function returned to (the kernel records
    it: __probe_ret_ip in the binary record, "(caller+0xoff/0xsize [mod] <- func)" in text)."""
    ip = g.fields.get("__probe_ret_ip")
    if ip is not None:
        g.fields["caller"] = ip
    elif g.payload is not None:
        st = pc.extract_regex(g.payload,
                              r"^\((?P<caller>[^ /)]+)(?:/0x[0-9a-f]+)?(?: \[[^\]]*\])? <- ")
        g.fields["caller"] = pc.struct_field(st, [0])


def _code_addresses(trace: RawTrace, addrs: np.ndarray) -> pa.Array:
    """Kernel code addresses as `func+0xoff` (stack frames, callers); the address itself in hex
    without a symbol table or outside it."""
    syms = trace.kallsyms
    names = syms.lookup(addrs, with_offset=True) if syms is not None and len(syms) else \
        pa.nulls(len(addrs), pa.string())
    if names.null_count:
        hexes = pa.array([hex(a) for a in addrs.tolist()], pa.string())
        names = pc.if_else(names.is_valid(), names, hexes)
    return names


def _symbolize(trace: RawTrace, g: EventGroup) -> None:
    for name in CALLER_FIELDS:
        arr = g.fields.get(name)
        if arr is not None and pa.types.is_integer(arr.type):
            a = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(np.uint64)
            # a null or zero caller stays unknown
            g.fields[name] = pc.if_else(pa.array(a != 0), _code_addresses(trace, a),
                                        pa.scalar(None, pa.string()))
    for name in SYMBOL_FIELDS:
        arr = g.fields.get(name)
        if arr is not None and pa.types.is_integer(arr.type):
            if trace.kallsyms is not None and len(trace.kallsyms):
                g.fields[name] = trace.kallsyms.lookup(arr.fill_null(0).to_numpy(
                    zero_copy_only=False).astype(np.uint64))
            else:
                g.fields[name] = pc.cast(arr, pa.string())
        elif arr is not None and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            # text prints "sym+0x0/0x30" (kernel) or "sym+0x0" (trace-cmd): keep the name
            # once per distinct symbol: a column repeats a few symbols over many rows
            enc = arr.dictionary_encode()
            g.fields[name] = pc.replace_substring_regex(
                enc.dictionary, r"\+0x[0-9a-f]+(/0x[0-9a-f]+)?$", "").take(enc.indices)


def map_trace(trace: RawTrace) -> Mapped:
    out = Mapped()
    acc = {"events_in": trace.events_in, "bad": trace.bad_count, "mapped_inputs": 0,
           "generic": 0, "unpaired_begins": {}, "unmatched_ends": {}, "merged_begins": {},
           "unreadable_payloads": {}}
    # shallow copies: symbolizing and payload parsing replace fields of the copy only, so a live
    # source can map the same raw events again after appending more of them
    groups = {n: dataclasses.replace(g, fields=dict(g.fields)) for n, g in trace.groups.items()}
    used: dict[str, np.ndarray] = {}            # rows of a group consumed by a kind
    for name, g in groups.items():
        if g.payload is not None and (name in WANTED or name in AUX or
                                      any(name in (p[1], p[2]) for p in PAIRS) or
                                      any(name == s[1] for s in SINGLES)):
            failed = extract_fields(g, WANTED, OPTIONAL)
            if failed.any():
                acc["unreadable_payloads"][name] = int(failed.sum())
                used[name] = failed  # marks rows as "not usable": they go generic below
        if name in RETURN_EVENTS and _sys_ok(g, "gemscope"):
            _return_site(g)
        _symbolize(trace, g)

    def usable(name):
        g = groups.get(name)
        if g is None:
            return None, np.zeros(0, np.int64)
        bad = used.get(name)
        rows = np.arange(len(g)) if bad is None else np.flatnonzero(~bad)
        return g, rows

    consumed: dict[str, np.ndarray] = {n: np.zeros(len(g), bool) for n, g in groups.items()}
    intervals: dict[str, tuple] = {}
    stack_of = _stacks(trace, groups, consumed, out)
    for kind, bname, ename, key, system in PAIRS:
        gb, rb = usable(bname)
        ge, re_ = usable(ename)
        if gb is None and ge is None:
            continue
        if (gb is not None and not _sys_ok(gb, system)) or (ge is not None and not _sys_ok(ge, system)):
            continue
        if kind == "retire_run":
            rb = rb[_is_retire(gb, rb)] if gb is not None else rb
            re_ = re_[_is_retire(ge, re_)] if ge is not None else re_
        if gb is None or ge is None:
            for g, r, side in ((gb, rb, "unpaired_begins"), (ge, re_, "unmatched_ends")):
                if g is not None and len(r):
                    acc[side][kind] = acc[side].get(kind, 0) + len(r)
                    consumed[g.name][r] = True
            if gb is not None and len(rb):
                first = int(gb.ts[rb].min())
                acc["open_since_ns"] = min(acc.get("open_since_ns", first), first)
            continue
        kb = _key(gb, key, rb)
        ke = _key(ge, key, re_)
        orv = _f(gb, "flags", rb).fill_null(0).to_numpy(zero_copy_only=False) \
            if kind == "lock_contention" else None
        p = pair(_rows(gb.tid, rb), kb, _rows(gb.ts, rb), _rows(gb.seq, rb),
                 _rows(ge.tid, re_), ke, _rows(ge.ts, re_), _rows(ge.seq, re_), orv)
        consumed[bname][rb] = True
        consumed[ename][re_] = True
        if p.open_since is not None:
            acc["open_since_ns"] = min(acc.get("open_since_ns", p.open_since), p.open_since)
        if p.unpaired_begins:
            acc["unpaired_begins"][kind] = acc["unpaired_begins"].get(kind, 0) + p.unpaired_begins
        if p.unmatched_ends:
            acc["unmatched_ends"][kind] = acc["unmatched_ends"].get(kind, 0) + p.unmatched_ends
        extra = int((p.begins_merged - 1).sum())
        if extra:
            acc["merged_begins"][kind] = acc["merged_begins"].get(kind, 0) + extra
        bi, ei = rb[p.begin_idx], re_[p.end_idx]
        cols = _common(trace, gb, bi)
        cols["duration_ns"] = ge.ts[ei] - gb.ts[bi]
        _BUILD[kind](cols, gb, bi, ge, ei, p, bname)
        if "stack_id" in schema.KINDS[kind].fields:
            cols["stack_id"] = stack_of(gb.cpu[bi], gb.seq[bi])
        if kind == "retire_run":
            _retire_extras(cols, groups, gb, bi, ge, ei)
        if kind == "fence_wait":
            fence_wait_timeouts(cols, valid_hz(trace.meta.get("kernel_hz")))
        out.add(kind, cols)
        intervals.setdefault(kind, []).append((gb.tid[bi], gb.ts[bi], ge.ts[ei], cols))
        out.recorded_kinds.add(kind)
        if kind == "shrink_slab":
            msm = pc.fill_null(pc.equal(cols["shrinker"], MSM_SCAN), False).to_numpy(
                zero_copy_only=False)
            if msm.any():
                sc = {k: (v[msm] if isinstance(v, np.ndarray) else v.filter(pa.array(msm)))
                      for k, v in cols.items() if k in ("ts_ns", "cpu", "tid", "pid", "comm",
                                                        "duration_ns", "gfp_flags")}
                # the msm scan's time span is shrinker scope for context either way
                intervals.setdefault("shrink_scan", []).append(
                    (sc["tid"], sc["ts_ns"], sc["ts_ns"] + sc["duration_ns"], sc))
                if not len(groups.get("scan", ())):   # the scan kprobes give exact scans
                    sc["nr_to_scan_pages"] = cols["nr_to_scan_pages"].filter(pa.array(msm))
                    sc["freed_pages"] = cols["freed_pages"].filter(pa.array(msm))
                    sc["reclaim_kind"] = _reclaim_kind(sc["comm"])
                    sc["in_reclaim"] = np.ones(int(msm.sum()), bool)
                    out.add("shrink_scan", sc)
                    out.recorded_kinds.add("shrink_scan")
    for kind, name, system in SINGLES:
        g, rows = usable(name)
        if g is None or not _sys_ok(g, system) or len(rows) == 0:
            continue
        cols = _common(trace, g, rows)
        _SINGLE[kind](cols, g, rows)
        if "stack_id" in schema.KINDS[kind].fields:
            cols["stack_id"] = stack_of(g.cpu[rows], g.seq[rows])
        consumed[name][rows] = True
        out.add(kind, cols)
        out.recorded_kinds.add(kind)
    _reclaim_context(out, intervals, trace.kthreads)
    gu, ru = usable("unlock")
    unlocks = None
    if gu is not None and _sys_ok(gu, "gemscope") and "lock" in gu.fields:
        unlocks = (gu.field_np("lock", np.uint64)[0][ru], gu.ts[ru])
        consumed["unlock"][ru] = True
    derived = derive_lock_facts(out, unlocks)
    acc["not_reservations"] = derived["not_reservations"]
    if derived["unmatched_unlocks"]:
        acc["unmatched_ends"]["resv_hold"] = derived["unmatched_unlocks"]
    consumed_total = int(sum(c.sum() for c in consumed.values()))
    for name, g in groups.items():
        rest = np.flatnonzero(~consumed[name])
        if len(rest) == 0:
            continue
        cols = _common(trace, g, rest)
        sysname = f"{g.system}:{name}" if g.system else name
        cols["event_name"] = pa.array([sysname] * len(rest), pa.string()) \
            .dictionary_encode().cast(pa.string())
        cols["payload"] = _payload(g, rest)
        out.add("generic", cols)
        acc["generic"] += len(rest)
    acc["unpaired_total"] = sum(acc["unpaired_begins"].values()) + \
        sum(acc["unmatched_ends"].values())
    # every input event is in exactly one of: mapped, generic, unpaired, bad
    acc["mapped_inputs"] = consumed_total - acc["unpaired_total"]
    acc["balanced"] = acc["events_in"] == (acc["mapped_inputs"] + acc["generic"] +
                                           acc["unpaired_total"] + acc["bad"])
    acc["lost_events"] = int(sum(trace.lost_by_cpu.values()))
    if trace.lost_by_cpu:
        ts0 = min((int(g.ts.min()) for g in groups.values() if len(g)), default=0)
        cpus = sorted(trace.lost_by_cpu)
        out.add("lost", {"ts_ns": np.full(len(cpus), ts0, np.int64), "cpu": np.array(cpus, np.int16),
                         "tid": np.zeros(len(cpus), np.int32), "pid": pa.nulls(len(cpus), pa.int32()),
                         "comm": pa.nulls(len(cpus), pa.string()),
                         "lost_count": np.array([trace.lost_by_cpu[c] for c in cpus], np.int64)})
    out.accounting = acc
    return out


_TRACING_FRAMES = ("trace_event_raw_event_", "__traceiter_", "__trace_", "trace_call_bpf",
                   "perf_trace_", "event_triggers_call", "trace_event_buffer_commit")


def _stacks(trace: RawTrace, groups: dict, consumed: dict, out: Mapped):
    """ftrace:kernel_stack records (stacktrace triggers) -> `stack` events, and a lookup that
    gives the stack id of the event recorded just before a stack on the same CPU."""
    g = groups.get("kernel_stack")
    none = lambda cpu, seq: pa.nulls(len(seq), pa.int32())  # noqa: E731
    if g is None or not len(g) or not ({"frames_addr", "frames_text"} & set(g.fields)):
        return none
    if "frames_text" in g.fields:          # text imports: frames are already symbols
        joined = g.fields["frames_text"].cast(pa.string())
    else:
        lists = g.fields["frames_addr"]
        flat = lists.flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
        names = _code_addresses(trace, flat)
        joined = pc.binary_join(pa.ListArray.from_arrays(lists.offsets, names), "\n")
    enc = joined.dictionary_encode()
    cleaned = ["\n".join(f for f in (v or "").split("\n")
                         if not f.startswith(_TRACING_FRAMES)) for v in enc.dictionary.to_pylist()]
    ids = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32) + 1
    consumed["kernel_stack"][:] = True
    first = np.unique(ids, return_index=True)[1]
    cols = _common(trace, g, first)
    cols["stack_id"] = pa.array(ids[first], pa.int32())
    cols["frames"] = pa.array([cleaned[i - 1] for i in ids[first]], pa.string())
    out.add("stack", cols)
    out.recorded_kinds.add("stack")
    keys = g.cpu.astype(np.int64) * (1 << 44) + (g.seq - 1)
    order = np.argsort(keys)
    keys, sid = keys[order], ids[order]

    def stack_of(cpu: np.ndarray, seq: np.ndarray) -> pa.Array:
        k = cpu.astype(np.int64) * (1 << 44) + seq
        j = np.clip(np.searchsorted(keys, k), 0, len(keys) - 1)
        hit = keys[j] == k
        return pa.array(np.where(hit, sid[j], 0).astype(np.int32), pa.int32(), mask=~hit)
    return stack_of


def _rows(arr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """arr[rows] for sorted distinct rows; arr itself (no copy) when they are all of its rows."""
    return arr if len(rows) == len(arr) else arr[rows]


def _key(g: EventGroup, key: str | None, rows: np.ndarray) -> np.ndarray:
    if key is None:
        return np.zeros(len(rows), np.uint64)
    v, _ = g.field_np(key, np.uint64)
    return _rows(v, rows)


def _is_retire(g: EventGroup, rows: np.ndarray) -> np.ndarray:
    fn = g.fields.get("function")
    if fn is None:
        return np.zeros(len(rows), bool)
    m = pc.fill_null(pc.equal(fn, "retire_worker"), False).to_numpy(zero_copy_only=False)
    return m[rows]


def _payload(g: EventGroup, rows: np.ndarray) -> pa.Array:
    if g.payload is not None:
        return g.payload.take(pa.array(rows, pa.int64()))
    parts = []
    for name, arr in g.fields.items():
        col = arr.take(pa.array(rows, pa.int64())).cast(pa.string()).fill_null("")
        parts.append(pc.binary_join_element_wise(pa.scalar(name + "="), col, ""))
    if not parts:
        return pa.array([""] * len(rows), pa.string())
    return pc.binary_join_element_wise(*parts, " ")


_CONTEXTS = pa.array(["other", "retire_worker", "reclaim", "shrinker", "ioctl"], pa.string())


def _reclaim_context(out: Mapped, intervals: dict, kthreads: dict[int, bool]) -> None:
    """in_reclaim / context for the kinds that carry them, from reclaim intervals of the same tid;
    outside them a task known to be a user task (kthreads, live only) is in `ioctl`."""
    def ivs(*kinds):
        parts = [iv for k in kinds for iv in intervals.get(k, [])]
        if not parts:
            return None
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))

    reclaim = ivs("direct_reclaim", "shrink_slab", "shrink_scan")
    shrinker = ivs("shrink_scan")
    retire = ivs("retire_run")
    users = np.array([t for t, k in kthreads.items() if not k], np.int64)   # user tasks
    for kind in ("free", "last_put", "resv_lock", "resv_trylock", "lock_contention",
                 "fence_wait"):
        c = out.kinds.get(kind)
        if c is None:
            continue
        tid, ts = np.asarray(c["tid"]), np.asarray(c["ts_ns"])
        kswapd = _is_kswapd(c["comm"])
        in_rec = kswapd | (inside(tid, ts, *reclaim) if reclaim else False)
        in_shr = inside(tid, ts, *shrinker) if shrinker else np.zeros(len(ts), bool)
        in_ret = inside(tid, ts, *retire) if retire else np.zeros(len(ts), bool)
        c["in_reclaim"] = np.asarray(in_rec, bool)
        user = np.isin(tid, users)
        # the BPF path's order (tracer/live/decode.py): retire_worker > shrinker > reclaim >
        # ioctl > other
        code = np.select([in_ret, in_shr, in_rec, user], [1, 3, 2, 4], 0).astype(np.int8)
        c["context"] = pa.DictionaryArray.from_arrays(pa.array(code), _CONTEXTS).cast(pa.string())
