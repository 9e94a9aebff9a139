"""The name the sources use for their buffer: `EventBuffer` itself now converts incrementally.

`EventBuffer.snapshot()` (sources/base.py) converts only the batches appended since the last
snapshot into immutable column chunks and hands out lazy Frames over them (tracer/chunked_frames.py),
so a consumer tick costs O(new events), plus O(rows in the window) for the window it reads.
The live BCC and tracefs sources and the recording source import this name.
"""
from __future__ import annotations

from .base import EventBuffer


class IncrementalEventBuffer(EventBuffer):
    """Same as EventBuffer (kept as the sources' name for it)."""
