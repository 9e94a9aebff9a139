"""The Source interface and the thread-safe event buffer every source fills.

Data flow (as in memray's live TUI): a reader thread appends Arrow batches to an EventBuffer; a
consumer (the TUI's timer tick, a report) asks for a frozen `Frames` snapshot at its own pace.
Nothing pushes one message per event anywhere.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from ..chunked_frames import ChunkStore
from ..frames import Frames


@dataclass(frozen=True)
class Capabilities:
    is_live: bool = False     # events keep arriving from a running kernel
    can_pause: bool = False   # the consumer may pause ingestion (replay pacing)
    can_seek: bool = False    # the whole time range is known and any window can be asked for


class Source(Protocol):
    """What the TUI and reports consume. Implementations: sources/recording_source.py (replay),
    the live BCC and tracefs sources, importers."""

    capabilities: Capabilities
    meta: dict[str, Any]

    def start(self) -> None:
        """Begin filling the buffer (usually in a daemon thread). Returns at once."""

    def stop(self) -> None:
        """Stop ingestion and release kernel resources; idempotent."""

    def snapshot(self) -> Frames:
        """A frozen copy of every event so far; safe to use from another thread."""

    def notices(self) -> list[str]:
        """Problems met so far (truncated file, probe failed, lost events), one line each."""

    @property
    def done(self) -> bool:
        """True once a finite source has delivered everything."""


class EventBuffer:
    """Append-only store of single-kind Arrow batches with cached, frozen Frames snapshots.

    `append` (the reader thread) only queues the batch. `snapshot` (the consumer) converts the
    batches queued since the last snapshot into column chunks (chunked_frames.ChunkStore) and
    returns Frames over a frozen view of them: no event is copied again, and a kind's DataFrame
    is built only when read; `frames.window(t0, t1)` of a snapshot costs O(rows in the window).
    The snapshot equals `frames_from_batches` of every batch appended so far.
    """

    def __init__(self, meta: dict[str, Any] | None = None):
        self._lock = threading.Lock()           # pending batches and counters
        self._convert = threading.Lock()        # one conversion at a time
        self._pending: list[pa.RecordBatch] = []
        self._store = ChunkStore()
        self._generation = 0
        self._cached: tuple[tuple, Frames] | None = None
        self.meta: dict[str, Any] = dict(meta or {})
        self.truncated = False
        self.events = 0

    @classmethod
    def holding(cls, frames: Frames) -> "EventBuffer":
        """A buffer that already holds these frames' events (e.g. to continue a session)."""
        buf = cls(frames.meta)
        for kind in frames.present:
            buf._store.add_frame(kind, frames[kind])
        buf.events = buf._store.rows
        buf.truncated = frames.truncated
        return buf

    def append(self, batch: pa.RecordBatch) -> None:
        with self._lock:
            self._pending.append(batch)
            self._generation += 1
            self.events += batch.num_rows

    @property
    def generation(self) -> int:
        return self._generation

    def snapshot(self) -> Frames:
        with self._convert:
            with self._lock:
                key, batches, self._pending = (self._generation, self.truncated), \
                    self._pending, []
            if self._cached and self._cached[0] == key:
                return self._cached[1]
            self._store.add_batches(batches)
            frames = Frames(self._store.view(), dict(self.meta), self.truncated, time_sorted=True)
            self._cached = (key, frames)
            return frames
