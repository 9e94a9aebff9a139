"""An EventBuffer whose snapshots convert only the batches that arrived since the last one.

`EventBuffer.snapshot()` rebuilds every kind's DataFrame from all batches each time the buffer
grows: fine for small buffers, but a source that keeps appending (a big recording being read, a
live session) would pay the whole Arrow -> pandas conversion (about a second per million events)
at every consumer tick. This buffer converts the new batches only and appends them to the
previous snapshot's frames (categoricals merged, nullable dtypes kept, re-sorted by time only if
the new rows start earlier), so a snapshot costs a copy of the frames plus the new rows.

Converted Arrow batches are released (the frames hold the events), so `_batches` keeps only the
ones not converted yet. The result is the same Frames that `frames_from_batches` would build from all batches
(tests/tui/test_incremental.py checks it frame by frame).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import Frames, frames_from_batches
from .base import EventBuffer


class IncrementalEventBuffer(EventBuffer):
    """Same interface as EventBuffer; snapshots are built incrementally."""

    def __init__(self, meta=None):
        super().__init__(meta)
        self._converted = 0                       # batches already in self._frames
        self._frames: dict[str, pd.DataFrame] = {}

    @classmethod
    def holding(cls, frames: Frames) -> "IncrementalEventBuffer":
        """A buffer that already holds these frames' events (e.g. to continue a session)."""
        buf = cls(frames.meta)
        buf._frames = dict(frames.by_kind)
        buf.events = sum(len(df) for df in frames.by_kind.values())
        buf.truncated = frames.truncated
        return buf

    def snapshot(self) -> Frames:
        with self._lock:
            gen, batches = self._generation, self._batches[self._converted:]
            if self._cached and self._cached[0] == gen:
                return self._cached[1]
            start = self._converted
        part = frames_from_batches(batches, self.meta)
        merged = dict(self._frames)
        for kind, df in part.by_kind.items():
            old = merged.get(kind)
            merged[kind] = df if old is None or not len(old) else append_rows(old, df)
        frames = Frames(merged, dict(self.meta), self.truncated)
        with self._lock:
            if self._converted == start:          # one snapshotter at a time in practice
                self._frames, self._converted = merged, start + len(batches)
                self._cached = (gen, frames)
                # converted batches live on in the frames: drop the Arrow copies (they hold
                # every schema column, about 4x the memory of the frames)
                self._batches[start:self._converted] = [None] * len(batches)
        return frames


def append_rows(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """old + new rows with old's column order; categoricals unioned; sorted by ts_ns."""
    cols = {}
    for c in old.columns:
        a, b = old[c], new[c]
        if isinstance(a.dtype, pd.CategoricalDtype) and isinstance(b.dtype, pd.CategoricalDtype):
            cols[c] = pd.Series(_union_categorical(a, b))
        else:
            cols[c] = pd.concat([a, b], ignore_index=True)
            if cols[c].dtype == object and a.dtype != object:
                cols[c] = cols[c].astype(_common(a.dtype, b.dtype))
    out = pd.DataFrame(cols)
    ts = out["ts_ns"]
    if len(old) and len(new) and new["ts_ns"].iloc[0] < old["ts_ns"].iloc[-1] \
            and not ts.is_monotonic_increasing:
        out = out.sort_values("ts_ns", kind="stable", ignore_index=True)
    return out


def _union_categorical(a: pd.Series, b: pd.Series) -> pd.Categorical:
    """a's categories then b's new ones, kept as object like frames builds them (pandas'
    union_categoricals would turn them into its string dtype)."""
    ca, cb = a.cat.categories, b.cat.categories
    known = set(ca)
    cats = pd.Index(list(ca) + [x for x in cb if x not in known], dtype=object)
    remap = cats.get_indexer(cb).astype(np.int32)
    codes_b = b.cat.codes.to_numpy()
    codes_b = np.where(codes_b >= 0, remap[np.clip(codes_b, 0, None)] if len(remap) else -1, -1)
    codes = np.concatenate([a.cat.codes.to_numpy().astype(np.int32), codes_b.astype(np.int32)])
    return pd.Categorical.from_codes(codes, cats)


def _common(a, b):
    """The nullable dtype that holds both (a numpy column without nulls meets its nullable
    twin); pandas already does this for matching kinds, this covers mixed ones."""
    for d in (a, b):
        if isinstance(d, pd.api.extensions.ExtensionDtype):
            return d
    return object
