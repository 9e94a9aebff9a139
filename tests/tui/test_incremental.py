"""IncrementalEventBuffer builds the same Frames as a full rebuild, whatever the batch split."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracer.frames import frames_from_batches
from tracer.recording import open_recording
from tracer.sources.incremental import IncrementalEventBuffer


def _batches(path):
    with open_recording(path) as rec:
        return list(rec.iter_batches()), rec.meta


def _split(batches, pieces):
    """Cut every batch into `pieces` slices (so nulls, sort order and categories vary)."""
    out = []
    for b in batches:
        edges = np.linspace(0, b.num_rows, pieces + 1).astype(int)
        out += [b.slice(a, z - a) for a, z in zip(edges[:-1], edges[1:]) if z > a]
    return out


def assert_same_frames(a, b):
    assert set(a.present) == set(b.present)
    for kind in a.present:
        pd.testing.assert_frame_equal(a[kind], b[kind], check_categorical=False)
        for c in a[kind].columns:
            assert a[kind][c].dtype == b[kind][c].dtype or (
                isinstance(a[kind][c].dtype, pd.CategoricalDtype)), (kind, c)


@pytest.mark.parametrize("pieces,snap_every", [(1, 1), (3, 2), (7, 5)])
def test_incremental_snapshots_equal_a_full_rebuild(fixture_path, pieces, snap_every):
    batches, meta = _batches(fixture_path)
    batches = _split(batches, pieces)
    buf = IncrementalEventBuffer(meta)
    for i, b in enumerate(batches):
        buf.append(b)
        if i % snap_every == 0:
            assert_same_frames(buf.snapshot(), frames_from_batches(batches[:i + 1], meta))
    full = frames_from_batches(batches, meta)
    assert_same_frames(buf.snapshot(), full)
    assert buf.snapshot() is buf.snapshot()


def test_late_rows_are_sorted_in(fixture_path):
    batches, meta = _batches(fixture_path)
    frees = [b for b in batches if b.num_rows and
             b.column(b.schema.get_field_index("kind"))[0].as_py() == "free"]
    [free] = frees
    late, early = free.slice(6, 6), free.slice(0, 6)      # the later half arrives first
    buf = IncrementalEventBuffer(meta)
    buf.append(late)
    first = buf.snapshot()
    assert len(first["free"]) == 6
    buf.append(early)
    snap = buf.snapshot()
    assert snap["free"]["ts_ns"].is_monotonic_increasing
    assert_same_frames(snap, frames_from_batches([late, early], meta))
