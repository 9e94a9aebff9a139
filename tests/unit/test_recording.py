"""Recordings: round trip, truncation, foreign and garbage files, SIGKILL mid-write."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pytest

from tracer.errors import RecordingError
from tracer.frames import load_frames
from tracer.recording import RecordingWriter, open_recording


def _free_cols(n, t0=0):
    return dict(ts_ns=np.arange(n, dtype=np.int64) + t0, cpu=np.zeros(n, np.int16),
                pid=np.full(n, 7, np.int32), tid=np.full(n, 8, np.int32), comm=["gpu-worker"] * n,
                obj_addr=np.arange(n, dtype=np.uint64) + 0x1000,
                size_bytes=np.full(n, 4096, np.uint64), duration_ns=np.full(n, 250, np.int64),
                context=["retire_worker"] * n)


def test_round_trip_keeps_values_and_nulls(tmp_path):
    p = tmp_path / "r.gsrec"
    with RecordingWriter(p, {"source": "test"}) as w:
        w.append("free", _free_cols(3))
        w.append_rows("lost", [dict(ts_ns=9, cpu=1, pid=0, tid=0, comm="", lost_count=5)])
    f = load_frames(p)
    free = f["free"]
    assert list(free["obj_addr"]) == [0x1000, 0x1001, 0x1002]
    assert list(free["duration_ns"]) == [250, 250, 250]
    assert free["lru_addr"].isna().all()          # not measured: null, not zero
    assert list(free["context"]) == ["retire_worker"] * 3
    assert int(f["lost"]["lost_count"].sum()) == 5
    assert f.meta["source"] == "test" and f.meta["schema_version"] == 1
    with open_recording(p) as rec:
        s = rec.summary()
        assert (s.events, s.lost_events, dict(s.by_kind)) == (4, 5, {"free": 3, "lost": 1})
        assert rec.closed_cleanly and not rec.truncated


def test_fields_of_another_kind_are_refused(tmp_path):
    with RecordingWriter(tmp_path / "r.gsrec", {}) as w:
        with pytest.raises(ValueError, match="do not belong"):
            w.append("lost", dict(ts_ns=[1], cpu=[0], pid=[0], tid=[0], comm=[""], obj_addr=[1]))


def test_truncated_file_replays_complete_batches(tmp_path):
    p = tmp_path / "r.gsrec"
    with RecordingWriter(p, {}) as w:
        for i in range(5):
            w.append("free", _free_cols(100, t0=i * 1000))
            w.flush()
    data = p.read_bytes()
    cut = tmp_path / "cut.gsrec"
    cut.write_bytes(data[: len(data) - 700])
    with open_recording(cut) as rec:
        s = rec.summary()
        assert rec.truncated and not rec.closed_cleanly
        assert s.events == 400   # the four complete batches


def test_garbage_and_foreign_files_give_one_line(tmp_path):
    g = tmp_path / "g.gsrec"
    g.write_bytes(b"this is not a recording\n" * 10)
    with pytest.raises(RecordingError, match="not a gemscope recording") as e:
        open_recording(g)
    assert "\n" not in str(e.value)
    foreign = tmp_path / "f.arrow"
    t = pa.table({"x": [1, 2]})
    with pa.OSFile(str(foreign), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    with pytest.raises(RecordingError, match="no gemscope metadata"):
        open_recording(foreign)
    with pytest.raises(RecordingError, match="no such file"):
        open_recording(tmp_path / "missing.gsrec")
    empty = tmp_path / "empty.gsrec"
    empty.write_bytes(b"")
    with pytest.raises(RecordingError):
        open_recording(empty)


def test_sigkill_mid_write_leaves_a_replayable_file(tmp_path):
    p = tmp_path / "k.gsrec"
    script = textwrap.dedent(f"""
        import numpy as np, sys, time
        sys.path.insert(0, {str(os.getcwd())!r})
        from tracer.recording import RecordingWriter
        w = RecordingWriter({str(p)!r}, {{"source": "killed"}}, flush_interval_s=0.2)
        i = 0
        while True:
            n = 1000
            w.append("free", dict(ts_ns=np.arange(n, dtype=np.int64) + i * n,
                     cpu=np.zeros(n, np.int16), pid=np.ones(n, np.int32),
                     tid=np.ones(n, np.int32), comm=["x"] * n,
                     duration_ns=np.ones(n, np.int64)))
            i += 1
            if i == 3:
                print("ready", flush=True)
            time.sleep(0.05)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open_recording(p) as rec:
        s = rec.summary()
        assert not rec.closed_cleanly
        assert s.events >= 3000 and s.events % 1000 == 0
        assert rec.meta["source"] == "killed"
