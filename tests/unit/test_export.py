"""Perfetto export parsed back with the perfetto package's own protos; CSV/Parquet round trip."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

from lifecycle_fixture import write_lifecycle
from tracer.cli import main
from tracer.export.perfetto_tracks import nesting_lanes
from tracer.frames import load_frames

BEGIN, END = TrackEvent.TYPE_SLICE_BEGIN, TrackEvent.TYPE_SLICE_END
INSTANT, COUNTER = TrackEvent.TYPE_INSTANT, TrackEvent.TYPE_COUNTER


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    rec = write_lifecycle(d / "fx.gsrec")
    out = d / "fx.pftrace"
    assert main(["export", rec, "--perfetto", str(out)]) == 0
    t = Trace()
    t.ParseFromString(out.read_bytes())
    return t


def _tracks(t: Trace):
    descs = {p.track_descriptor.uuid: p.track_descriptor for p in t.packet
             if p.HasField("track_descriptor")}
    threads = {u: d.thread.thread_name for u, d in descs.items() if d.HasField("thread")}
    label = {}
    for u, d in descs.items():
        if d.parent_uuid in threads and not d.HasField("thread"):
            label[u] = (threads[d.parent_uuid], d.name)
        elif d.HasField("counter"):
            label[u] = ("counter", d.name)
    return descs, threads, label


def test_tracks_per_thread_and_counters(trace):
    descs, threads, label = _tracks(trace)
    assert sorted(threads.values()) == ["glmark2", "kswapd0", "retire-worker"]
    per_thread = defaultdict(set)
    for thread, name in label.values():
        per_thread[thread].add(name)
    assert per_thread == {
        "retire-worker": {"frees", "retire runs", "gpu retired"},
        "glmark2": {"resv lock waits", "lock contention", "gpu submits"},
        "kswapd0": {"shrinker scans", "LRU scans"},
        "counter": {"shrinker count (pages)", "shrinker scan freed (pages)",
                    "LRU purge freed (pages)", "LRU purge remaining (pages)",
                    "LRU evict freed (pages)", "LRU evict remaining (pages)"}}
    procs = {d.process.pid: d.process.process_name for d in descs.values()
             if d.HasField("process")}
    assert procs == {1: "pid 1", 200: "glmark2", 300: "kswapd0"}


def test_slice_counts_names_and_nesting(trace):
    _, _, label = _tracks(trace)
    begins, ends, instants = Counter(), Counter(), Counter()
    open_slices = defaultdict(int)
    last_ts = -1
    for p in trace.packet:
        if not p.HasField("track_event"):
            continue
        assert p.timestamp >= last_ts          # written in time order
        last_ts = p.timestamp
        ev = p.track_event
        where = label[ev.track_uuid][1]
        if ev.type == BEGIN:
            begins[(where, ev.name)] += 1
            open_slices[ev.track_uuid] += 1
        elif ev.type == END:
            ends[where] += 1
            open_slices[ev.track_uuid] -= 1
            assert open_slices[ev.track_uuid] >= 0
        elif ev.type == INSTANT:
            instants[(where, ev.name)] += 1
    assert begins == {("frees", "msm_gem_free_object"): 6, ("retire runs", "retire_worker"): 3,
                      ("resv lock waits", "resv_lock"): 2,
                      ("lock contention", "lock contention"): 1,
                      ("shrinker scans", "msm_gem_shrinker_scan"): 2,
                      ("LRU scans", "drm_gem_lru_scan"): 2}
    assert ends == {"frees": 6, "retire runs": 3, "resv lock waits": 2, "lock contention": 1,
                    "shrinker scans": 2, "LRU scans": 2}
    assert instants == {("gpu submits", "msm_gpu_submit"): 3,
                        ("gpu retired", "msm_gpu_submit_retired"): 3}
    assert all(v == 0 for v in open_slices.values())


def test_counter_values(trace):
    _, _, label = _tracks(trace)
    series = defaultdict(list)
    for p in trace.packet:
        if p.HasField("track_event") and p.track_event.type == COUNTER:
            series[label[p.track_event.track_uuid][1]].append((p.timestamp,
                                                               p.track_event.counter_value))
    assert series == {"shrinker count (pages)": [(5_000_000, 512), (6_000_000, 256)],
                      "shrinker scan freed (pages)": [(5_010_000, 64), (6_010_000, 32)],
                      "LRU purge freed (pages)": [(5_020_000, 64)],
                      "LRU purge remaining (pages)": [(5_020_000, 8)],
                      "LRU evict freed (pages)": [(6_020_000, 32)],
                      "LRU evict remaining (pages)": [(6_020_000, 16)]}


def test_flows_submit_to_retired_to_frees(trace):
    def ann(ev, name):
        return next(a.int_value for a in ev.debug_annotations if a.name == name)

    submit_by_flow, retired_by_in, retired_by_out, free_by_flow = {}, {}, {}, {}
    for p in trace.packet:
        ev = p.track_event
        if not p.HasField("track_event"):
            continue
        if ev.name == "msm_gpu_submit":
            for f in ev.flow_ids:
                submit_by_flow[f] = ann(ev, "submit_id")
        elif ev.name == "msm_gpu_submit_retired":
            for f in ev.terminating_flow_ids:
                retired_by_in[f] = ann(ev, "submit_id")
            for f in ev.flow_ids:
                retired_by_out[f] = ann(ev, "submit_id")
        elif ev.name == "msm_gem_free_object":
            assert len(ev.terminating_flow_ids) == 1
            free_by_flow[ev.terminating_flow_ids[0]] = p.timestamp
    # every submit flows into the retirement of the same submit id
    assert {k: submit_by_flow[k] for k in retired_by_in} == retired_by_in
    assert sorted(retired_by_in.values()) == [1, 2, 3]
    # each free flows from the retirement that preceded it in its retire run
    caused = sorted((ts, retired_by_out[f]) for f, ts in free_by_flow.items())
    assert caused == [(1_010_000, 1), (2_010_000, 2), (2_030_000, 2), (3_010_000, 3),
                      (3_030_000, 3), (3_050_000, 3)]


def test_nesting_lanes_split_partial_overlaps_only():
    track = np.array([7, 7, 7, 7, 9])
    starts = np.array([0, 2, 4, 20, 3])
    ends = np.array([10, 5, 8, 30, 4])
    # [4, 8) starts inside [2, 5) and outlives it: it needs its own lane; [20, 30) reuses lane 0
    assert nesting_lanes(track, starts, ends).tolist() == [0, 0, 1, 0, 0]
    assert nesting_lanes(np.array([1, 1]), np.array([0, 1]), np.array([10, 2])).tolist() == [0, 0]


def test_csv_and_parquet_round_trip(tmp_path):
    rec = write_lifecycle(tmp_path / "fx.gsrec")
    assert main(["export", rec, "--csv", str(tmp_path / "csv"),
                 "--parquet", str(tmp_path / "pq")]) == 0
    frames = load_frames(rec)
    files = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert files == sorted(f"{k}.csv" for k in ("gpu_submit", "gpu_retired", "retire_run", "free",
                                                "resv_lock", "lock_contention", "shrink_scan",
                                                "shrink_count", "lru_scan"))
    free_csv = pd.read_csv(tmp_path / "csv" / "free.csv")
    assert free_csv["duration_ns"].tolist() == [10_000] * 6
    assert free_csv["lru_addr"].isna().all()                 # null stays null, not 0
    pq = pd.read_parquet(tmp_path / "pq" / "free.parquet")
    assert pq["obj_addr"].dtype == np.uint64
    assert pq["obj_addr"].tolist() == frames["free"]["obj_addr"].tolist()
    assert pq["context"].astype(str).tolist() == ["retire_worker"] * 6
    assert pq["lru_addr"].isna().all()


def test_export_of_a_bundle_equals_export_of_its_recording(tmp_path):
    from tracer.bundle.writer import create_bundle
    rec = write_lifecycle(tmp_path / "fx.gsrec")
    create_bundle(rec, str(tmp_path / "fx.gsbundle"))
    assert main(["export", rec, "--perfetto", str(tmp_path / "a.pftrace")]) == 0
    assert main(["export", str(tmp_path / "fx.gsbundle"), "--perfetto",
                 str(tmp_path / "b.pftrace")]) == 0
    assert (tmp_path / "a.pftrace").read_bytes() == (tmp_path / "b.pftrace").read_bytes()


def test_unwritable_outputs_are_one_line(tmp_path, capsys):
    rec = write_lifecycle(tmp_path / "fx.gsrec")
    missing = tmp_path / "no" / "such" / "dir"
    assert main(["export", rec, "--perfetto", str(missing / "t.pftrace")]) == 2
    assert capsys.readouterr().err == (f"gemscope: error: export: cannot write "
                                       f"{missing / 't.pftrace'} (No such file or directory)\n")
    assert main(["bundle", "create", rec, "-o", str(missing / "b.gsbundle")]) == 2
    assert capsys.readouterr().err == (f"gemscope: error: {missing / 'b.gsbundle'}: cannot "
                                       "write the bundle (No such file or directory)\n")
