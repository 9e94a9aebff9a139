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


@dataclass(frozen=True)
class MergeBase:
    """What extending an index needs of it (extend_merge), without its frames: a computer that
    keeps one per window does not keep those snapshots' DataFrames alive."""
    kinds: tuple[str, ...]
    kind_ts: tuple[np.ndarray, ...]
    ts: np.ndarray
    code: np.ndarray
    rows: np.ndarray
    time_sorted: bool


class EventIndex:
    """Every event of `frames` merged by time (ties keep schema kind order, then row order).

    Three parallel arrays in merged order: `ts`, `code` (index into `kinds`) and `rows` (row in
    that kind's frame). Only the ts column of each kind is read, never a whole DataFrame: a
    buffer's snapshot builds a kind's DataFrame only when read, and a 10M-event one costs more
    to build than the merge. `previous` (the index of an earlier snapshot of the same growing
    source) lets the merge keep its order for the rows that hold the same events and merge
    only the new ones in (event_merge below): the same arrays a full merge gives.
    """

    def __init__(self, frames: Frames, previous: "EventIndex | MergeBase | None" = None):
        self.frames = frames
        self.kinds = tuple(k for k in _ORDERED_KINDS if frames.has(k))
        self.kind_ts = tuple(_ts_column(frames, k) for k in self.kinds)
        lens = [len(t) for t in self.kind_ts]
        self.offsets = np.concatenate([[0], np.cumsum(lens, dtype=np.int64)]).astype(np.int64)
        self._order: np.ndarray | None = None
        self._sorted: bool | None = None
        merged = extend_merge(previous, self) if previous is not None else None
        self.ts, self.code, self.rows = merged if merged is not None else full_merge(self.kind_ts)

    def __len__(self) -> int:
        return len(self.ts)

    def merge_base(self) -> MergeBase:
        return MergeBase(self.kinds, self.kind_ts, self.ts, self.code, self.rows,
                         self.time_sorted)

    @property
    def order(self) -> np.ndarray:
        """Flat position (kinds' rows concatenated in `kinds` order) of each merged event."""
        if self._order is None:
            self._order = self.offsets[self.code] + self.rows
        return self._order

    @property
    def time_sorted(self) -> bool:
        """Each kind's rows are in time order (a buffer's snapshot, checked otherwise)."""
        if self._sorted is None:
            self._sorted = self.frames.time_sorted or all(_is_sorted(t) for t in self.kind_ts)
        return self._sorted

    def locate(self, pos: int) -> tuple[str, int]:
        """(kind, row in that kind's frame) of the event at merged position `pos`."""
        return self.kinds[int(self.code[pos])], int(self.rows[pos])

    def position_of(self, kind: str, row: int) -> int | None:
        """Merged position of a kind's row (inverse of `locate`)."""
        if kind not in self.kinds:
            return None
        hits = np.flatnonzero((self.code == self.kinds.index(kind)) & (self.rows == row))
        return int(hits[0]) if len(hits) else None

    def filter(self, flt: EventFilter) -> np.ndarray:
        """Merged positions (ascending, i.e. time order) of the events the filter keeps."""
        if flt.empty:
            return np.arange(len(self), dtype=np.int64)
        if not self.kinds:
            return np.zeros(0, np.int64)
        if not (flt.task or flt.obj_addrs or flt.lock_addrs):   # kinds only: no column read
            codes = [i for i, k in enumerate(self.kinds) if k in flt.kinds]
            return np.flatnonzero(np.isin(self.code, np.array(codes, np.int16)))
        masks = [kind_mask(_Columns(self.frames, k, len(t)), k, flt)
                 for k, t in zip(self.kinds, self.kind_ts)]
        return np.flatnonzero(np.concatenate(masks)[self.order])

    def describe(self, pos: int, t0_ns: int = 0) -> str:
        """One line of text for the event at merged position `pos` (time relative to t0_ns)."""
        return self.describe_many([pos], t0_ns)[0]

    def describe_many(self, positions, t0_ns: int = 0) -> list[str]:
        """`describe` of each position; the rows of one kind are read as one small frame (the
        rows of a kind between nearby merged positions are consecutive)."""
        located = [self.locate(int(p)) for p in positions]
        recs: dict[tuple[str, int], pd.Series] = {}
        for code, kind in enumerate(self.kinds):
            rows = [r for k, r in located if k == kind]
            if rows:
                df, first = self._rows_frame(code, min(rows), max(rows))
                recs.update(((kind, r), df.iloc[r - first]) for r in rows)
        return [_line(kind, recs[(kind, row)], t0_ns) for kind, row in located]

    def _rows_frame(self, code: int, lo: int, hi: int) -> tuple[pd.DataFrame, int]:
        """A frame holding rows lo..hi of a kind, and the row its first line is. On a buffer's
        snapshot: the kind's rows of a time window (built for those rows only)."""
        kind, ts = self.kinds[code], self.kind_ts[code]
        if not hasattr(self.frames.by_kind, "window") or not self.time_sorted:
            return self.frames[kind], 0
        t_lo, t_hi = int(ts[lo]), int(ts[hi])
        end = t_hi + 1 if t_hi < np.iinfo(np.int64).max else None
        return self.frames.window(t_lo, end)[kind], int(np.searchsorted(ts, t_lo, side="left"))


