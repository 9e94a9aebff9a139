"""load_frames reads each batch with only its kind's columns (Recording.iter_batches with
columns_of_kind): the result must equal the plain read, also on truncated, damaged and
mixed-kind files."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from analysis_rows import ev

from tracer import schema
from tracer.errors import RecordingError
from tracer.frames import frames_from_batches, load_frames
from tracer.recording import META_KEY, RecordingWriter, open_recording


def _write(path, batches=6):
    with RecordingWriter(path, {"recorded_kinds": ["free", "resv_lock", "stack"]}) as w:
        for i in range(batches):
            w.append_rows("free", [ev(i * 100 + j, 7, "gpu-worker", duration_ns=j * 10 or None,
                                      context="retire_worker" if j % 2 else None,
                                      size_bytes=4096 << j, obj_addr=0xFFFFFF8012000000 + j)
                                   for j in range(5)])
            w.append_rows("resv_lock", [ev(i * 100 + 50, 9, "app", lock_addr=0xA0 + i,
                                           duration_ns=2000, caller="x+0x1", ret=-35)])
            w.flush()
        w.append_rows("stack", [ev(0, 0, "", stack_id=1, frames="a\nb")])


def _plain(path):
    with open_recording(path) as rec:
        return frames_from_batches(rec.iter_batches(), rec.meta), rec.truncated


def _same(a, b):
    assert set(a.by_kind) == set(b.by_kind)
    for kind in a.by_kind:
        pd.testing.assert_frame_equal(a.by_kind[kind], b.by_kind[kind])


def test_projected_load_equals_plain_read(tmp_path):
    p = tmp_path / "r.gsrec"
    _write(p)
    got = load_frames(p)
    want, _ = _plain(p)
    _same(got, want)
    assert len(got["free"]) == 30 and len(got["resv_lock"]) == 6
    assert got["free"]["duration_ns"].isna().sum() == 6          # nulls survive
    assert list(got["free"].columns) == [c for c in schema.kind_columns("free") if c != "kind"]


def test_projected_load_of_a_truncated_file_keeps_complete_batches(tmp_path):
    p = tmp_path / "r.gsrec"
    _write(p)
    data = p.read_bytes()
    cut = tmp_path / "cut.gsrec"
    cut.write_bytes(data[: len(data) * 2 // 3])
    got = load_frames(cut)
    want, truncated = _plain(cut)
    assert got.truncated and truncated
    _same(got, want)
    assert 0 < len(got["free"]) < 30


@pytest.mark.parametrize("offset", [0.3, 0.45, 0.6, 0.75, 0.9])
def test_damaged_bytes_never_escape_as_a_traceback(tmp_path, offset):
    p = tmp_path / "r.gsrec"
    _write(p)
    data = bytearray(p.read_bytes())
    at = int(len(data) * offset)
    data[at:at + 16] = b"\xff" * 16
    p.write_bytes(bytes(data))
    try:
        f = load_frames(p)
    except RecordingError:
        return
    assert all(len(df.columns) for df in f.by_kind.values())


def test_mixed_kind_batch_from_a_foreign_writer(tmp_path):
    p = tmp_path / "mixed.gsrec"
    sch = schema.arrow_schema({META_KEY: json.dumps({"schema_version": 1}).encode()})
    rows = [dict(ev(1, 7, "w", duration_ns=5), kind="free"),
            dict(ev(2, 8, "a", lock_addr=0xA0, duration_ns=7), kind="resv_lock")]
    cols = {f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in sch}
    with pa.OSFile(str(p), "wb") as sink, pa.ipc.new_stream(sink, sch) as w:
        w.write_batch(pa.RecordBatch.from_pydict(cols, schema=sch))
    f = load_frames(p)
    assert list(f["free"]["duration_ns"]) == [5]
    assert list(f["resv_lock"]["lock_addr"]) == [0xA0]
    _same(f, _plain(p)[0])
    assert np.all(f["free"]["tid"] == 7)
