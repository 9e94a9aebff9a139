"""Raw BPF records stored by the headless recorder decode, when read, to exactly the events the live
decoder gives (tracer/raw_records.py), through every reader path; damaged raw rows are refused
as damaged batches, keeping what came before."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from probes import events as ev
from tracer import raw_records, schema
from tracer.errors import RecordingError
from tracer.frames import frames_from_batches, load_frames
from tracer.live.decode import Decoder
from tracer.recording import RecordingWriter, open_recording

FRAMES = {3: ["ww_mutex_trylock+0x0", "drm_gem_lru_scan+0x9c", "msm_gem_shrinker_scan+0x40"],
          7: ["ww_mutex_lock+0x5", "msm_ioctl_gem_submit+0x120"]}
SYMBOLS = {0xffff0010: "msm_gem_shrinker_scan", 0xffff0020: "super_cache_scan",
           0xffff0a4a: "msm_submit_retire+0x4a"}


def _drains() -> list[bytes]:
    """Three drains of a mix of kinds, stack ids, shrinker addresses and last puts' return
    addresses (some first seen late)."""
    t = ev.TYPE_OF
    d1 = ev.pack(3, ts_ns=[100, 110, 120], type=t["resv_lock"], tid=[5, 5, 6],
                 comm=[b"gs-submit", b"gs-submit", b"kswapd0"], a0=0x1000, duration_ns=[10, 20, 30],
                 stack_id=[7, -1, 7], bits=[ev.B_IS_RESV, ev.B_IS_RESV | ev.B_INTERRUPTIBLE, 0])
    d1 += ev.pack(2, ts_ns=[130, 140], type=t["shrink_slab"], a0=[0xffff0010, 0xffff0010],
                  a1=128, a2=512, ret=[64, 0], duration_ns=[1000, 2000])
    d2 = ev.pack(2, ts_ns=[200, 210], type=t["resv_trylock"], tid=9, comm=b"kswapd0",
                 a0=0x2000, a2=[0x1f00, 0], a3=[4096, 0], stack_id=3,
                 bits=[ev.B_IN_SHRINKER | (1 << ev.STAGE_SHIFT) | ev.B_SUCCESS,
                       ev.B_IN_SHRINKER | (2 << ev.STAGE_SHIFT)])
    d2 += ev.pack(1, ts_ns=220, type=t["free"], a0=0x1f00, a1=4096, duration_ns=500,
                  bits=ev.B_IN_RETIRE | ev.B_HAVE_SIZE, stack_id=7)
    d2 += ev.pack(1, ts_ns=230, type=99)   # a record type this version does not know: skipped
    d3 = ev.pack(1, ts_ns=300, type=t["shrink_slab"], a0=0xffff0020, a1=10, ret=3)
    d3 += ev.pack(1, ts_ns=310, type=t["retire_run"], a0=0xFFFFFFFFFFFFFFFF, a1=4,
                  duration_ns=900)
    # last puts: the caller's return address (a4), or none taken and the whole stack walked
    d3 += ev.pack(2, ts_ns=[320, 330], type=t["last_put"], a0=0x1f00, a4=[0xffff0a4a, 0],
                  stack_id=[-1, 7])
    return [d1, d2, d3]


def _decoder(offset: int = 2_000_000) -> Decoder:
    return Decoder(FRAMES.get, SYMBOLS.get, offset)


def _write_decoded(path, drains):
    d = _decoder()
    with RecordingWriter(path, {"source": "test"}) as w:
        for raw in drains:
            for kind, cols in d.decode(raw).items():
                w.append(kind, cols)


def _recorder(path, offset=2_000_000):
    """A headless BccSource that is not started (no BPF): its writer and decoder set by hand,
    so that its own _store_raw writes the drains."""
    from tracer.sources.bcc_source import BccSource
    src = BccSource(keep_events=False)
    src._writer = RecordingWriter(path, {"source": "test"})
    src._decoder = _decoder(offset)
    return src


def _write_raw(path, drains, offset=2_000_000):
    """Each drain through BccSource._store_raw, the headless recorder's own code."""
    src = _recorder(path, offset)
    for raw in drains:
        src._store_raw(raw)
    src._writer.close()
    return {k: n for k, n in src.counts.items() if k != "stack"}


def _py(series) -> list:
    """Column values with every null as None (categoricals give nan, nullable ints pd.NA)."""
    return [None if pd.isna(x) else x for x in series.tolist()]


def _assert_same_frames(a, b):
    assert sorted(a.by_kind) == sorted(b.by_kind)
    for kind in a.by_kind:
        pd.testing.assert_frame_equal(a[kind], b[kind], check_categorical=False)