def full_merge(kind_ts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ts, code, rows) in merged order: a stable sort of the kinds' ts concatenated in kind
    order (each kind is usually sorted already: the sort merges the runs quickly)."""
    if not kind_ts:
        return np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int64)
    lens = [len(t) for t in kind_ts]
    ts = np.concatenate(kind_ts)
    code = np.concatenate([np.full(n, i, np.int16) for i, n in enumerate(lens)])
    offsets = np.concatenate([[0], np.cumsum(lens, dtype=np.int64)]).astype(np.int64)
    order = np.argsort(ts, kind="stable")
    code = code[order]
    return ts[order], code, order - offsets[code]


def extend_merge(previous: EventIndex | MergeBase, index: EventIndex):
    """The merged arrays of `index` from those of `previous`, or None when a full merge is
    needed. Why it is right: a buffer merges new events stably into each kind's sorted rows,
    and a window cuts a kind by time; so the rows of `index` from its first row up to the first
    whose ts differs from the previous index's row at the same event hold the same events, in
    the same order (`kept_rows`). Those keep their merged order; the others (appended, late,
    or of a kind not there before) are sorted and put in by (ts, code), a kept row before a new
    one of the same ts and kind (its row is smaller)."""
    if not (previous.time_sorted and index.time_sorted) or len(index.kinds) > 32768:
        return None
    kept = kept_rows(previous, index)
    if kept is None:
        return None
    start, count = kept              # per previous code: first kept row, how many
    if 2 * int(count.sum()) < int(index.offsets[-1]):
        return None                  # mostly new rows (another window's index): sort them all
    lut = np.array([index.kinds.index(k) if k in index.kinds else -1 for k in previous.kinds],
                   np.int16)
    new_count = {index.kinds.index(k): int(count[c]) for c, k in enumerate(previous.kinds)
                 if k in index.kinds}
    new = _new_rows(index.kind_ts, new_count)
    if not np.any(start) and np.array_equal(lut, np.arange(len(previous.kinds))):
        return _merge_tail(previous, count, new, len(index.kinds))
    kt, kc, kr = previous.ts, previous.code, previous.rows
    if np.any(start) or any(count[c] != len(t) for c, t in enumerate(previous.kind_ts)):
        keep = (kr >= start[kc]) & (kr < (start + count)[kc])
        kt, kc, kr = kt[keep], kc[keep], kr[keep]
        kr = kr - start[kc]
    if len(kc) and np.any(lut != np.arange(len(previous.kinds))):
        kc = lut[kc]
    return _insert_sorted((kt, kc, kr), new, len(index.kinds))


def _merge_tail(previous: EventIndex | MergeBase, count: np.ndarray, new, n_codes: int):
    """extend_merge when every kind keeps its first rows and its code (a growing source's next
    snapshot, a window that only grew at its end): the merged events before the earliest
    dropped or new one are all kept, in place; only the tail from there is merged again.
    Why: a dropped row of a kind is at or after that kind's first dropped ts, a new one at or
    after the earliest new ts, and everything before the cut is earlier than both."""
    ts, code, rows = previous.ts, previous.code, previous.rows
    firsts = [int(t[n]) for t, n in zip(previous.kind_ts, count) if n < len(t)]
    if len(new[0]):
        firsts.append(int(new[0][0]))
    if not firsts:                       # nothing dropped, nothing new: the same order
        return ts, code, rows
    cut = int(np.searchsorted(ts, min(firsts), side="left"))
    t2, c2, r2 = ts[cut:], code[cut:], rows[cut:]
    keep = r2 < count[c2]
    if not keep.all():
        t2, c2, r2 = t2[keep], c2[keep], r2[keep]
    merged = _insert_sorted((t2, c2, r2), new, n_codes)
    if merged is None or cut == 0:
        return merged
    return tuple(np.concatenate([whole[:cut], tail]) for whole, tail in
                 zip((ts, code, rows), merged))


def kept_rows(previous: EventIndex | MergeBase, index: EventIndex):
    """Per kind of `previous`: (first row of it that `index` still holds, how many rows from
    there hold the same events), as two int64 arrays; None when the kinds' rows cannot be
    matched (a kind whose first row of `index` is not a row of `previous`)."""
    n = len(previous.kinds)
    start, count = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for c, kind in enumerate(previous.kinds):
        if kind not in index.kinds:
            continue
        old, new = previous.kind_ts[c], index.kind_ts[index.kinds.index(kind)]
        s = int(np.searchsorted(old, new[0], side="left"))
        n_same = min(len(old) - s, len(new))
        differ = np.flatnonzero(old[s:s + n_same] != new[:n_same])
        start[c], count[c] = s, int(differ[0]) if len(differ) else n_same
    return start, count


def _new_rows(kind_ts, kept: dict[int, int]):
    """(ts, code, rows) of the rows after each kind's kept ones, in merged order."""
    parts = [(t[kept.get(c, 0):], c, kept.get(c, 0)) for c, t in enumerate(kind_ts)]
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int64)
    ts = np.concatenate([p[0] for p in parts])
    code = np.concatenate([np.full(len(p[0]), p[1], np.int16) for p in parts])
    rows = np.concatenate([np.arange(p[2], p[2] + len(p[0]), dtype=np.int64) for p in parts])
    order = np.argsort(ts, kind="stable")
    return ts[order], code[order], rows[order]


