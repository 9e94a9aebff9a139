"""The Events view's index built cheaply equals the plain one: same rows, same order, same text.

EventIndex reads only each kind's ts column and, given the index of an earlier snapshot, keeps
its order for the rows that hold the same events and merges only the others in
(tracer/event_index.py). The reference here is the plain definition it replaced: a stable sort
of every kind's ts concatenated in kind order, filters as one mask per kind over the whole
DataFrames, a row's text from its DataFrame row. Inputs: the fixture recording's batches
re-stamped with seeded random times (many ties, late events, null fields), appended to a buffer
piece by piece, under whole, moving, fixed and backward windows; and unsorted frames.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tests.tui.test_incremental import _batches, _split
from tracer import chunked_frames, event_index
from tracer.event_index import EventFilter, EventIndex, kind_mask, parse_filter
from tracer.frames import Frames, frames_from_rows
from tracer.sources.base import EventBuffer


def reference(frames: Frames):
    """(ts, code, order) of every event: the stable sort of the concatenated ts columns."""
    kinds = tuple(k for k in event_index._ORDERED_KINDS if frames.has(k))
    lens = [len(frames[k]) for k in kinds]
    if not kinds:
        return kinds, np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int64)
    ts = np.concatenate([frames[k]["ts_ns"].to_numpy(dtype=np.int64) for k in kinds])
    code = np.concatenate([np.full(n, i, np.int16) for i, n in enumerate(lens)])
    order = np.argsort(ts, kind="stable")
    return kinds, ts[order], code[order], order


def reference_filter(frames: Frames, order: np.ndarray, kinds, flt: EventFilter) -> np.ndarray:
    if flt.empty:
        return np.arange(len(order), dtype=np.int64)
    masks = [kind_mask(frames[k], k, flt) for k in kinds]
    return np.flatnonzero(np.concatenate(masks)[order]) if masks else np.zeros(0, np.int64)


def reference_line(frames: Frames, kind: str, row: int, t0_ns: int) -> str:
    return event_index._line(kind, frames[kind].iloc[row], t0_ns)


FILTERS = ["", "kind:free", "kind:resv_lock,gpu_retired", "task:supertux", "task:201",
           "obj:0x10", "kind:free task:kworker"]


def assert_same_index(idx: EventIndex, frames: Frames, seed: int) -> None:
    kinds, ts, code, order = reference(frames)
    assert idx.kinds == kinds
    np.testing.assert_array_equal(idx.ts, ts)
    np.testing.assert_array_equal(idx.code, code)
    np.testing.assert_array_equal(idx.order, order)
    assert idx.ts.dtype == np.int64
    objs = [hex(int(a)) for k in kinds if "obj_addr" in frames[k]
            for a in frames[k]["obj_addr"].dropna().unique()[:2]]
    for text in FILTERS + [f"obj:{a}" for a in objs[:3]]:
        flt = parse_filter(text)
        np.testing.assert_array_equal(idx.filter(flt), reference_filter(frames, order, kinds, flt))
    if len(idx):
        rng = np.random.default_rng(seed)
        start = int(rng.integers(0, len(idx)))
        block = list(range(start, min(len(idx), start + 40))) + \
            [int(p) for p in rng.integers(0, len(idx), 10)]
        t0 = int(ts[0]) - 7
        want = [reference_line(frames, *idx.locate(p), t0) for p in block]
        assert idx.describe_many(block, t0) == want
        assert idx.describe(block[0], t0) == want[0]
        for p in block[:5]:
            assert idx.position_of(*idx.locate(p)) == p


def restamped(batches, seed: int, spread: int, late: float):
    """The batches with seeded random times: each batch's rows sorted times from a moving
    clock, coarse (ties across kinds and batches), some batches late (earlier times)."""
    rng = np.random.default_rng(seed)
    out, clock = [], 1_000_000
    for b in batches:
        clock += int(rng.integers(0, spread))
        lo = clock - int(rng.integers(0, 20 * spread)) if rng.random() < late else clock
        ts = np.sort(lo + 1000 * rng.integers(0, max(1, spread // 1000), b.num_rows))
        i = b.schema.names.index("ts_ns")
        out.append(b.set_column(i, b.schema.field(i), pa.array(ts, pa.int64())))
    return out


def windows_over(span, rng):
    """Whole, last-N (moving with the end), fixed, and one ending before the start."""
    lo, hi = span
    w = max(1, (hi - lo) // 3)
    yield None, None
    yield hi + 1 - w, None
    a = int(rng.integers(lo, hi + 1))
    yield a, a + w
    yield None, lo + w // 2
    yield a - w, a


@pytest.fixture(params=[None, 7])
def chunk_rows(request, monkeypatch):
    """Default chunk cap, and a tiny one (late events rewrite many tail chunks)."""
    if request.param is not None:
        monkeypatch.setattr(chunked_frames, "CHUNK_ROWS", request.param)
    return request.param


@pytest.mark.parametrize("seed", range(6))
def test_extended_index_equals_a_full_one(fixture_path, chunk_rows, seed):
    batches, meta = _batches(fixture_path)
    rng = np.random.default_rng(100 + seed)
    pieces = _split(batches, 3)
    pieces = [pieces[i] for i in rng.permutation(len(pieces))]
    pieces = restamped(pieces, seed, spread=[1000, 5000, 40_000][seed % 3],
                       late=[0.0, 0.2, 0.5][seed % 3])
    buf, last = EventBuffer(meta), None
    for i, b in enumerate(pieces):
        buf.append(b)
        if i % 4 != 3 and i != len(pieces) - 1:
            continue
        snap = buf.snapshot()
        span = snap.time_range_ns
        for window in ([(None, None)] if seed % 2 else list(windows_over(span, rng))):
            win = snap.window(*window)
            idx = EventIndex(win, previous=last)
            assert_same_index(idx, win, seed * 1000 + i)
            last = idx


def test_extension_keeps_the_previous_order_and_merges_late_rows(fixture_path):
    """A late event of the same time and kind as kept ones goes after them; an appended one
    goes at the end; the rows before the late one are not sorted again."""
    batches, meta = _batches(fixture_path)
    pieces = restamped(_split(batches, 2), 3, spread=2000, late=0.0)
    buf = EventBuffer(meta)
    for b in pieces[:-4]:
        buf.append(b)
    first = EventIndex(buf.snapshot())
    mid = int(first.ts[len(first) // 2])            # a time some kept events have
    for b in pieces[:6]:                            # the same kinds again, at that time
        i = b.schema.names.index("ts_ns")
        buf.append(b.set_column(i, b.schema.field(i), pa.array(np.full(b.num_rows, mid))))
    for b in pieces[-4:]:
        buf.append(b)
    snap = buf.snapshot()
    start, count = event_index.kept_rows(first, EventIndex(snap))
    assert not start.any() and (count < [len(t) for t in first.kind_ts]).any()
    idx = EventIndex(snap, previous=first)
    assert_same_index(idx, snap, 3)
    assert (idx.ts == mid).sum() > (first.ts == mid).sum() > 0


def frames_of(seed: int, n: int) -> Frames:
    """Seeded rows in no time order, few distinct times (ties), null fields now and then."""
    rng = np.random.default_rng(seed)
    maybe = lambda v: None if rng.random() < 0.2 else v         # noqa: E731
    who = [(10, "supertuxkart"), (201, "kworker/1:2"), (7, "gpu-worker")]
    rows = {k: [] for k in ("resv_lock", "free", "gpu_retired", "fence_signal", "last_put")}
    for _ in range(n):
        kind = list(rows)[int(rng.integers(0, len(rows)))]
        tid, comm = who[int(rng.integers(0, 3))]
        rows[kind].append(dict(ts_ns=int(rng.integers(0, 30)) * 100, cpu=int(rng.integers(0, 4)),
                               pid=tid, tid=tid, comm=comm,
                               obj_addr=maybe(0x10 * int(rng.integers(1, 4))),
                               lock_addr=maybe(0x1000 + int(rng.integers(0, 3))),
                               duration_ns=maybe(int(rng.integers(0, 500)))))
    frames = frames_from_rows(rows)
    shuffled = {k: df.sample(frac=1, random_state=seed).reset_index(drop=True)
                for k, df in frames.by_kind.items()}
    return Frames(shuffled, frames.meta)


@pytest.mark.parametrize("seed", range(8))
def test_unsorted_frames_and_their_extension(seed):
    """Frames whose kinds are not in time order (rows as a person wrote them): the plain sort,
    also when an index of other frames is handed as the previous one."""
    frames = frames_of(seed, n=120)
    assert not all(event_index._is_sorted(frames[k]["ts_ns"].to_numpy()) for k in frames.present)
    assert_same_index(EventIndex(frames), frames, seed)
    other = frames_of(seed + 50, n=60)
    assert_same_index(EventIndex(frames, previous=EventIndex(other)), frames, seed)


def test_times_too_far_apart_for_one_key_fall_back_to_the_full_merge(fixture_path):
    batches, meta = _batches(fixture_path)
    pieces = _split(batches, 2)
    buf = EventBuffer(meta)
    for b in restamped(pieces[:-2], 1, spread=1000, late=0.0):
        buf.append(b)
    first = EventIndex(buf.snapshot())
    for b in pieces[-2:]:
        i = b.schema.names.index("ts_ns")
        far = np.full(b.num_rows, 2 ** 62, np.int64)
        far[: b.num_rows // 2] = 0                     # late: before everything kept
        buf.append(b.set_column(i, b.schema.field(i), pa.array(far, pa.int64())))
    snap = buf.snapshot()
    assert_same_index(EventIndex(snap, previous=first), snap, 1)


def test_empty_frames():
    frames = Frames({})
    idx = EventIndex(frames, previous=EventIndex(frames_of(1, n=20)))
    assert len(idx) == 0 and idx.kinds == ()
    assert len(idx.filter(parse_filter("task:x"))) == 0
