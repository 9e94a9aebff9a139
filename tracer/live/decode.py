"""Batch decoding of raw BPF event records into schema columns (numpy / Arrow, no per-event Python).

The ring-buffer callback only appends the raw bytes of each record to a bytearray; every poll
interval the whole bytearray becomes one structured numpy array (`np.frombuffer`), is split by event
type with boolean masks, and each type's slots are renamed into schema fields. Text (comm, holder
comm, fence names) goes through a dictionary of the few distinct values; stacks are symbolized once
per stack id and emitted as `stack` events the first time an id is seen.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from probes import events as ev
from tracer import schema
from tracer.jiffies import jiffies_to_ns

U64_MAX = np.uint64(0xFFFFFFFFFFFFFFFF)


def _dict_text(values: np.ndarray) -> tuple[pa.DictionaryArray, np.ndarray, list[str]]:
    """S16 bytes -> (dictionary-encoded strings, indices, distinct words).

    The 16 bytes are viewed as one complex128 so numpy's fast unique can group them (unique on
    bytes sorts strings and is ~50x slower); a bit pattern that is a NaN (never ASCII) falls back
    to Arrow's hash encoding. Only the handful of distinct values is decoded in Python."""
    flat = np.ascontiguousarray(values)
    as_c = flat.view(np.complex128)
    if not np.isnan(as_c).any():
        uniq, idx = np.unique(as_c, return_inverse=True)
        raw = [u.tobytes() for u in uniq]
        idx = idx.astype(np.int32, copy=False).reshape(-1)
    else:
        enc = pa.array(flat, pa.binary()).dictionary_encode()
        raw = enc.dictionary.to_pylist()
        idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    words = [b.split(b"\0", 1)[0].decode("utf-8", "replace") for b in raw]
    return _coded(idx, words), idx, words


