"""The intermediate form every ftrace reader produces: events grouped by name, as columns.

Readers (trace.dat, trace_pipe_raw, ftrace text) fill a RawTrace; `mapping.map_trace` turns it into
gemscope's schema kinds. Columns are numpy arrays (timing, ids) or pyarrow arrays (fields, text).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa


@dataclass
class EventGroup:
    """All events of one name. `fields` hold the event's own fields (null = not parsed)."""
    name: str
    system: str | None
    ts: np.ndarray                   # int64 ns in the trace clock
    cpu: np.ndarray                  # int16
    tid: np.ndarray                  # int32
    seq: np.ndarray                  # int64 reading order (ties between equal timestamps)
    comm: pa.Array | None = None     # string; None = look up in the saved cmdlines
    tgid: np.ndarray | None = None   # int32, -1 = unknown
    fields: dict[str, pa.Array] = field(default_factory=dict)
    payload: pa.Array | None = None  # the event's text (text readers) or None (built when needed)

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, idx: np.ndarray) -> "EventGroup":
        ia = pa.array(idx, pa.int64())
        return EventGroup(
            self.name, self.system, self.ts[idx], self.cpu[idx], self.tid[idx], self.seq[idx],
            None if self.comm is None else self.comm.take(ia),
            None if self.tgid is None else self.tgid[idx],
            {k: v.take(ia) for k, v in self.fields.items()},
            None if self.payload is None else self.payload.take(ia))

    def field_np(self, name: str, dtype=np.int64, fill=0) -> tuple[np.ndarray, np.ndarray]:
        """(values, valid) of a numeric field; missing field -> all invalid."""
        arr = self.fields.get(name)
        if arr is None or not (pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type)):
            return np.full(len(self), fill, dtype), np.zeros(len(self), bool)
        valid = np.ones(len(self), bool) if arr.null_count == 0 else \
            arr.is_valid().to_numpy(zero_copy_only=False)
        vals = arr.fill_null(fill).to_numpy(zero_copy_only=False)
        return vals.astype(dtype, copy=False), valid

    def field_str(self, name: str) -> pa.Array:
        arr = self.fields.get(name)
        if arr is None:
            return pa.nulls(len(self), pa.string())
        return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) \
            else arr.cast(pa.string())


@dataclass
class RawTrace:
    """Everything a reader found: groups by event name plus the bookkeeping to account for it."""
    groups: dict[str, EventGroup] = field(default_factory=dict)
    lost_by_cpu: dict[int, int] = field(default_factory=dict)
    bad_lines: list[int] = field(default_factory=list)    # 1-based line numbers (text)
    bad_count: int = 0                                     # bad lines or undecodable records
    events_in: int = 0                                     # event lines / records seen
    clock: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    cmdlines: dict[int, str] = field(default_factory=dict)
    # tid -> is a kernel thread (PF_KTHREAD), where the live source could read /proc/<tid>/stat
    kthreads: dict[int, bool] = field(default_factory=dict)
    kallsyms_text: str = ""                                # parsed on first use
    _symbols: Any = None

    @property
    def kallsyms(self):
        """kallsyms.Symbols of the trace's kallsyms text (None without one)."""
        if self._symbols is None and self.kallsyms_text:
            from .kallsyms import Symbols
            self._symbols = Symbols(self.kallsyms_text)
        return self._symbols

    @kallsyms.setter
    def kallsyms(self, value) -> None:
        self._symbols = value

    def add(self, g: EventGroup) -> None:
        """Merge a group (events of the same name from another CPU or chunk)."""
        if len(g) == 0:
            return
        old = self.groups.get(g.name)
        self.groups[g.name] = g if old is None else concat_groups(old, g)


def concat_groups(a: EventGroup, b: EventGroup) -> EventGroup:
    def cat_pa(x, y, n_x, n_y, typ=pa.string()):
        if x is None and y is None:
            return None
        x = x if x is not None else pa.nulls(n_x, y.type if y is not None else typ)
        y = y if y is not None else pa.nulls(n_y, x.type)
        if x.type != y.type:
            y = y.cast(x.type)
        return pa.concat_arrays([x, y])

    names = list(dict.fromkeys(list(a.fields) + list(b.fields)))
    fields = {k: cat_pa(a.fields.get(k), b.fields.get(k), len(a), len(b)) for k in names}
    tgid = None
    if a.tgid is not None or b.tgid is not None:
        tgid = np.concatenate([a.tgid if a.tgid is not None else np.full(len(a), -1, np.int32),
                               b.tgid if b.tgid is not None else np.full(len(b), -1, np.int32)])
    return EventGroup(a.name, a.system or b.system, np.concatenate([a.ts, b.ts]),
                      np.concatenate([a.cpu, b.cpu]), np.concatenate([a.tid, b.tid]),
                      np.concatenate([a.seq, b.seq]),
                      cat_pa(a.comm, b.comm, len(a), len(b)), tgid, fields,
                      cat_pa(a.payload, b.payload, len(a), len(b)))


def spans_to_strings(buf: np.ndarray, start: np.ndarray, length: np.ndarray,
                     validate: bool = True) -> pa.Array:
    """Strings buf[start:start+length] for every row, built without a Python loop.

    When the spans are ordered and do not overlap (lines of a text file), the string array is
    made over the buffer itself with interleaved offsets (span, gap, span, gap ...) and the spans
    are taken by Arrow in C++; otherwise the bytes are gathered with numpy. Invalid UTF-8
    (hostile input) is replaced rather than raised."""
    start = np.asarray(start, np.int64)
    length = np.clip(np.asarray(length, np.int64), 0, None)
    n = len(start)
    if n == 0:
        return pa.array([], pa.string())
    end = start + length
    if np.all(start[1:] >= end[:-1]) and start[0] >= 0 and end[-1] <= len(buf):
        offsets = np.empty(2 * n, np.int64)
        offsets[0::2], offsets[1::2] = start, end
        offsets = offsets - start[0]
        view = buf[start[0]:end[-1]]
        whole = pa.LargeStringArray.from_buffers(2 * n - 1, pa.py_buffer(offsets),
                                                 pa.py_buffer(view))
        arr = whole.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int64)))
    else:
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(length, out=offsets[1:])
        total = int(offsets[-1])
        data = buf[np.repeat(start - offsets[:-1], length) + np.arange(total, dtype=np.int64)] \
            if total else np.zeros(0, np.uint8)
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    if validate:
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:
            arr = pa.array([None if v is None else v.decode("utf-8", "replace")
                            for v in arr.cast(pa.large_binary()).to_pylist()], pa.large_string())
    # large_string (64-bit offsets) is kept: casting to string would copy every byte again;
    # the recording writer casts to the schema's string type once, at the end
    return arr
