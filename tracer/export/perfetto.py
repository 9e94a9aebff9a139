"""Perfetto export: a protobuf trace built with the `perfetto` package's TraceProtoBuilder.

Layout (what opens in ui.perfetto.dev):
- one process track per pid and one thread track per tid; under each thread, one child track per
  category that thread has events of: "frees", "resv lock waits", "lock contention",
  "retire runs", "shrinker scans", "LRU scans", "gpu submits", "gpu retired";
- interval events are slices (TYPE_SLICE_BEGIN/END), submits and retirements instants;
- counter tracks: "shrinker count (pages)" (shrink_count.count_pages, the LRU sizes the shrinker
  offered), "shrinker scan freed (pages)", and per LRU stage "LRU <stage> freed (pages)" and
  "LRU <stage> remaining (pages)" (pages skipped because a trylock failed);
- flows: gpu_submit -> its gpu_retired -> every free that retirement caused (see links.py).

Timestamps are the recording's CLOCK_MONOTONIC ns, untouched. Packets are written in time order,
in chunks (each chunk a serialized Trace; concatenated Traces are one valid Trace), so memory
stays bounded on large recordings.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..analyses.stats import known_ns
from ..frames import Frames
from .links import lifecycle_links
from .perfetto_tracks import TrackTable, nesting_lanes

SEQ_ID = 0x6E5C   # trusted_packet_sequence_id of every packet we write
CHUNK_PACKETS = 100_000
BEGIN, END, INSTANT, COUNTER = 0, 1, 2, 3
_ORDER = {END: 0, COUNTER: 1, INSTANT: 1, BEGIN: 2}   # at one timestamp: ends, points, begins
RETIRED_FLOW_BASE = 1 << 40   # flow ids: submit->retired = 1 + retired row;
                              # retired->free = RETIRED_FLOW_BASE + free row

# kind -> (category track name under the thread, slice or instant name)
SLICE_KINDS = {
    "free": ("frees", "msm_gem_free_object"),
    "resv_lock": ("resv lock waits", "resv_lock"),
    "lock_contention": ("lock contention", "lock contention"),
    "retire_run": ("retire runs", "retire_worker"),
    "shrink_scan": ("shrinker scans", "msm_gem_shrinker_scan"),
    "lru_scan": ("LRU scans", "drm_gem_lru_scan"),
}
INSTANT_KINDS = {"gpu_submit": ("gpu submits", "msm_gpu_submit"),
                 "gpu_retired": ("gpu retired", "msm_gpu_submit_retired")}
ANNOTATIONS = {
    "free": ("obj_addr", "size_bytes", "context"),
    "resv_lock": ("lock_addr", "obj_addr", "ret", "caller", "holder_comm", "context"),
    "lock_contention": ("lock_addr", "holder_comm", "context"),
    "retire_run": ("queue_delay_ns", "submits_retired"),
    "shrink_scan": ("nr_to_scan_pages", "freed_pages", "reclaim_kind"),
    "lru_scan": ("stage", "nr_to_scan_pages", "freed_pages", "remaining_pages"),
    "gpu_submit": ("submit_id", "ring_id", "nr_bos", "nr_cmds"),
    "gpu_retired": ("submit_id", "ring_id", "seqno", "gpu_elapsed_ns"),
}


@dataclass
class ExportStats:
    """What was written: counts the tests and the CLI report."""
    packets: int = 0
    slices: dict[str, int] = field(default_factory=dict)
    instants: dict[str, int] = field(default_factory=dict)
    counter_points: dict[str, int] = field(default_factory=dict)
    flows: int = 0
    tracks: int = 0


def _plan(frames: Frames, tracks: TrackTable, stats: ExportStats) -> list[tuple]:
    """Per kind: (kind, phase array, ts array, order2 array, track uuid array, row array)."""
    pieces = []
    for kind, (cat, _) in {**SLICE_KINDS, **INSTANT_KINDS}.items():
        df = frames[kind]
        if not len(df):
            continue
        ts = df["ts_ns"].to_numpy().astype(np.int64)
        rows = np.arange(len(df))
        thread_uuid = tracks.threads(df)
        if kind in INSTANT_KINDS:
            uuid = tracks.children(thread_uuid, cat)
            pieces.append((kind, np.full(len(df), INSTANT), ts, np.zeros(len(df)), uuid, rows))
            stats.instants[kind] = len(df)
            continue
        dur, known = known_ns(df["duration_ns"])
        ts, dur, rows, thread_uuid = ts[known], dur[known], rows[known], thread_uuid[known]
        lanes = nesting_lanes(thread_uuid, ts, ts + dur)
        uuid = tracks.children(thread_uuid, cat, lanes)
        pieces.append((kind, np.full(len(ts), BEGIN), ts, -dur.astype(np.float64), uuid, rows))
        pieces.append((kind, np.full(len(ts), END), ts + dur, -ts.astype(np.float64), uuid, rows))
        stats.slices[kind] = len(ts)
    return pieces


def _counter_series(frames: Frames) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(counter track name, ts, values) for every counter the recording has."""
    out = []
    sc = frames["shrink_count"]
    ok = sc["count_pages"].notna().to_numpy()
    if ok.any():
        out.append(("shrinker count (pages)", sc["ts_ns"].to_numpy()[ok],
                    sc["count_pages"].to_numpy(dtype=np.int64, na_value=0)[ok]))
    ss = frames["shrink_scan"]
    ok = ss["freed_pages"].notna().to_numpy()
    if ok.any():
        out.append(("shrinker scan freed (pages)", ss["ts_ns"].to_numpy()[ok],
                    ss["freed_pages"].to_numpy(dtype=np.int64, na_value=0)[ok]))
    lru = frames["lru_scan"]
    if len(lru):
        stage = lru["stage"].astype(object).where(lru["stage"].notna(), "unknown").to_numpy()
        for st in sorted(set(stage)):
            for col, label in (("freed_pages", "freed"), ("remaining_pages", "remaining")):
                ok = (stage == st) & lru[col].notna().to_numpy()
                if ok.any():
                    out.append((f"LRU {st} {label} (pages)", lru["ts_ns"].to_numpy()[ok],
                                lru[col].to_numpy(dtype=np.int64, na_value=0)[ok]))
    return out


