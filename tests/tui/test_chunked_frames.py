"""The chunked buffer's snapshots and windows equal the full rebuild and the boolean-mask slice.

EventBuffer keeps events as immutable per-kind column chunks and hands out lazy Frames
(tracer/chunked_frames.py); Frames.window slices by binary search. Both must give exactly the
DataFrames the simple definitions give: frames_from_batches of every batch, and
`df[(ts >= t0) & (ts < t1)]`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests.tui.test_incremental import _batches, _split
from tracer import chunked_frames, schema
from tracer.frames import Frames, frames_from_batches, frames_from_rows
from tracer.sources.base import EventBuffer

NOT_WINDOWED = ("stack", "probe_status")


def assert_identical(a: Frames, b: Frames) -> None:
    """Same kinds, and per kind the same columns, dtypes, categories, values and index."""
    assert a.present == b.present
    for kind in sorted(a.present):
        pd.testing.assert_frame_equal(a[kind], b[kind], check_exact=True)
        for c in a[kind].columns:
            if isinstance(a[kind][c].dtype, pd.CategoricalDtype):
                assert list(a[kind][c].cat.categories) == list(b[kind][c].cat.categories)


def mask_window(frames: Frames, t0, t1) -> Frames:
    """The definition: a boolean mask over every kind's ts_ns (side tables kept whole)."""
    out = {}
    for k, df in frames.by_kind.items():
        if k in NOT_WINDOWED:
            out[k] = df
            continue
        m = np.ones(len(df), bool)
        if t0 is not None:
            m &= df["ts_ns"].to_numpy() >= t0
        if t1 is not None:
            m &= df["ts_ns"].to_numpy() < t1
        out[k] = df[m]
    return Frames(out, frames.meta, frames.truncated)


def _shuffled(batches, seed):
    """The batches in a random arrival order (each kind's rows then arrive out of time order)."""
    order = np.random.RandomState(seed).permutation(len(batches))
    return [batches[i] for i in order]


@pytest.fixture(params=[None, 5])
def chunk_rows(request, monkeypatch):
    """Default chunk cap, and a tiny one (many chunks: windows span several, tails merge)."""
    if request.param is not None:
        monkeypatch.setattr(chunked_frames, "CHUNK_ROWS", request.param)
    return request.param


def _filled(batches, meta) -> EventBuffer:
    """A buffer that received these batches in this order."""
    buf = EventBuffer(meta)
    for b in batches:
        buf.append(b)
    return buf


@pytest.mark.parametrize("pieces,seed", [(1, 0), (4, 1), (9, 2)])
def test_snapshots_equal_a_full_rebuild_whatever_the_arrival_order(fixture_path, chunk_rows,
                                                                   pieces, seed):
    batches, meta = _batches(fixture_path)
    batches = _shuffled(_split(batches, pieces), seed)
    buf = EventBuffer(meta)
    for i, b in enumerate(batches):
        buf.append(b)
        if i % 3 == 0:
            assert_identical(buf.snapshot(), frames_from_batches(batches[:i + 1], meta))
    snap = buf.snapshot()
    assert_identical(snap, frames_from_batches(batches, meta))
    assert snap is buf.snapshot()
    assert buf.events == sum(b.num_rows for b in batches)