def test_raw_recording_loads_to_the_same_events_as_a_decoded_one(tmp_path):
    drains = _drains()
    _write_decoded(tmp_path / "dec.gsrec", drains)
    counts = _write_raw(tmp_path / "raw.gsrec", drains)
    dec, raw = load_frames(tmp_path / "dec.gsrec"), load_frames(tmp_path / "raw.gsrec")
    _assert_same_frames(dec, raw)
    assert counts == {"resv_lock": 3, "shrink_slab": 3, "resv_trylock": 2, "free": 1,
                      "retire_run": 1, "last_put": 2}
    # exact values through the raw path
    lock = raw["resv_lock"]
    assert _py(lock["caller"]) == ["msm_ioctl_gem_submit+0x120", None,
                                       "msm_ioctl_gem_submit+0x120"]
    assert _py(lock["stack_id"]) == [2_000_007, None, 2_000_007]
    assert lock["api"].tolist() == ["ww_mutex_lock", "ww_mutex_lock_interruptible",
                                    "ww_mutex_lock"]
    assert lock["in_reclaim"].tolist() == [False, False, True]
    assert raw["shrink_slab"]["shrinker"].tolist() == ["msm_gem_shrinker_scan"] * 2 + \
        ["super_cache_scan"]
    tl = raw["resv_trylock"]
    assert tl["stage"].tolist() == ["purge", "evict"]
    assert tl["success"].tolist() == [True, False]
    assert tl["caller"].tolist() == ["drm_gem_lru_scan+0x9c"] * 2
    assert raw["free"]["context"].tolist() == ["retire_worker"]
    assert _py(raw["retire_run"]["queue_delay_ns"]) == [None]
    assert sorted(raw["stack"]["stack_id"].tolist()) == [2_000_003, 2_000_007]
    assert _py(raw["last_put"]["caller"]) == ["msm_submit_retire+0x4a",
                                              "msm_ioctl_gem_submit+0x120"]
    assert _py(raw["last_put"]["stack_id"]) == [None, 2_000_007]


def test_every_reader_path_expands_raw_rows(tmp_path):
    drains = _drains()
    _write_decoded(tmp_path / "dec.gsrec", drains)
    _write_raw(tmp_path / "raw.gsrec", drains)
    # the full-schema path (no projection): batches keep the file's union schema
    full = open_recording(tmp_path / "raw.gsrec").read_table()
    assert schema.RAW_KIND not in full.column("kind").to_pylist()
    _assert_same_frames(frames_from_batches(full.to_batches()),
                        load_frames(tmp_path / "dec.gsrec"))
    s_raw = open_recording(tmp_path / "raw.gsrec").summary()
    s_dec = open_recording(tmp_path / "dec.gsrec").summary()
    assert s_raw.by_kind == s_dec.by_kind
    assert (s_raw.events, s_raw.first_ts_ns, s_raw.last_ts_ns) == (12 + 2, 100, 330)   # 12 events, 2 stacks


def test_raw_rows_of_a_killed_recorder_replay(tmp_path):
    """No end-of-stream marker (SIGKILL): every flushed raw row still decodes."""
    drains = _drains()
    path = tmp_path / "raw.gsrec"
    src = _recorder(path)
    for raw in drains[:2]:
        src._store_raw(raw)
    src._writer.flush()   # the recorder dies here, before close
    rec = open_recording(path)
    assert not rec.closed_cleanly
    f = load_frames(path)
    assert f.count("resv_lock") == 3 and f.count("resv_trylock") == 2 and f.count("free") == 1


@pytest.mark.parametrize("context, records, why", [
    ("not json", None, "not JSON"),
    (json.dumps([1]), None, "not a JSON object"),
    (json.dumps({"record_size": 100, "stack_offset": 0}), None, "100 bytes"),
    (json.dumps({"record_size": ev.EVENT_SIZE, "stack_offset": -1}), None, "bad fields"),
    (json.dumps({"record_size": ev.EVENT_SIZE, "stack_offset": 0, "symbols": {"x": "y"}}),
     None, "bad symbol"),
    (None, b"\0" * (ev.EVENT_SIZE + 1), "not whole records"),
])
def test_damaged_raw_rows_are_refused_and_earlier_events_kept(tmp_path, context, records, why):
    path = tmp_path / "bad.gsrec"
    good = ev.pack(1, ts_ns=5, type=ev.TYPE_OF["free"], a0=1, duration_ns=3)
    with RecordingWriter(path, {"source": "test"}) as w:
        w.append_raw(5, good, raw_records.context_json(ev.EVENT_SIZE, 0, {}))
        w.flush()
        w.append_raw(6, records or ev.pack(1, ts_ns=6, type=ev.TYPE_OF["free"]),
                     context or raw_records.context_json(ev.EVENT_SIZE, 0, {}))
    for projected in (True, False):   # load_frames reads projected; read_table does not
        rec = open_recording(path)
        f = load_frames(rec) if projected else frames_from_batches(rec.iter_batches(), rec.meta)
        assert rec.truncated and why in rec.truncation_error
        assert rec.truncation_error.startswith("damaged batch: ")
        assert f.count("free") == 1                   # the good row before it stays