def _coded(codes: np.ndarray, words) -> pa.DictionaryArray:
    """Integer codes into a small word list -> an Arrow dictionary array (no per-row strings)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32, copy=False)),
                                          pa.array(list(words), pa.string()))


def _text(values: np.ndarray) -> pa.DictionaryArray:
    return _dict_text(values)[0]


_NP = {pa.int32(): np.int32, pa.int64(): np.int64, pa.uint64(): np.uint64}


def _nullable(values: np.ndarray, valid: np.ndarray, typ: pa.DataType) -> pa.Array:
    return pa.array(values.astype(_NP[typ], copy=False), type=typ, mask=~valid)


class Decoder:
    """Turns raw record bytes into {kind: {field: column}}.

    stack_frames(raw_stack_id) -> list of 'func+0xoff' strings, innermost first, is called once
    per new stack id; symbol(addr) -> 'func' or 'func+0xoff' is used for shrinker callback
    addresses and the callers' return addresses of last puts. stack_offset keeps ids of
    successive BPF programs (re-attached after a module load) apart."""

    def __init__(self, stack_frames: Callable[[int], list[str]] | None = None,
                 symbol: Callable[[int], str] | None = None, stack_offset: int = 0,
                 emit_stacks: bool = True, hz: int | None = None):
        self.stack_frames = stack_frames
        self.symbol = symbol
        self.stack_offset = stack_offset
        # False when decoding a recording's raw records: their stacks were stored when recorded
        self.emit_stacks = emit_stacks
        self.hz = hz            # the kernel's CONFIG_HZ: fence wait timeouts come in jiffies
        self._stacks: dict[int, list[str]] = {}
        self._symbols: dict[int, str] = {}
        self._fresh: list[int] = []   # stack ids first seen in the current batch
        self.decoded = 0

    def decode(self, raw: bytes | bytearray | memoryview) -> dict[str, dict[str, object]]:
        n = len(raw) // ev.EVENT_SIZE
        if n == 0:
            return {}
        arr = np.frombuffer(raw, dtype=ev.EVENT_DTYPE, count=n)
        self.decoded += n
        out: dict[str, dict[str, object]] = {}
        types = arr["type"]
        for t in np.unique(types):
            kind = ev.TYPES.get(int(t))
            if kind is None:
                continue
            out[kind] = self._columns(kind, arr[types == t])
        new_stacks = self._new_stacks(arr) if self.emit_stacks else None
        if new_stacks is not None:
            out["stack"] = new_stacks
        return out

    def index(self, raw: bytes | bytearray | memoryview
              ) -> tuple[dict[str, object] | None, dict[int, str], dict[str, int]]:
        """The light pass of a recorder that stores raw records (decoded when read back): the
        stack events of stack ids first seen here (symbolized now, while the BPF stack map
        exists), the shrinker callback addresses first seen here with their names, and the
        records per kind. A few numpy passes over two columns, no per-kind columns."""
        n = len(raw) // ev.EVENT_SIZE
        if n == 0:
            return None, {}, {}
        arr = np.frombuffer(raw, dtype=ev.EVENT_DTYPE, count=n)
        self.decoded += n
        types = arr["type"]
        per_type = np.bincount(types, minlength=len(ev.TYPES) + 1)
        counts = {ev.TYPES[t]: int(c) for t, c in enumerate(per_type)
                  if c and t in ev.TYPES}
        symbols: dict[int, str] = {}
        for kind, slot in SYMBOL_SLOTS.items():
            if counts.get(kind):
                for addr in np.unique(arr[slot][types == ev.TYPE_OF[kind]]):
                    if addr and int(addr) not in self._symbols:
                        symbols[int(addr)] = self._symbol(int(addr))
        return self._new_stacks(arr), symbols, counts

    # ---- per kind ----
    def _columns(self, kind: str, a: np.ndarray) -> dict[str, object]:
        bits = a["bits"]
        comm, comm_idx, comm_words = _dict_text(a["comm"])
        cols: dict[str, object] = {
            "ts_ns": a["ts_ns"].astype(np.int64),
            "cpu": a["cpu"].astype(np.int16),
            "pid": a["pid"].astype(np.int32),
            "tid": a["tid"].astype(np.int32),
            "comm": comm,
        }
        for field, slot in ev.SLOTS[kind].items():
            cols[field] = a[slot]
        want = set(schema.KINDS[kind].fields)
        kswapd_comm = np.array([w.startswith("kswapd") for w in comm_words] + [False],
                               dtype=bool)[comm_idx]
        in_reclaim = ((bits & ev.B_IN_RECLAIM) != 0) | kswapd_comm
        if "in_reclaim" in want:
            cols["in_reclaim"] = in_reclaim
        if "context" in want:
            cols["context"] = _context(bits, in_reclaim)
        if "stack_id" in want:
            sid = a["stack_id"].astype(np.int64)
            cols["stack_id"] = _nullable(sid + self.stack_offset, sid >= 0, pa.int32())
        if "caller" in want:
            cols["caller"] = self._callers(kind, a)
        if "success" in want:
            cols["success"] = (bits & ev.B_SUCCESS) != 0
        if "is_resv" in want:
            cols["is_resv"] = (bits & ev.B_IS_RESV) != 0
        if "holder_tid" in want:
            valid = (bits & ev.B_HOLDER_VALID) != 0
            cols["holder_tid"] = _nullable(a["holder_tid"], valid, pa.int32())
            names = _text(a["str1"]).cast(pa.string())
            cols["holder_comm"] = pc.if_else(pa.array(valid), names, pa.scalar(None, pa.string()))
        if "stage" in want:
            st = (bits >> ev.STAGE_SHIFT) & 0xF
            names = pa.array([ev.STAGES.get(i) for i in range(16)], pa.string())
            cols["stage"] = names.take(pa.array(st.astype(np.int32)))
        if "api" in want:
            cols["api"] = _api(kind, bits)
        if "reclaim_kind" in want:
            rk = np.where(((bits & ev.B_KSWAPD) != 0) | kswapd_comm, 0,
                          np.where(bits & ev.B_DIRECT, 1, 2))
            cols["reclaim_kind"] = _coded(rk, ("kswapd", "direct", "other"))
        self._fix_unknowns(kind, a, bits, cols)
        return {k: v for k, v in cols.items() if k in want or k in schema.COMMON}

    def _fix_unknowns(self, kind, a, bits, cols) -> None:
        """Slots the kernel could not fill become null, never 0 (schema rule)."""
        if "size_bytes" in cols:
            cols["size_bytes"] = _nullable(a["a1"], (bits & ev.B_HAVE_SIZE) != 0, pa.uint64())
        if kind == "free":
            cols["lru_addr"] = _nullable(a["a2"], a["a2"] != 0, pa.uint64())
            cols["lock_addr"] = _nullable(a["a3"], a["a3"] != 0, pa.uint64())
        if kind == "resv_trylock":   # a2/a3 set only when the resv is a GEM object's own _resv
            cols["obj_addr"] = _nullable(a["a2"], a["a2"] != 0, pa.uint64())
            cols["size_bytes"] = _nullable(a["a3"], a["a2"] != 0, pa.uint64())
        if kind == "shrink_object":
            cols["lock_addr"] = _nullable(a["a3"], a["a3"] != 0, pa.uint64())
        if kind == "shrink_scan":
            cols["freed_pages"] = _nullable(a["a1"].astype(np.int64),
                                            (bits & ev.B_SHRINK_STOP) == 0, pa.int64())
        if kind == "lru_scan":
            cols["remaining_pages"] = _nullable(a["a3"].astype(np.int64),
                                                (bits & ev.B_HAVE_REMAINING) != 0, pa.int64())
        if kind == "retire_run":
            cols["queue_delay_ns"] = _nullable(a["a0"].astype(np.int64), a["a0"] != U64_MAX,
                                               pa.int64())
        if kind == "fence_signal":
            cols["driver"] = _text(a["str1"])
            cols["timeline"] = _text(a["str2"])
        if kind == "shrink_slab":
            uniq, inv = np.unique(a["a0"], return_inverse=True)
            names = pa.array([self._symbol(int(x)) for x in uniq], pa.string())
            cols["shrinker"] = names.take(pa.array(inv.astype(np.int32)))
        if kind == "fence_wait":
            # the kernel passes jiffies: ns with the kernel's HZ, unknown (null) without it
            ns, ok = jiffies_to_ns(a["a1"].view(np.int64), self.hz)
            cols["timeout_ns"] = _nullable(ns, ok, pa.int64())

    # ---- stacks and symbols ----
    def _frames(self, raw_id: int) -> list[str]:
        if raw_id < 0:
            return []
        got = self._stacks.get(raw_id)
        if got is None:
            got = self.stack_frames(raw_id) if self.stack_frames else []
            self._stacks[raw_id] = got
            self._fresh.append(raw_id)
        return got

    def _callers(self, kind: str, a: np.ndarray) -> pa.Array:
        """Each event's call site: from its stack, or, where the probe read it (CALLER_SLOTS),
        from the caller's return address (gs_caller in gemscope_common.bpf.h)."""
        uniq, inv = np.unique(a["stack_id"], return_inverse=True)
        callers = pa.array([self._caller(int(s), kind) for s in uniq], pa.string())
        out = callers.take(pa.array(inv.astype(np.int32)))
        slot = CALLER_SLOTS.get(kind)
        ret = a[slot] if slot else None
        if ret is not None and ret.any():
            addrs, at = np.unique(ret, return_inverse=True)
            names = pa.array([self._symbol(int(x)) if x else None for x in addrs], pa.string())
            out = pc.if_else(pa.array(ret != 0), names.take(pa.array(at.astype(np.int32))), out)
        return out

    def _caller(self, raw_id: int, kind: str = "") -> str | None:
        frames = self._frames(raw_id)
        if kind in LOCK_KINDS:
            # the first frame outside BPF and the lock code: a lock's stack comes from its
            # kprobe/fentry ([ww_mutex_lock+0x5, caller, ...]) or, for one that waited, from
            # lock:contention_begin ([bpf_prog_..., bpf_trace_run2, __ww_mutex_lock.constprop.0
            # +0x1a0, caller, ...]: ww_mutex_lock_interruptible tail-called the slow path)
            for f in frames:
                if not f.split("+", 1)[0].startswith(LOCK_INTERNAL):
                    return f
            return None
        # frame 0 is the probed function (kprobe)
        return frames[1] if len(frames) > 1 else (frames[0] if frames else None)

    def _symbol(self, addr: int) -> str:
        name = self._symbols.get(addr)
        if name is None:
            name = self.symbol(addr) if self.symbol else f"{addr:#x}"
            self._symbols[addr] = name
        return name

    def _new_stacks(self, arr: np.ndarray) -> dict[str, object] | None:
        ids = arr["stack_id"]
        for sid in np.unique(ids[ids >= 0]):
            self._frames(int(sid))
        fresh, self._fresh = self._fresh, []
        if not fresh:
            return None
        ts = int(arr["ts_ns"].min())
        n = len(fresh)
        return {"ts_ns": np.full(n, ts, np.int64), "cpu": np.zeros(n, np.int16),
                "pid": np.zeros(n, np.int32), "tid": np.zeros(n, np.int32),
                "comm": pa.array([""] * n, pa.string()),
                "stack_id": np.array(fresh, np.int64) + self.stack_offset,
                "frames": pa.array(["\n".join(self._stacks[s]) for s in fresh], pa.string())}


