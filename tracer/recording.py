"""Recordings: an append-only Arrow IPC stream (zstd) that a recorder can write for hours.

Crash safety: every batch is written and flushed to the kernel at least every `flush_interval_s`
(default 1 s), so a recorder killed with SIGKILL loses at most the events of the last interval.
A file cut short replays every complete batch and reports itself as truncated; a file without the
Arrow end-of-stream marker reports that the recorder did not close it cleanly.

Every batch holds events of one kind only (readers rely on that to split kinds without a scan).
Nothing read from a recording is ever evaluated: metadata is JSON, events are typed columns.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from . import raw_records, schema
from .errors import RecordingError
from .jiffies import valid_hz

META_KEY = b"gemscope"
EOS_MARKER = b"\xff\xff\xff\xff\x00\x00\x00\x00"
MAX_META_BYTES = 4 << 20  # metadata larger than this is refused as hostile


def _write_options() -> ipc.IpcWriteOptions:
    return ipc.IpcWriteOptions(compression="zstd")


class RecordingWriter:
    """Append events, one kind per call, as columns; flushes at least every flush_interval_s.

    ``append(kind, columns)`` takes a mapping field -> sequence (numpy arrays are cheapest); the
    common fields ts_ns/cpu/pid/tid/comm must be present. Fields of other kinds are written null.
    """

    def __init__(self, path: str | os.PathLike, meta: Mapping[str, Any], *,
                 flush_interval_s: float = 1.0, clock=time.monotonic):
        meta = dict(meta)
        meta.setdefault("schema_version", schema.SCHEMA_VERSION)
        self.path = os.fspath(path)
        self._clock = clock
        self._flush_interval_s = flush_interval_s
        self._schema = schema.arrow_schema({META_KEY: json.dumps(meta, sort_keys=True).encode()})
        self._file = open(self.path, "wb")
        self._writer = ipc.new_stream(self._file, self._schema, options=_write_options())
        # Arrow writes the schema (our metadata) lazily with the first batch; an empty batch puts
        # it on disk now, so a recorder killed before its first flush still leaves a valid file.
        self._writer.write_batch(pa.RecordBatch.from_arrays(
            [pa.array([], type=f.type) for f in self._schema], schema=self._schema))
        self._file.flush()
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._pending_rows = 0
        self._last_flush = clock()
        self.events_written = 0
        self.closed = False

    def append(self, kind: str, columns: Mapping[str, Any]) -> None:
        if kind not in schema.KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        allowed = set(schema.kind_columns(kind)) - {"kind"}
        extra = set(columns) - allowed
        if extra:
            raise ValueError(f"kind {kind}: fields {sorted(extra)} do not belong to it")
        n = len(columns["ts_ns"])
        if n == 0:
            return
        self._pending.setdefault(kind, []).append(dict(columns))
        self._pending_rows += n
        self.flush_if_due()

    def append_raw(self, ts_ns: int, records: bytes, context: str) -> None:
        """One drain of BPF records, stored undecoded (tracer/raw_records.py decodes them when
        the recording is read). Drains wait for the next flush like other events and are then
        written as one batch of one row per drain, after every other pending kind (the stack
        events they refer to come first): each batch costs ~2 ms of CPU (zstd on every buffer
        of the ~80 union columns), so one per second, not one per drain."""
        if not records:
            return
        self._pending.setdefault(schema.RAW_KIND, []).append(
            {"ts_ns": [ts_ns], "cpu": [0], "pid": [0], "tid": [0], "comm": [""],
             "raw_records": [records], "raw_context": [context]})
        self._pending_rows += 1
        self.flush_if_due()

    def append_rows(self, kind: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Convenience for small amounts of events given as dicts (missing fields are null)."""
        rows = list(rows)
        if not rows:
            return
        names = [c for c in schema.kind_columns(kind) if c != "kind"]
        self.append(kind, {c: [r.get(c) for r in rows] for c in names})

    def flush_if_due(self) -> None:
        if self._clock() - self._last_flush >= self._flush_interval_s or self._pending_rows > 262144:
            self.flush()

    def flush(self) -> None:
        self._write_pending()
        self._file.flush()
        self._last_flush = self._clock()

    def _write_pending(self) -> None:
        raw = self._pending.pop(schema.RAW_KIND, None)
        if raw is not None:                 # last: after the stacks its records refer to
            self._pending[schema.RAW_KIND] = raw
        for kind, chunks in self._pending.items():
            self._writer.write_batch(_batch(kind, chunks, self._schema))
            self.events_written += sum(len(c["ts_ns"]) for c in chunks)
        self._pending.clear()
        self._pending_rows = 0

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
            self._writer.close()
        finally:
            self._file.close()
            self.closed = True

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _batch(kind: str, chunks: list[dict[str, Any]], sch: pa.Schema) -> pa.RecordBatch:
    n = sum(len(c["ts_ns"]) for c in chunks)
    arrays = []
    for f in sch:
        if f.name == "kind":
            arrays.append(pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, dtype=np.int8)), pa.array([kind])).cast(pa.string()))
            continue
        if f.name not in chunks[0]:
            arrays.append(pa.nulls(n, f.type))
            continue
        parts = [_to_arrow(c[f.name], f.type) for c in chunks]
        arrays.append(parts[0] if len(parts) == 1 else pa.concat_arrays(parts))
    return pa.RecordBatch.from_arrays(arrays, schema=sch)