def _flows(frames: Frames, stats: ExportStats):
    """{kind: {row: (flow_ids, terminating_flow_ids)}} for the lifecycle flows."""
    links = lifecycle_links(frames)
    out: dict[str, dict[int, tuple[list[int], list[int]]]] = {
        "gpu_submit": {}, "gpu_retired": {}, "free": {}}
    r_rows = np.flatnonzero(links.retired_submit >= 0)
    for r_row, s_row in zip(r_rows.tolist(), links.retired_submit[r_rows].tolist()):
        fid = r_row + 1
        out["gpu_submit"].setdefault(s_row, ([], []))[0].append(fid)
        out["gpu_retired"].setdefault(r_row, ([], []))[1].append(fid)
    f_rows = np.flatnonzero(links.free_retired >= 0)
    for f_row, r_row in zip(f_rows.tolist(), links.free_retired[f_rows].tolist()):
        fid = RETIRED_FLOW_BASE + f_row
        out["gpu_retired"].setdefault(r_row, ([], []))[0].append(fid)
        out["free"][f_row] = ([], [fid])
    stats.flows = len(r_rows) + len(f_rows)
    return out


def _annotation_values(frames: Frames) -> dict[str, list[tuple[str, list, str]]]:
    """Per kind: (annotation name, Python list of values with None for null, proto field)."""
    out = {}
    for kind, cols in ANNOTATIONS.items():
        df = frames[kind]
        vals = []
        for c in cols:
            s = df[c]
            if c.endswith("_addr"):
                known = s.notna().to_numpy().tolist()
                raw = s.to_numpy(dtype=np.uint64, na_value=0).tolist()
                vals.append((c, [f"0x{v:x}" if k else None for v, k in zip(raw, known)],
                             "string_value"))
            elif s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype):
                vals.append((c, s.astype(object).where(s.notna(), None).tolist(), "string_value"))
            elif pd.api.types.is_bool_dtype(s.dtype):
                vals.append((c, s.astype(object).where(s.notna(), None).tolist(), "bool_value"))
            else:
                vals.append((c, s.astype(object).where(s.notna(), None).tolist(), "int_value"))
        out[kind] = vals
    return out