def test_an_old_snapshot_keeps_its_events_after_late_rows_arrive(fixture_path, chunk_rows):
    batches, meta = _batches(fixture_path)
    batches = _split(batches, 6)
    late, early = batches[len(batches) // 2:], batches[:len(batches) // 2]
    buf = _filled(late, meta)
    first = buf.snapshot()                     # nothing built yet: its frames are lazy
    for b in early:                            # rows from before every row already held
        buf.append(b)
    second = buf.snapshot()
    assert_identical(first, frames_from_batches(late, meta))
    assert_identical(second, frames_from_batches(late + early, meta))


def test_equal_times_keep_arrival_order():
    def free(ts, obj):
        return dict(ts_ns=ts, cpu=0, pid=1, tid=1, comm="w", obj_addr=obj, duration_ns=5)
    one = frames_from_rows({"free": [free(10, 0xA), free(30, 0xB)]})
    two = frames_from_rows({"free": [free(10, 0xC), free(20, 0xD), free(10, 0xE)]})
    buf = EventBuffer()
    for f in (one, two):
        for kind in f.present:
            buf.append(_batch(kind, f[kind]))
        buf.snapshot()
    got = buf.snapshot()["free"]
    assert got["obj_addr"].tolist() == [0xA, 0xC, 0xE, 0xD, 0xB]
    assert got["ts_ns"].tolist() == [10, 10, 10, 20, 30]
    assert got.index.tolist() == [0, 1, 2, 3, 4]


def _batch(kind: str, df: pd.DataFrame) -> pa.RecordBatch:
    """A DataFrame of one kind back to an Arrow batch of the recording schema."""
    sch = schema.arrow_schema()
    cols = {}
    for f in sch:
        if f.name == "kind":
            cols[f.name] = pa.array([kind] * len(df))
        elif f.name in df:
            vals = df[f.name].astype(object).where(df[f.name].notna(), None).tolist()
            cols[f.name] = pa.array(vals, type=f.type)
        else:
            cols[f.name] = pa.nulls(len(df), f.type)
    return pa.RecordBatch.from_pydict(cols, schema=sch)


def _cuts(frames: Frames) -> list:
    lo, hi = frames.time_range_ns
    ts = np.unique(np.concatenate([frames[k]["ts_ns"].to_numpy() for k in frames.present
                                   if k not in NOT_WINDOWED]))
    mid = int(ts[len(ts) // 2])
    return [(None, None), (None, mid), (mid, None), (mid, mid), (mid, mid + 1),
            (lo, hi + 1), (lo - 10, lo), (hi + 1, hi + 10), (int(ts[3]), int(ts[-4])),
            (lo + (hi - lo) // 3, lo + 2 * (hi - lo) // 3), (hi - 300_000_000, None)]


def test_windows_of_a_snapshot_equal_the_mask_slice(fixture_path, chunk_rows):
    batches, meta = _batches(fixture_path)
    batches = _shuffled(_split(batches, 5), 7)
    buf = _filled(batches, meta)
    snap = buf.snapshot()
    full = frames_from_batches(batches, meta)
    for t0, t1 in _cuts(full):
        want = mask_window(full, t0, t1)
        win = snap.window(t0, t1)
        assert_identical(win, want)
        assert {k: win.count(k) for k in win.by_kind} == \
            {k: len(df) for k, df in want.by_kind.items()}
        assert win.time_range_ns == want.time_range_ns
        assert_identical(win.window(t0, t1), want)          # a window of a window


def test_plain_frames_window_by_binary_search_equals_the_mask(fixture_frames):
    for t0, t1 in _cuts(fixture_frames):
        win = fixture_frames.window(t0, t1)
        assert_identical(win, mask_window(fixture_frames, t0, t1))
        big = win["resv_lock"]
        if len(big):           # a row slice of the loaded frame, not a copy
            assert np.shares_memory(big["ts_ns"].to_numpy(),
                                    fixture_frames["resv_lock"]["ts_ns"].to_numpy())


def test_unsorted_plain_frames_still_window_by_time(fixture_frames):
    df = fixture_frames["free"].iloc[::-1]
    frames = Frames({"free": df})
    t = int(df["ts_ns"].iloc[len(df) // 2])
    got = frames.window(t, None)["free"]
    assert got.index.tolist() == df.index[df["ts_ns"].to_numpy() >= t].tolist()


def test_counts_and_span_of_a_snapshot_build_no_frame(fixture_path, fixture_frames):
    batches, meta = _batches(fixture_path)
    buf = _filled(batches, meta)
    snap = buf.snapshot()
    assert snap.time_range_ns == fixture_frames.time_range_ns
    assert {k: snap.count(k) for k in snap.by_kind} == \
        {k: len(df) for k, df in fixture_frames.by_kind.items()}
    assert snap.present == fixture_frames.present
    assert snap.by_kind._frames == {}                       # nothing was built to answer


def test_holding_frames_then_appending_equals_a_full_rebuild(fixture_path, chunk_rows):
    batches, meta = _batches(fixture_path)
    batches = _split(batches, 4)
    head, tail = batches[::2], batches[1::2]
    buf = EventBuffer.holding(frames_from_batches(head, meta))
    assert_identical(buf.snapshot(), frames_from_batches(head, meta))
    for b in tail:
        buf.append(b)
    assert_identical(buf.snapshot(), frames_from_batches(head + tail, meta))


def test_a_column_of_a_snapshot_equals_the_frames_column_and_builds_no_frame(fixture_path,
                                                                             chunk_rows):
    batches, meta = _batches(fixture_path)
    batches = _shuffled(_split(batches, 3), 5)
    buf = _filled(batches, meta)
    full = frames_from_batches(batches, meta)
    snap = buf.snapshot()
    t = int(full["resv_lock"]["ts_ns"].iloc[len(full["resv_lock"]) // 2])
    for lazy, plain in ((snap, full), (snap.window(t, None), mask_window(full, t, None))):
        for kind in plain.present:
            for col in plain[kind].columns:
                pd.testing.assert_series_equal(lazy.column(kind, col), plain[kind][col],
                                               check_exact=True)
            assert lazy.column(kind, "no_such_column") is None
        assert lazy.by_kind._frames == {}


def test_worst_event_on_a_snapshot_reads_columns_only(fixture_path, fixture_frames):
    from tui.worst import WORST_BY_VIEW, worst_event
    batches, meta = _batches(fixture_path)
    buf = _filled(batches, meta)
    snap = buf.snapshot()
    for view in (*WORST_BY_VIEW, "events"):
        assert worst_event(snap, view) == worst_event(fixture_frames, view)
    assert worst_event(snap, "contention").value == 9_000_000
    assert snap.by_kind._frames == {}
