"""The snapshot computer off the UI thread: windows of a buffer's lazy snapshot, the cache, and
giving up a request the person has left (the work done so far stays cached)."""
from __future__ import annotations

import pandas as pd
import pytest

from tests.tui.test_incremental import _batches
from tracer.analyses import ALL, run_all
from tracer.sources.base import EventBuffer
from tui.snapshot import Request, SnapshotComputer, Superseded

S = 1_000_000_000


class BufferSource:
    """The smallest Source: a filled EventBuffer."""

    def __init__(self, path):
        batches, meta = _batches(path)
        self.buffer = EventBuffer(meta)
        for b in batches:
            self.buffer.append(b)
        self.meta = meta

    def snapshot(self):
        return self.buffer.snapshot()


def test_a_window_of_the_buffer_gives_the_analyses_of_that_window(fixture_path, fixture_frames):
    comp = SnapshotComputer(BufferSource(fixture_path))
    lo, hi = fixture_frames.time_range_ns
    snap = comp.compute(Request((S // 2, None), ("*",)))
    assert snap.window == (hi + 1 - S // 2, None)
    want = run_all(fixture_frames.window(hi + 1 - S // 2, None))
    assert {n: r.headline for n, r in snap.results.items()} == \
        {n: r.headline for n, r in want.items()}
    n = sum(len(df) for k, df in fixture_frames.window(hi + 1 - S // 2, None).by_kind.items()
            if k not in ("stack", "probe_status"))
    assert snap.health.events == n
    assert snap.health.events_loaded == sum(len(df) for k, df in fixture_frames.by_kind.items()
                                            if k not in ("stack", "probe_status"))
    assert comp.compute(Request((S // 2, None), ("*",))) is None     # nothing changed


def test_a_superseded_request_stops_between_analyses_and_keeps_what_it_computed(
        fixture_path, fixture_frames):
    comp = SnapshotComputer(BufferSource(fixture_path))
    req = Request((None, None), ("contention", "trylock", "finalizers"))
    asked = []

    def wanted(r):
        asked.append(r)
        return len(asked) < 3             # the person moves on before the third analysis

    with pytest.raises(Superseded):
        comp.compute(req, wanted=wanted)
    assert asked == [req, req, req]
    assert comp.last is None
    cached = sorted(k[2] for k in comp._cache if k[0] == "result")
    assert cached == ["contention", "trylock"]
    snap = comp.compute(req, wanted=lambda r: True)
    want = run_all(fixture_frames)
    assert {n: r.headline for n, r in snap.results.items()} == \
        {n: want[n].headline for n in ("contention", "trylock", "finalizers")}


def _same(got, want):
    assert (got.headline, got.notes, list(got.tables)) == (want.headline, want.notes,
                                                          list(want.tables))
    for name in want.tables:
        pd.testing.assert_frame_equal(got.tables[name], want.tables[name], check_exact=True)


@pytest.mark.parametrize("loading", [False, True])
def test_windows_after_the_whole_trace_reuse_its_joins_and_give_the_same_results(
        fixture_path, fixture_frames, loading):
    """The lazy snapshot of a buffer: the whole trace first (its joins kept), then windows that
    cut them (tracer/analyses/reuse.py): every result equals the analysis of the window alone."""
    comp = SnapshotComputer(BufferSource(fixture_path))
    comp.compute(Request((None, None), ("*",)), loading=loading)
    assert comp._whole.known("contention.pairs") and comp._whole.known("retire.joins")
    lo, hi = fixture_frames.time_range_ns
    for window in ((S // 2, None), (S, lo + S), (S // 10, lo + S + 7), (3 * S // 2, None)):
        snap = comp.compute(Request(window, ("*",)), loading=loading)
        want = {a.name: a(snap.frames) for a in ALL}
        assert set(snap.results) == set(want)
        for name, result in want.items():
            _same(snap.results[name], result)


def test_while_loading_a_big_window_does_not_join_the_whole_data_first(fixture_path):
    comp = SnapshotComputer(BufferSource(fixture_path))
    comp.compute(Request((3 * S // 2, None), ("contention",)), loading=True)
    assert not comp._whole.known("contention.pairs")
    comp.compute(Request((3 * S // 2, None), ("retire",)), loading=False)
    assert comp._whole.known("retire.joins")