def export_perfetto(frames: Frames, out_path: str) -> ExportStats:
    """Write frames as a Perfetto trace to out_path; returns what was written."""
    from perfetto.trace_builder.proto_builder import TraceProtoBuilder
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TrackEvent

    stats = ExportStats()
    tracks = TrackTable(frames)
    pieces = _plan(frames, tracks, stats)
    for name, ts, values in _counter_series(frames):
        uuid = tracks.counter(name)
        pieces.append(("counter", np.full(len(ts), COUNTER), ts.astype(np.int64),
                       np.zeros(len(ts)), np.full(len(ts), uuid, dtype=np.uint64), values))
        stats.counter_points[name] = len(ts)
    flows = _flows(frames, stats)
    notes = _annotation_values(frames)
    names = {k: v[1] for k, v in {**SLICE_KINDS, **INSTANT_KINDS}.items()}
    type_of = {BEGIN: TrackEvent.TYPE_SLICE_BEGIN, INSTANT: TrackEvent.TYPE_INSTANT}
    end_type, counter_type = TrackEvent.TYPE_SLICE_END, TrackEvent.TYPE_COUNTER

    with open(out_path, "wb") as f:
        builder = TraceProtoBuilder()
        for desc in tracks.descriptors():
            p = builder.add_packet()
            p.trusted_packet_sequence_id = SEQ_ID
            p.track_descriptor.CopyFrom(desc)
        stats.tracks = len(tracks.descriptors())
        n_in_chunk = len(tracks.descriptors())
        if not pieces:
            f.write(builder.serialize())
            stats.packets = n_in_chunk
            return stats
        kinds = np.concatenate([np.full(len(p[1]), i) for i, p in enumerate(pieces)])
        phase = np.concatenate([p[1] for p in pieces])
        ts = np.concatenate([p[2] for p in pieces])
        order2 = np.concatenate([p[3] for p in pieces])
        uuids = np.concatenate([p[4].astype(np.uint64) for p in pieces])
        rows = np.concatenate([p[5] for p in pieces])
        rank = np.array([_ORDER[BEGIN], _ORDER[END], _ORDER[INSTANT], _ORDER[COUNTER]],
                        dtype=np.int8)[phase]
        order = np.lexsort((order2, rank, ts))
        piece_kind = [p[0] for p in pieces]
        # plain Python lists: the loop below is the only per-event Python code of the export
        columns = zip(kinds[order].tolist(), phase[order].tolist(), ts[order].tolist(),
                      uuids[order].tolist(), rows[order].tolist())
        packets = builder.trace.packet
        for k, ph, t, uuid, row in columns:
            if ph == END:
                packets.add(timestamp=t, trusted_packet_sequence_id=SEQ_ID,
                            track_event={"type": end_type, "track_uuid": uuid})
            elif ph == COUNTER:
                packets.add(timestamp=t, trusted_packet_sequence_id=SEQ_ID,
                            track_event={"type": counter_type, "track_uuid": uuid,
                                         "counter_value": row})
            else:
                kind = piece_kind[k]
                ev = {"type": type_of[ph], "track_uuid": uuid, "name": names[kind],
                      "debug_annotations": [{"name": c, field: vals[row]}
                                            for c, vals, field in notes[kind]
                                            if vals[row] is not None]}
                link = flows[kind].get(row) if kind in flows else None
                if link:
                    ev["flow_ids"], ev["terminating_flow_ids"] = link
                packets.add(timestamp=t, trusted_packet_sequence_id=SEQ_ID, track_event=ev)
            n_in_chunk += 1
            if n_in_chunk >= CHUNK_PACKETS:
                f.write(builder.serialize())
                builder, n_in_chunk = TraceProtoBuilder(), 0
                packets = builder.trace.packet
        f.write(builder.serialize())
        stats.packets = len(order) + len(tracks.descriptors())
    return stats
