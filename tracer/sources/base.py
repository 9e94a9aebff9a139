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

from ..frames import Frames, frames_from_batches


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
    """Append-only store of single-kind Arrow batches with cached Frames snapshots."""

    def __init__(self, meta: dict[str, Any] | None = None):
        self._lock = threading.Lock()
        self._batches: list[pa.RecordBatch] = []
        self._generation = 0
        self._cached: tuple[int, Frames] | None = None
        self.meta: dict[str, Any] = dict(meta or {})
        self.truncated = False
        self.events = 0

    def append(self, batch: pa.RecordBatch) -> None:
        with self._lock:
            self._batches.append(batch)
            self._generation += 1
            self.events += batch.num_rows

    @property
    def generation(self) -> int:
        return self._generation

    def snapshot(self) -> Frames:
        with self._lock:
            gen, batches = self._generation, list(self._batches)
            if self._cached and self._cached[0] == gen:
                return self._cached[1]
        frames = frames_from_batches(batches, self.meta, self.truncated)
        with self._lock:
            self._cached = (gen, frames)
        return frames