def _insert_sorted(kept, new, n_codes: int):
    """Merge two (ts, code, rows) sequences sorted by (ts, code); on equal (ts, code) the kept
    one first. None when the (ts, code) keys of the overlap do not fit one int64."""
    kt, kc, kr = kept
    nt, nc, nr = new
    if not len(nt):
        return kt, kc, kr
    if not len(kt):
        return nt, nc, nr
    at = int(np.searchsorted(kt, nt[0], side="left"))   # kept rows before it stay in front
    if at == len(kt):                                    # everything new is later: append
        return np.concatenate([kt, nt]), np.concatenate([kc, nc]), np.concatenate([kr, nr])
    base = int(nt[0])
    if (max(int(kt[-1]), int(nt[-1])) - base + 1) * n_codes >= 2 ** 63:
        return None
    tail_key = (kt[at:] - base) * n_codes + kc[at:]
    new_key = (nt - base) * n_codes + nc
    where = at + np.searchsorted(tail_key, new_key, side="right")
    return tuple(np.insert(old, where, add) for old, add in ((kt, nt), (kc, nc), (kr, nr)))


class _Columns:
    """A kind's columns as kind_mask reads them (`in`, [] and len), read one at a time from
    Frames.column: no DataFrame of the other columns is built."""

    def __init__(self, frames: Frames, kind: str, n: int):
        self.frames, self.kind, self.n = frames, kind, n
        self._read: dict[str, pd.Series | None] = {}

    def __len__(self) -> int:
        return self.n

    def __contains__(self, col: str) -> bool:
        return self[col] is not None

    def __getitem__(self, col: str) -> pd.Series | None:
        if col not in self._read:
            self._read[col] = self.frames.column(self.kind, col)
        return self._read[col]


def _ts_column(frames: Frames, kind: str) -> np.ndarray:
    return frames.column(kind, "ts_ns").to_numpy(dtype=np.int64)


def _is_sorted(ts: np.ndarray) -> bool:
    return bool(len(ts) < 2 or (ts[1:] >= ts[:-1]).all())


def _line(kind: str, rec: pd.Series, t0_ns: int) -> str:
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