def test_context_checks_directly():
    assert raw_records._context(raw_records.context_json(152, 7, {1: "a"})) == (152, 7, {1: "a"})
    with pytest.raises(RecordingError):
        raw_records._context(json.dumps({"record_size": 152, "stack_offset": 0,
                                         "symbols": {"1": 5}}))
    with pytest.raises(RecordingError):
        raw_records._context("x" * (raw_records.MAX_CONTEXT_BYTES + 1))


def test_index_counts_and_first_seen_only():
    d = _decoder(0)
    raw = _drains()
    stacks, symbols, counts = d.index(raw[0])
    assert stacks["stack_id"].tolist() == [7] and symbols == {0xffff0010: "msm_gem_shrinker_scan"}
    assert counts == {"resv_lock": 3, "shrink_slab": 2}
    stacks, symbols, counts = d.index(raw[1])
    assert stacks["stack_id"].tolist() == [3] and symbols == {}   # 7 already seen
    stacks, symbols, _ = d.index(raw[2])
    assert stacks is None and symbols == {0xffff0020: "super_cache_scan",
                                          0xffff0a4a: "msm_submit_retire+0x4a"}
    assert np.array_equal(np.sort(np.array(list(d._stacks))), [3, 7])


def test_random_records_decode_or_are_refused_never_crash(tmp_path):
    """Hostile raw rows: random bytes in every slot, types of every kind. Reading gives events or
    a damaged-batch truncation, nothing else."""
    rng = np.random.default_rng(7)
    for i in range(40):
        n = int(rng.integers(1, 60))
        raw = bytearray(rng.integers(0, 256, n * ev.EVENT_SIZE, dtype=np.uint8).tobytes())
        arr = np.frombuffer(raw, ev.EVENT_DTYPE)
        arr["type"] = rng.integers(0, 20, n)
        small = i % 2 == 0   # every number in range of its field: these must all decode
        if small:
            for name in ("ts_ns", "cpu", "pid", "tid", "a0", "a1", "a2", "a3", "a4", "a5",
                         "duration_ns", "ret", "holder_tid", "aux"):
                arr[name] %= 1 << 15
        path = tmp_path / f"r{i}.gsrec"
        with RecordingWriter(path, {"source": "test"}) as w:
            w.append_raw(0, bytes(raw), raw_records.context_json(
                ev.EVENT_SIZE, 0, {int(rng.integers(0, 1 << 63)): "x"}))
        rec = open_recording(path)
        f = load_frames(rec)
        known = int(np.isin(arr["type"], list(ev.TYPES)).sum())
        decoded = sum(f.count(k) for k in f.by_kind)
        assert decoded == known or (not small and rec.truncated and decoded == 0)
        # `gemscope info`'s summary reads only a few columns, yet refuses what a full read
        # refuses (every decoded column is converted): the same counts and the same verdict
        summary_rec = open_recording(path)
        s = summary_rec.summary()
        assert {k: n for k, n in s.by_kind.items() if n} == \
            {k: f.count(k) for k in f.by_kind if f.count(k)}
        assert summary_rec.truncated == rec.truncated


def test_redacted_copy_of_a_raw_recording_holds_no_raw_bytes(tmp_path):
    """A bug-report bundle with --redact-comm: the raw rows come out decoded and redacted, so no
    task name survives inside record bytes."""
    from tracer.bundle.redact import Redactor, redact_recording
    _write_raw(tmp_path / "raw.gsrec", _drains())
    redact_recording(str(tmp_path / "raw.gsrec"), str(tmp_path / "red.gsrec"),
                     Redactor(tasks=True, paths=False))
    assert b"gs-submit" not in (tmp_path / "red.gsrec").read_bytes()
    table = open_recording(tmp_path / "red.gsrec").read_table()
    assert schema.RAW_KIND not in table.column("kind").to_pylist()
    f = load_frames(tmp_path / "red.gsrec")
    assert f.count("resv_lock") == 3
    assert set(f["resv_lock"]["comm"].astype(str)) == {"task-001", "task-002"}