# the slot holding the caller's return address, for kinds whose probe reads it (gs_caller)
CALLER_SLOTS = {"last_put": "a4"}
# addresses symbolized while recording (the names go into a raw recording's context): shrinker
# callbacks, and those return addresses
SYMBOL_SLOTS = {"shrink_slab": "a0", **CALLER_SLOTS}
LOCK_KINDS = frozenset({"resv_lock", "resv_trylock", "resv_hold"})
# frames of BPF itself and of the mutex code, never a lock's call site
LOCK_INTERNAL = ("bpf_", "__bpf", "ww_mutex_", "__ww_mutex", "mutex_", "__mutex",
                 "arch_rethook_trampoline", "kretprobe_trampoline", "__kretprobe_trampoline")

CONTEXT_WORDS = ("retire_worker", "shrinker", "reclaim", "ioctl", "other")


def _context(bits: np.ndarray, in_reclaim: np.ndarray) -> pa.Array:
    """retire_worker > shrinker > reclaim > ioctl (a user task, known only with task flags) >
    other."""
    user = ((bits & ev.B_FLAGS_VALID) != 0) & ((bits & ev.B_KTHREAD) == 0)
    code = np.select([(bits & ev.B_IN_RETIRE) != 0, (bits & ev.B_IN_SHRINKER) != 0, in_reclaim,
                      user], [0, 1, 2, 3], 4)
    return _coded(code, CONTEXT_WORDS)


def _api(kind: str, bits: np.ndarray) -> pa.Array:
    if kind == "resv_lock":
        return _coded((bits & ev.B_INTERRUPTIBLE) != 0,
                      ("ww_mutex_lock", "ww_mutex_lock_interruptible"))
    return _coded((bits & ev.B_TRYLOCK_MUTEX) != 0, ("ww_mutex_trylock", "mutex_trylock"))
