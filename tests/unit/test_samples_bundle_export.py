"""Every sample trace: its bundle reports exactly what the recording reports, and its Perfetto
export is well formed (slices nest per track, every flow has both ends)."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

from tracer.cli import main
from tracer.frames import load_frames

# not `from conftest import SAMPLES`: in a whole-suite run "conftest" may be tests/tui's
SAMPLES = Path(__file__).resolve().parents[2] / "sample-traces"
SAMPLE_FILES = sorted(SAMPLES.glob("*.gsrec"))


def _report(capsys, path) -> dict:
    capsys.readouterr()
    assert main(["report", str(path), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_there_are_samples():
    assert len(SAMPLE_FILES) >= 5


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.stem)
def test_bundle_report_equals_recording_report(sample, tmp_path, capsys):
    bundle = tmp_path / "b.gsbundle"
    assert main(["bundle", "create", str(sample), "-o", str(bundle)]) == 0
    assert _report(capsys, bundle) == _report(capsys, sample)


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.stem)
def test_perfetto_export_is_well_formed(sample, tmp_path):
    out = tmp_path / "t.pftrace"
    assert main(["export", str(sample), "--perfetto", str(out)]) == 0
    trace = Trace()
    trace.ParseFromString(out.read_bytes())
    frames = load_frames(sample)
    depth = defaultdict(int)
    starts, ends = Counter(), Counter()
    last = -1
    for p in trace.packet:
        if not p.HasField("track_event"):
            continue
        ev = p.track_event
        assert p.timestamp >= last
        last = p.timestamp
        if ev.type == TrackEvent.TYPE_SLICE_BEGIN:
            depth[ev.track_uuid] += 1
        elif ev.type == TrackEvent.TYPE_SLICE_END:
            depth[ev.track_uuid] -= 1
            assert depth[ev.track_uuid] >= 0
        starts.update(ev.flow_ids)
        ends.update(ev.terminating_flow_ids)
    assert all(d == 0 for d in depth.values())
    assert starts == ends and all(n == 1 for n in starts.values())   # each flow: one edge
    if frames.has("gpu_submit") and frames.has("gpu_retired"):
        assert len(starts) >= len(frames["gpu_retired"]) // 2
    frees = frames["free"]
    begins = sum(1 for p in trace.packet if p.track_event.name == "msm_gem_free_object")
    assert begins == int(frees["duration_ns"].notna().sum())
