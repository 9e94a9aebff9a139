"""One time-ordered index over the events of every kind, for event lists and object lifecycles.

Frames keep one DataFrame per kind; a person reading "what happened" wants them merged by time.
`EventIndex` holds three parallel arrays (ts_ns, kind code, row in that kind's frame) sorted by
time, and answers filters (kind, task, object) as arrays of positions, vectorized per kind. A row
is turned into text only when it is displayed (`describe`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import schema
from .frames import Frames

# Not events in time: stack frames are a side table; probe status is attach bookkeeping.
NOT_EVENTS = ("stack",)
_ORDERED_KINDS = tuple(k for k in schema.KINDS if k not in NOT_EVENTS)


@dataclass(frozen=True)
class EventFilter:
    """What the Events view shows. Empty filter = every event."""
    kinds: frozenset[str] = frozenset()
    task: str | None = None             # comm substring (case-insensitive) or a tid/pid number
    obj_addrs: frozenset[int] = frozenset()   # obj_addr or lock_addr equal to one of these
    lock_addrs: frozenset[int] = frozenset()  # lock_addr equal to one of these

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.task or self.obj_addrs or self.lock_addrs)

    def describe(self) -> str:
        parts = []
        if self.kinds:
            parts.append("kind " + ",".join(sorted(self.kinds)))
        if self.task:
            parts.append(f"task {self.task}")
        if self.obj_addrs:
            parts.append("object " + ",".join(hex(a) for a in sorted(self.obj_addrs)))
        if self.lock_addrs:
            parts.append("lock " + ",".join(hex(a) for a in sorted(self.lock_addrs)))
        return "; ".join(parts) or "all events"


def parse_filter(text: str) -> EventFilter:
    """`kind:free task:kworker obj:0xffff...`; bare words: a kind name, a hex address (object)
    or else a task. Raises ValueError with a one-line reason."""
    kinds, objs, task = set(), set(), None
    for tok in text.split():
        key, _, val = tok.partition(":")
        if not val:
            key, val = _guess_key(tok), tok
        key = key.lower()
        if key == "kind":
            for k in val.split(","):
                if k not in schema.KINDS:
                    raise ValueError(f"unknown kind {k!r} (see `gemscope schema`)")
                kinds.add(k)
        elif key in ("obj", "object", "addr", "lock"):
            try:
                objs.add(int(val, 0))
            except ValueError:
                raise ValueError(f"not an address: {val!r} (write 0x...)") from None
        elif key in ("task", "comm", "tid", "pid"):
            task = val
        else:
            raise ValueError(f"unknown filter {key!r}: use kind:, task: or obj:")
    return EventFilter(frozenset(kinds), task, frozenset(objs))


def _guess_key(tok: str) -> str:
    if tok in schema.KINDS:
        return "kind"
    if tok.lower().startswith("0x"):
        return "obj"
    return "task"


class EventIndex:
    """Every event of `frames` merged by time (ties keep schema kind order, then row order)."""

    def __init__(self, frames: Frames):
        self.frames = frames
        self.kinds = tuple(k for k in _ORDERED_KINDS if frames.has(k))
        lens = [len(frames[k]) for k in self.kinds]
        self.offsets = np.concatenate([[0], np.cumsum(lens, dtype=np.int64)])
        if self.kinds:
            ts = np.concatenate([frames[k]["ts_ns"].to_numpy(dtype=np.int64) for k in self.kinds])
            code = np.concatenate([np.full(n, i, np.int16) for i, n in enumerate(lens)])
            # each kind is already sorted by time: a stable sort merges the runs quickly
            self.order = np.argsort(ts, kind="stable")
            self.ts = ts[self.order]
            self.code = code[self.order]
        else:
            self.order = self.ts = np.zeros(0, np.int64)
            self.code = np.zeros(0, np.int16)

    def __len__(self) -> int:
        return len(self.order)

    def locate(self, pos: int) -> tuple[str, int]:
        """(kind, row in that kind's frame) of the event at merged position `pos`."""
        flat = int(self.order[pos])
        code = int(self.code[pos])
        return self.kinds[code], flat - int(self.offsets[code])

    def position_of(self, kind: str, row: int) -> int | None:
        """Merged position of a kind's row (inverse of `locate`)."""
        if kind not in self.kinds:
            return None
        flat = int(self.offsets[self.kinds.index(kind)]) + row
        hits = np.flatnonzero(self.order == flat)
        return int(hits[0]) if len(hits) else None

    def filter(self, flt: EventFilter) -> np.ndarray:
        """Merged positions (ascending, i.e. time order) of the events the filter keeps."""
        if flt.empty:
            return np.arange(len(self), dtype=np.int64)
        masks = [kind_mask(self.frames[k], k, flt) for k in self.kinds]
        if not masks:
            return np.zeros(0, np.int64)
        return np.flatnonzero(np.concatenate(masks)[self.order])

    def describe(self, pos: int, t0_ns: int = 0) -> str:
        """One line of text for the event at merged position `pos` (time relative to t0_ns)."""
        kind, row = self.locate(pos)
        rec = self.frames[kind].iloc[row]
        t = (int(rec["ts_ns"]) - t0_ns) / 1e9
        who = f"{rec['comm']}/{rec['tid']}"
        fields = " ".join(f"{c}={_fmt(c, rec[c])}" for c in schema.KINDS[kind].fields
                          if c in rec.index and not _isnull(rec[c]))
        return f"{t:14.6f}  cpu{int(rec['cpu']):<3} {who:<22.22} {kind:<15} {fields}"


def kind_mask(df: pd.DataFrame, kind: str, flt: EventFilter) -> np.ndarray:
    """Which rows of one kind's frame the filter keeps."""
    n = len(df)
    if flt.kinds and kind not in flt.kinds:
        return np.zeros(n, bool)
    m = np.ones(n, bool)
    if flt.task:
        m &= _task_mask(df, flt.task)
    if flt.obj_addrs or flt.lock_addrs:
        hit = np.zeros(n, bool)
        objs = np.array(sorted(flt.obj_addrs), dtype=np.uint64)
        locks = np.array(sorted(flt.obj_addrs | flt.lock_addrs), dtype=np.uint64)
        if "obj_addr" in df and len(objs):
            hit |= _isin_nullable(df["obj_addr"], objs)
        if "lock_addr" in df and len(locks):
            hit |= _isin_nullable(df["lock_addr"], locks)
        m &= hit
    return m


def select_frames(frames: Frames, flt: EventFilter) -> Frames:
    """Only the rows the filter keeps, per kind (stacks kept whole): cheap to index afterwards."""
    out = {k: (df if k in NOT_EVENTS else df[kind_mask(df, k, flt)].reset_index(drop=True))
           for k, df in frames.by_kind.items()}
    return Frames(out, frames.meta, frames.truncated)


def lifecycle_filter(frames: Frames, obj_addr: int) -> EventFilter:
    """Filter for the whole lifecycle of one GEM object: its events (obj_addr) and every event on
    its reservation (the lock_addr its own events name, e.g. free's obj->resv)."""
    locks: set[int] = set()
    for kind in frames.present:
        df = frames[kind]
        if "obj_addr" not in df or "lock_addr" not in df:
            continue
        sel = df.loc[_isin_nullable(df["obj_addr"], np.array([obj_addr], np.uint64)),
                     "lock_addr"].dropna()
        locks.update(int(a) for a in pd.unique(sel.to_numpy()))
    return EventFilter(obj_addrs=frozenset({obj_addr}), lock_addrs=frozenset(locks))


def _isin_nullable(col: pd.Series, values: np.ndarray) -> np.ndarray:
    if col.hasnans:
        return (col.isin(values).fillna(False)).to_numpy(dtype=bool)
    return np.isin(col.to_numpy(), values)


def _task_mask(df: pd.DataFrame, task: str) -> np.ndarray:
    if task.isdigit():
        v = int(task)
        return (df["tid"].to_numpy() == v) | (df["pid"].to_numpy() == v)
    comm = df["comm"]
    if isinstance(comm.dtype, pd.CategoricalDtype):
        cats = comm.cat.categories
        keep = np.array([task.lower() in str(c).lower() for c in cats], dtype=bool)
        codes = comm.cat.codes.to_numpy()
        return np.where(codes >= 0, keep[np.clip(codes, 0, None)] if len(keep) else False, False)
    return comm.astype(str).str.contains(task, case=False, regex=False).to_numpy(dtype=bool)


def _isnull(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _fmt(col: str, v) -> str:
    if col.endswith("_addr"):
        return hex(int(v))
    if col == "frames":
        return str(v).split("\n", 1)[0] + " ..."
    return str(v)
