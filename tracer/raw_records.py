"""Raw BPF records in a recording, turned back into events when the recording is read.

`gemscope record` (headless) does not decode while it traces: each drain of the ring buffer is
stored as one `bpf_raw` row (schema.RAW_KIND): the records exactly as the kernel wrote them, and a
JSON context with what only the live machine knows: the record size, the stack id offset of the
BPF program that wrote them, and the names of the shrinker callback addresses first seen in that
drain. The stack ids first seen are symbolized while the stack map exists and written as ordinary
`stack` events before the row that uses them. Reading the recording decodes each row with the
same Decoder the live TUI uses (tracer/live/decode.py), so a raw recording and a decoded one give
the same events.

Nothing here trusts the file: the context is JSON checked field by field, a record size other
than this version's or a byte count that is not a whole number of records is a damaged batch,
unknown record types are skipped (as live), and stack ids / addresses that the file never
defined decode as unknown (no caller, the address as the shrinker's name).
"""
from __future__ import annotations

import json
from typing import Any, Iterator

import pyarrow as pa

from .errors import RecordingError

MAX_CONTEXT_BYTES = 1 << 20


def context_json(record_size: int, stack_offset: int, symbols: dict[int, str]) -> str:
    return json.dumps({"record_size": record_size, "stack_offset": stack_offset,
                       "symbols": {str(a): n for a, n in symbols.items()}})


def _context(text: str | None) -> tuple[int, int, dict[int, str]]:
    if text is None or len(text) > MAX_CONTEXT_BYTES:
        raise RecordingError("raw records without a valid context")
    try:
        c = json.loads(text)
    except ValueError:
        raise RecordingError("raw records' context is not JSON") from None
    if not isinstance(c, dict):
        raise RecordingError("raw records' context is not a JSON object")
    size, offset, symbols = c.get("record_size"), c.get("stack_offset"), c.get("symbols", {})
    if not isinstance(size, int) or not isinstance(offset, int) or not isinstance(symbols, dict) \
            or not 0 <= offset < 1 << 31:
        raise RecordingError("raw records' context has bad fields")
    out = {}
    for k, v in symbols.items():
        if not isinstance(v, str) or not k.isdigit() or int(k) >= 1 << 64:
            raise RecordingError("raw records' context has a bad symbol")
        out[int(k)] = v
    return size, offset, out


class RawExpander:
    """Per read of a recording: remembers the `stack` events passed by, decodes `bpf_raw` rows."""

    def __init__(self, hz: int | None = None):
        self.hz = hz                               # the recording's kernel_hz (metadata)
        self.stacks: dict[int, list[str]] = {}     # stack_id as stored (offset applied)
        self.symbols: dict[int, str] = {}
        self._decoders: dict[int, Any] = {}        # stack offset -> Decoder
        self._unread: list[pa.RecordBatch] = []    # stack batches not looked into yet

    def note_stacks(self, batch: pa.RecordBatch) -> None:
        """Remember a `stack` batch (its stack_id and frames columns); it is read only if a raw
        row comes, so a recording without raw rows pays nothing."""
        self._unread.append(batch)

    def _learn_stacks(self) -> None:
        for batch in self._unread:
            names = batch.schema.names
            if "stack_id" not in names or "frames" not in names:
                continue
            ids = batch.column(names.index("stack_id")).to_pylist()
            frames = batch.column(names.index("frames")).to_pylist()
            for sid, text in zip(ids, frames):
                if sid is not None:
                    self.stacks[sid] = text.split("\n") if text else []
        self._unread = []

    def _decoder(self, offset: int):
        d = self._decoders.get(offset)
        if d is None:
            from .live.decode import Decoder
            d = Decoder(lambda raw_id, o=offset: self.stacks.get(raw_id + o, []),
                        lambda addr: self.symbols.get(addr, f"{addr:#x}"), offset,
                        emit_stacks=False, hz=self.hz)
            self._decoders[offset] = d
        return d

    def expand(self, batch: pa.RecordBatch) -> Iterator[tuple[str, dict[str, object]]]:
        """(kind, columns) of the events stored in a bpf_raw batch; RecordingError if damaged."""
        from probes.events import EVENT_SIZE
        names = batch.schema.names
        if "raw_records" not in names or "raw_context" not in names:
            raise RecordingError("raw records without their columns")
        self._learn_stacks()
        records = batch.column(names.index("raw_records"))
        contexts = batch.column(names.index("raw_context")).to_pylist()
        for i, text in enumerate(contexts):
            size, offset, symbols = _context(text)
            if size != EVENT_SIZE:
                raise RecordingError(f"raw records of {size} bytes, this gemscope reads "
                                     f"{EVENT_SIZE}-byte records (recorded by another version)")
            data = records[i].as_buffer()
            if data is None:
                continue
            if len(data) % size:
                raise RecordingError(f"raw records of {len(data)} bytes are not whole records")
            self.symbols.update(symbols)
            yield from self._decoder(offset).decode(memoryview(data)).items()


def first_kind(batch: pa.RecordBatch) -> str | None:
    """The kind of a batch: gemscope writes one kind per batch (a foreign writer's mixed batch
    is split later by frames.split_by_kind; raw rows and stacks come only from gemscope)."""
    i = batch.schema.get_field_index("kind")
    if i < 0 or batch.num_rows == 0:
        return None
    return batch.column(i)[0].as_py()
