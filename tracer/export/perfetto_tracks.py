"""Track bookkeeping for the Perfetto export: stable uuids for process, thread, per-thread
category and counter tracks, and lanes that keep slices on one track properly nested."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..analyses.intervals import key_array
from ..frames import Frames

_UUID_BASE = 0x6E5C_0000_0000


class TrackTable:
    """Assigns uuids (deterministically, in order of first request) and builds descriptors."""

    def __init__(self, frames: Frames):
        self._frames = frames
        self._uuids: dict[tuple, int] = {}
        self._thread_names: dict[tuple[int, int], str] = {}
        self._order: list[tuple] = []

    def _uuid(self, key: tuple) -> int:
        u = self._uuids.get(key)
        if u is None:
            u = _UUID_BASE + len(self._uuids) + 1
            self._uuids[key] = u
            self._order.append(key)
        return u

    def threads(self, df: pd.DataFrame) -> np.ndarray:
        """Thread track uuid per row of df (creating process and thread tracks as needed)."""
        pid, tid = key_array(df["pid"]), key_array(df["tid"])
        pairs, inverse = np.unique(np.stack([pid, tid], axis=1), axis=0, return_inverse=True)
        comm = df["comm"].astype(object).to_numpy()
        last_row = np.zeros(len(pairs), dtype=np.int64)
        last_row[inverse.ravel()] = np.arange(len(df))   # the last row of each pair wins
        uuids = np.empty(len(pairs), dtype=np.uint64)
        for i, (p, t) in enumerate(pairs.tolist()):
            self._uuid(("process", p))
            uuids[i] = self._uuid(("thread", p, t))
            name = comm[last_row[i]]
            if isinstance(name, str) and name:
                self._thread_names[(p, t)] = name
        return uuids[inverse.ravel()]

    def children(self, thread_uuids: np.ndarray, category: str,
                 lanes: np.ndarray | None = None) -> np.ndarray:
        """Uuid of the (thread, category[, lane]) child track per row."""
        lanes = np.zeros(len(thread_uuids), dtype=np.int64) if lanes is None else lanes
        keys, inverse = np.unique(np.stack([thread_uuids.astype(np.int64), lanes], axis=1),
                                  axis=0, return_inverse=True)
        uuids = np.array([self._uuid(("child", int(t), category, int(lane)))
                          for t, lane in keys.tolist()], dtype=np.uint64)
        return uuids[inverse.ravel()] if len(keys) else np.zeros(0, dtype=np.uint64)

    def counter(self, name: str) -> int:
        return self._uuid(("counter", name))

    def descriptors(self) -> list:
        from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TrackDescriptor
        out = []
        for key in self._order:
            d = TrackDescriptor()
            d.uuid = self._uuids[key]
            if key[0] == "process":
                d.process.pid = key[1]
                d.process.process_name = self._thread_names.get((key[1], key[1]),
                                                                f"pid {key[1]}")
            elif key[0] == "thread":
                _, p, t = key
                d.parent_uuid = self._uuids[("process", p)]
                d.thread.pid, d.thread.tid = p, t
                d.thread.thread_name = self._thread_names.get((p, t), f"tid {t}")
            elif key[0] == "child":
                _, parent, category, lane = key
                d.parent_uuid = parent
                d.name = category if lane == 0 else f"{category} ({lane + 1})"
            else:
                d.name = key[1]
                d.counter.unit_name = "pages"
            out.append(d)
        return out


def nesting_lanes(track: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lane per slice so that slices sharing (track, lane) nest or are disjoint (Perfetto needs
    proper nesting on one track). Lane 0 for everything unless slices partially overlap."""
    n = len(starts)
    lanes = np.zeros(n, dtype=np.int64)
    if n < 2:
        return lanes
    order = np.lexsort((-ends, starts, track))
    t, s, e = track[order], starts[order], ends[order]
    same = np.r_[False, t[1:] == t[:-1]]
    prev_end = pd.Series(e).groupby(t).cummax().shift(1).to_numpy(dtype=np.float64,
                                                                   na_value=-np.inf)
    overlapping = same & (s < prev_end)
    if not overlapping.any():
        return lanes
    bad_tracks = set(t[overlapping].tolist())
    stacks: dict = {}
    for i in np.flatnonzero(np.isin(t, list(bad_tracks))):
        lanes_of_track = stacks.setdefault(t[i], [])
        for stack in lanes_of_track:          # close slices that ended before this one starts
            while stack and stack[-1] <= s[i]:
                stack.pop()
        for lane, stack in enumerate(lanes_of_track):
            if not stack or stack[-1] >= e[i]:  # fits: empty lane, or nests in the open slice
                stack.append(e[i])
                lanes[order[i]] = lane
                break
        else:
            lanes_of_track.append([e[i]])
            lanes[order[i]] = len(lanes_of_track) - 1
    return lanes
