"""The simulator's event log: per-kind column parts built with numpy, written as a recording.

Actors add whole arrays of events at once (`EventLog.add`), never one event per call. Columns whose
name starts with "_" are ground-truth tags (what the model injected: "this lock call waited",
"this lock ran inside a retire run"); they are kept for `truth.py` and never written to the file.

Writing mimics a live recorder: events are sorted by time and flushed one simulated second at a
time, one kind per batch, so the file has the same shape as a BCC recording of the same length.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..recording import RecordingWriter

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Thread:
    """A task the model runs: pid is the tgid, tid the thread, comm the task name."""
    tid: int
    pid: int
    comm: str
    home_cpu: int


class Threads:
    """The registry of every task in a simulation, so that events carry consistent ids."""

    def __init__(self) -> None:
        self._by_tid: dict[int, Thread] = {}

    def add(self, tid: int, pid: int, comm: str, home_cpu: int) -> Thread:
        t = Thread(tid, pid, comm, home_cpu)
        self._by_tid[tid] = t
        return t

    def __getitem__(self, tid: int) -> Thread:
        return self._by_tid[tid]

    def columns(self, tids: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """pid, tid, comm and cpu columns for events run by `tids` (cpu: the thread's home cpu,
        with one event in eight migrated to another of the 8 cpus)."""
        tids = np.asarray(tids, dtype=np.int32)
        uniq, inv = np.unique(tids, return_inverse=True)
        known = [self._by_tid[int(t)] for t in uniq]
        pid = np.array([t.pid for t in known], dtype=np.int32)[inv]
        home = np.array([t.home_cpu for t in known], dtype=np.int16)[inv]
        migrate = rng.random(len(tids)) < 0.125
        cpu = np.where(migrate, rng.integers(0, 8, len(tids)), home).astype(np.int16)
        comm = strings([t.comm for t in known], inv)
        return {"pid": pid, "tid": tids, "comm": comm, "cpu": cpu}


def strings(vocab: list[str], codes: np.ndarray) -> pa.Array:
    """A string column from a small vocabulary and per-event codes (codes < 0 are null)."""
    codes = np.asarray(codes)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask if mask.any() else None)
    # take() from the vocabulary is several times faster than casting a dictionary array
    return pc.take(pa.array(vocab, type=pa.string()), idx)


def const_str(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    return strings([value], np.zeros(n, dtype=np.int32))


def _column(name: str, value: Any, n: int) -> pa.Array:
    typ = schema.FIELDS[name].type
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        return value if value.type == typ else value.cast(typ)
    if value is None:
        return pa.nulls(n, typ)
    if isinstance(value, str):
        return const_str(value, n)
    if np.isscalar(value):
        value = np.full(n, value)
    arr = np.asarray(value)
    if pa.types.is_string(typ):
        return pa.array(arr.astype(object), type=typ)
    if pa.types.is_boolean(typ):
        return pa.array(arr.astype(bool), type=typ)
    if arr.dtype.kind == "f":                      # NaN marks "null" (e.g. SHRINK_STOP)
        mask = np.isnan(arr)
        return pa.array(np.where(mask, 0, arr).astype(typ.to_pandas_dtype()), type=typ,
                        mask=mask if mask.any() else None)
    return pa.array(arr.astype(typ.to_pandas_dtype()), type=typ)


class EventLog:
    """Events of every kind, as typed Arrow parts, plus the ground-truth tags of each part."""

    def __init__(self) -> None:
        self.parts: dict[str, list[pa.Table]] = defaultdict(list)
        self.tags: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)

    def add(self, kind: str, columns: Mapping[str, Any]) -> None:
        """Add n events of one kind. Values may be arrays, scalars (broadcast), str or None.
        Keys starting with "_" are truth tags (arrays of length n) kept beside the events."""
        n = len(columns["ts_ns"])
        if n == 0:
            return
        allowed = set(schema.kind_columns(kind)) - {"kind"}
        data, tags = {}, {}
        for name, value in columns.items():
            if name.startswith("_"):
                tags[name] = np.broadcast_to(np.asarray(value), (n,)).copy()
            elif name not in allowed:
                raise ValueError(f"simulate: kind {kind} has no field {name}")
            else:
                data[name] = _column(name, value, n)
        names = [c for c in schema.kind_columns(kind) if c != "kind"]
        missing = {"ts_ns", "cpu", "pid", "tid", "comm"} - set(data)
        if missing:
            raise ValueError(f"simulate: kind {kind} lacks {sorted(missing)}")
        table = pa.table({c: data[c] if c in data else _column(c, None, n) for c in names})
        self.parts[kind].append(table)
        tags["ts_ns"] = np.asarray(columns["ts_ns"], dtype=np.int64)
        self.tags[kind].append(tags)

    def table(self, kind: str) -> pa.Table | None:
        """All events of one kind, in the order added (not sorted)."""
        parts = self.parts.get(kind)
        if not parts:
            return None
        if len(parts) > 1:
            self.parts[kind] = parts = [pa.concat_tables(parts)]
            tags = self.tags[kind]
            names = set().union(*(t.keys() for t in tags))
            merged = {}
            for name in names:
                fill = next(t[name] for t in tags if name in t)
                merged[name] = np.concatenate([t.get(name, np.zeros(len(t["ts_ns"]),
                                                                    fill.dtype))
                                               for t in tags])
            self.tags[kind] = [merged]
        return parts[0]

    def drop(self, kind: str, mask: np.ndarray) -> None:
        """Remove the events of a kind selected by mask (in table() order) and their tags."""
        t = self.table(kind)
        if t is None:
            return
        keep = ~np.asarray(mask, dtype=bool)
        self.parts[kind] = [t.filter(pa.array(keep))]
        self.tags[kind] = [{k: v[keep] for k, v in self.tags[kind][0].items()}]

    def column(self, kind: str, name: str) -> np.ndarray:
        """One column of a kind as numpy (nulls become NaN for numbers, None for text)."""
        t = self.table(kind)
        if t is None:
            return np.zeros(0)
        col = t.column(name).combine_chunks()
        if pa.types.is_string(col.type):
            enc = col.dictionary_encode()
            vocab = np.array(enc.dictionary.to_pylist() + [None], dtype=object)
            idx = enc.indices.fill_null(len(vocab) - 1).to_numpy(zero_copy_only=False)
            return vocab[idx]
        if col.null_count:
            return col.to_numpy(zero_copy_only=False).astype(np.float64)
        return col.to_numpy(zero_copy_only=False)

    def tag(self, kind: str, name: str, default: Any = False) -> np.ndarray:
        """A truth tag over all events of a kind (parts without it get `default`)."""
        self.table(kind)
        out = [p.get(name, np.full(len(p["ts_ns"]), default)) for p in self.tags.get(kind, [])]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.asarray(default).dtype)

    def count(self, kind: str) -> int:
        return sum(t.num_rows for t in self.parts.get(kind, []))

    @property
    def kinds(self) -> list[str]:
        return sorted(k for k, v in self.parts.items() if v)

    def sort(self, kind: str) -> pa.Table | None:
        """Put a kind's events (and their tags) in time order, in place; returns the table.
        Stable, so events with equal timestamps keep the order the actors added them in."""
        t = self.table(kind)
        if t is None or not t.num_rows:
            return t
        ts = t.column("ts_ns").to_numpy()
        if (np.diff(ts) >= 0).all():
            return t
        order = np.argsort(ts, kind="stable")
        self.parts[kind] = [t.take(pa.array(order))]
        self.tags[kind] = [{k: v[order] for k, v in self.tags[kind][0].items()}]
        return self.parts[kind][0]

    def write(self, path: str, meta: Mapping[str, Any], t0_ns: int) -> int:
        """Write every event, sorted by time, one simulated second per flush. Returns events."""
        tables = {}
        for kind in sorted(self.parts):
            t = self.sort(kind)
            if t is not None and t.num_rows:
                tables[kind] = t
        end = max(int(t.column("ts_ns")[-1].as_py()) for t in tables.values()) if tables \
            else t0_ns
        cuts = np.arange(t0_ns + NS_PER_S, end + NS_PER_S + 1, NS_PER_S, dtype=np.int64)
        bounds = {k: np.searchsorted(t.column("ts_ns").to_numpy(), cuts, side="left")
                  for k, t in tables.items()}
        # a frozen clock: batches are cut by simulated time only, so files are reproducible
        with RecordingWriter(path, meta, clock=lambda: 0.0) as w:
            lo = dict.fromkeys(tables, 0)
            for i in range(len(cuts)):
                for kind, t in tables.items():
                    hi = int(bounds[kind][i]) if i < len(cuts) - 1 else t.num_rows
                    if hi > lo[kind]:
                        part = t.slice(lo[kind], hi - lo[kind])
                        w.append(kind, {c: part.column(c) for c in part.column_names})
                        lo[kind] = hi
                w.flush()
            return w.events_written