def _to_arrow(values: Any, typ: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == typ else values.cast(typ)
    if isinstance(values, np.ndarray) and values.dtype != object:
        return pa.array(values, type=typ)
    return pa.array(list(values), type=typ)


@dataclass
class Summary:
    """What `gemscope info` prints: counts read batch by batch, never the whole file at once."""
    events: int = 0
    by_kind: Counter = field(default_factory=Counter)
    lost_events: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    batches: int = 0


class Recording:
    """A recording opened for reading. Construct with `open_recording`."""

    def __init__(self, path: str, source, meta: dict[str, Any], reader: ipc.RecordStreamReader):
        self.path = path
        self._source = source
        self.meta = meta
        self._reader = reader
        self._consumed = False
        self.truncated = False
        self.truncation_error: str | None = None
        self.closed_cleanly = _ends_with_eos(path)

    @property
    def synthetic(self) -> bool:
        return bool(self.meta.get("synthetic"))

    def iter_batches(self, columns_of_kind: Callable[[str], Iterable[str]] | None = None
                     ) -> Iterator[pa.RecordBatch]:
        """Every complete batch in file order; stops at a truncation and records it.

        With `columns_of_kind` (kind -> its column names), each batch comes back with only the
        columns of the kinds it holds (and "kind"): the other ~70 all-null columns of the union
        schema are never decompressed, which makes loading several times faster on files of
        many small batches (a live recorder flushing every second).
        """
        if self._consumed:
            raise RecordingError(f"{self.path}: batches can be read once per open_recording()")
        self._consumed = True
        self._raw = raw_records.RawExpander(valid_hz(self.meta.get("kernel_hz")))
        if columns_of_kind is not None:
            yield from self._iter_projected(columns_of_kind)
            return
        while True:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as e:   # cut short, or a damaged batch header
                self.truncated = True                     # (e.g. an absurd length: MemoryError)
                self.truncation_error = str(e).splitlines()[0][:200]
                return
            try:   # a damaged body (bad offsets, invalid UTF-8) must not reach pandas/numpy
                batch.validate(full=True)
                out = self._expanded(batch, batch.schema)
            except (pa.ArrowException, RecordingError) as e:
                self._damaged(e, "damaged batch: ")
                return
            yield from out

    def _expanded(self, batch: pa.RecordBatch, sch: pa.Schema, columns_of_kind=None
                  ) -> list[pa.RecordBatch]:
        """The batch as read, or, for raw BPF records, the events they hold: one batch per kind
        with the schema `sch` (or with "kind" and columns_of_kind(kind) when given)."""
        kind = raw_records.first_kind(batch)
        if kind != schema.RAW_KIND:
            if kind == "stack":
                self._raw.note_stacks(batch)
            return [batch]
        out = []
        for kind, cols in self._raw.expand(batch):
            if columns_of_kind is None:
                out.append(_batch(kind, [cols], sch))
                continue
            # every decoded column is converted (and so checked) even when fewer are asked for:
            # a summary (`gemscope info`) must refuse the batch a full read refuses
            want = {"kind", *columns_of_kind(kind)}
            full = _batch(kind, [cols], pa.schema(
                [f for f in self._reader.schema if f.name in want or f.name in cols]))
            out.append(full.select([n for n in full.schema.names if n in want]))
        return out

    def _damaged(self, e: BaseException, prefix: str = "") -> None:
        self.truncated = True
        self.truncation_error = prefix + (str(e).splitlines() or ["?"])[0][:180]

    def _iter_projected(self, columns_of_kind: Callable[[str], Iterable[str]]
                        ) -> Iterator[pa.RecordBatch]:
        """iter_batches reading each message twice through a one-message stream: first only
        its "kind" column, then only the columns of the kinds found (IpcReadOptions
        included_fields). Truncation and damage are handled as in iter_batches."""
        sch = self._reader.schema
        index = {name: i for i, name in enumerate(sch.names)}
        kind_i = index["kind"]
        self._source.seek(0)
        messages = ipc.MessageReader.open_stream(self._source)
        head = messages.read_next_message().serialize()    # the schema, checked by open
        while True:
            try:
                msg = messages.read_next_message()
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as e:   # cut short, or a damaged header
                self._damaged(e)
                return
            if msg is None:
                return
            try:
                if msg.type != "record batch":
                    raise pa.ArrowInvalid(f"unexpected {msg.type} message")
                data = pa.py_buffer(head.to_pybytes() + msg.serialize().to_pybytes())
                kinds = _one_batch(data, [kind_i]).column(0)
                names = {"kind"}
                found = pc.unique(kinds).drop_null().to_pylist()
                for k in found:
                    if k == schema.RAW_KIND:   # decoded below: read the stored records
                        names.update(("ts_ns", "raw_records", "raw_context"))
                        continue
                    names.update(columns_of_kind(k))
                    if k == "stack":           # the frames raw records' callers come from
                        names.update(("stack_id", "frames"))
                batch = _one_batch(data, sorted(index[n] for n in names if n in index))
                batch.validate(full=True)
                out = self._expanded(batch, batch.schema, columns_of_kind)
                if "stack" in found:
                    want = {"kind", *columns_of_kind("stack")}
                    out = [b.select([n for n in b.schema.names if n in want]) for b in out]
            except (pa.ArrowException, OSError, StopIteration, RecordingError) as e:
                self._damaged(e, "damaged batch: ")
                return
            yield from out

    def read_table(self) -> pa.Table:
        return pa.Table.from_batches(list(self.iter_batches()), schema=self._reader.schema)

    def summary(self) -> Summary:
        s = Summary()
        # only the columns the summary reads are decompressed
        for b in self.iter_batches(columns_of_kind=lambda kind: ("ts_ns", "lost_count")):
            if b.num_rows == 0:
                continue
            s.batches += 1
            s.events += b.num_rows
            kinds = b.column(b.schema.get_field_index("kind"))
            for vc in pc.value_counts(kinds).to_pylist():   # hashing, not a sort of strings
                s.by_kind[str(vc["values"])] += vc["counts"]
            ts = b.column(b.schema.get_field_index("ts_ns")).drop_null()
            if len(ts):
                mm = pc.min_max(ts)
                lo, hi = mm["min"].as_py(), mm["max"].as_py()
                s.first_ts_ns = lo if s.first_ts_ns is None else min(s.first_ts_ns, lo)
                s.last_ts_ns = hi if s.last_ts_ns is None else max(s.last_ts_ns, hi)
            lost = b.column(b.schema.get_field_index("lost_count")).drop_null()
            if len(lost):
                s.lost_events += pc.sum(lost).as_py()
        return s

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _one_batch(stream: pa.Buffer, fields: list[int]) -> pa.RecordBatch:
    """The single batch of a one-message IPC stream, reading only `fields`."""
    opts = ipc.IpcReadOptions(included_fields=fields, use_threads=False)
    return ipc.open_stream(stream, options=opts).read_next_batch()


def _ends_with_eos(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < len(EOS_MARKER):
                return False
            f.seek(-len(EOS_MARKER), os.SEEK_END)
            return f.read() == EOS_MARKER
    except OSError:
        return False


def open_recording(path: str | os.PathLike) -> Recording:
    """Open a recording; any problem with the file becomes one RecordingError line."""
    path = os.fspath(path)
    try:
        source = pa.memory_map(path, "r")
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RecordingError(f"{path}: is a directory, not a recording") from None
    except PermissionError:
        raise RecordingError(f"{path}: permission denied") from None
    except (OSError, pa.ArrowException) as e:
        raise RecordingError(f"{path}: cannot be read ({_first_line(e)})") from None
    try:
        reader = ipc.open_stream(source)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError, pa.ArrowException) as e:
        source.close()
        raise RecordingError(f"{path}: not a gemscope recording (not an Arrow IPC stream: "
                             f"{_first_line(e)})") from None
    try:
        meta = _check_schema(path, reader.schema)
    except RecordingError:
        source.close()
        raise
    except (UnicodeDecodeError, pa.ArrowException) as e:   # e.g. a field name that is not UTF-8
        source.close()
        raise RecordingError(f"{path}: damaged schema ({_first_line(e)})") from None
    return Recording(path, source, meta, reader)


def _check_schema(path: str, sch: pa.Schema) -> dict[str, Any]:
    raw = (sch.metadata or {}).get(META_KEY)
    if raw is None:
        raise RecordingError(f"{path}: an Arrow stream, but not a gemscope recording "
                             "(no gemscope metadata)")
    if len(raw) > MAX_META_BYTES:
        raise RecordingError(f"{path}: metadata of {len(raw)} bytes refused (limit "
                             f"{MAX_META_BYTES})")
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RecordingError(f"{path}: gemscope metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise RecordingError(f"{path}: gemscope metadata is not a JSON object")
    version = meta.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise RecordingError(f"{path}: missing or invalid schema_version in metadata")
    if version > schema.SCHEMA_VERSION:
        raise RecordingError(f"{path}: schema version {version} is newer than this gemscope "
                             f"understands ({schema.SCHEMA_VERSION}); upgrade gemscope")
    for name in ("ts_ns", "kind"):
        if sch.get_field_index(name) < 0:
            raise RecordingError(f"{path}: required column {name!r} is missing")
    for f in sch:
        want = schema.FIELDS.get(f.name)
        if want is not None and f.type != want.type:
            raise RecordingError(f"{path}: column {f.name!r} has type {f.type}, "
                                 f"expected {want.type}")
    return meta


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]
