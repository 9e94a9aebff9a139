"""Events kept as per-kind lists of immutable column chunks, and Frames built from them lazily.

Why: a source that keeps appending (a live session, a big recording being read) must not copy
every event each time a consumer asks for a snapshot. `ChunkStore.add_batches` converts only the
new Arrow batches into numpy column chunks; `ChunkStore.view()` returns a frozen mapping
(`LazyKinds`) that Frames uses as its `by_kind`: a kind's DataFrame is built (and cached) only
when someone reads it, and `window(t0, t1)` finds its rows by binary search over the sorted
chunks, so "the last N seconds" costs O(rows in the window), not O(rows in the buffer).

The DataFrames are the same as `frames.frames_from_batches` would build from all batches (same
columns, dtypes, categories in first-appearance order, nulls, stable time order, RangeIndex):
tests/tui/test_chunked_frames.py checks it. Chunks are never written after they are made; rows
that arrive out of time order replace the affected tail chunks by new ones, so every view handed
out earlier keeps its own consistent events.
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import schema

# Tail chunks are merged pairwise (like a binary counter) up to this many rows, so a kind holds
# O(rows / CHUNK_ROWS + log rows) chunks and each row is copied O(log) times on average.
CHUNK_ROWS = 1 << 20
NOT_WINDOWED = ("stack", "probe_status")     # side tables: a window keeps them whole
NOT_CATEGORY = frozenset({"frames", "payload", "reason"})


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    how: str              # "cat" (string -> categorical codes), "obj" (free text), "num"
    dtype: np.dtype       # numpy dtype of the values (codes: int32)


def _spec(col: str) -> ColumnSpec:
    t = schema.FIELDS[col].type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        how = "obj" if col in NOT_CATEGORY else "cat"
        return ColumnSpec(col, how, np.dtype(object if how == "obj" else np.int32))
    return ColumnSpec(col, "num", np.dtype(t.to_pandas_dtype()))


_SPECS: dict[str, tuple[ColumnSpec, ...]] = {}


def kind_specs(kind: str) -> tuple[ColumnSpec, ...]:
    if kind not in _SPECS:
        _SPECS[kind] = tuple(_spec(c) for c in schema.kind_columns(kind) if c != "kind")
    return _SPECS[kind]


@dataclass(frozen=True)
class Chunk:
    """`n` rows of one kind, sorted by ts_ns: values per column, null masks where any."""
    n: int
    cols: Mapping[str, np.ndarray]
    masks: Mapping[str, np.ndarray]

    @property
    def ts(self) -> np.ndarray:
        return self.cols["ts_ns"]

    def slice(self, a: int, b: int) -> "Chunk":
        if a == 0 and b == self.n:
            return self
        return Chunk(b - a, {c: v[a:b] for c, v in self.cols.items()},
                     {c: m[a:b] for c, m in self.masks.items()})

    def take(self, order: np.ndarray) -> "Chunk":
        return Chunk(self.n, {c: v[order] for c, v in self.cols.items()},
                     {c: m[order] for c, m in self.masks.items()})


def concat_chunks(chunks: list[Chunk]) -> Chunk:
    if len(chunks) == 1:
        return chunks[0]
    n = sum(c.n for c in chunks)
    cols = {name: np.concatenate([c.cols[name] for c in chunks]) for name in chunks[0].cols}
    masked = {name for c in chunks for name in c.masks}
    masks = {name: np.concatenate([c.masks[name] if name in c.masks else np.zeros(c.n, bool)
                                   for c in chunks]) for name in masked}
    return Chunk(n, cols, masks)


class KindStore:
    """The growing events of one kind (mutated only by ChunkStore.add_batches)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.specs = kind_specs(kind)
        self.has_duration = any(s.name == "duration_ns" for s in self.specs)
        self.chunks: list[Chunk] = []
        self.lasts: list[int] = []               # last ts_ns of each chunk
        self.categories: dict[str, list] = {s.name: [] for s in self.specs if s.how == "cat"}
        self._codes: dict[str, dict] = {name: {} for name in self.categories}
        self._index_cache: dict[str, pd.Index] = {}
        self.nullable: set[str] = set()          # columns with a null somewhere
        self.present: set[str] = set()           # columns some batch carried
        self.rows = 0
        self.max_end: int | None = None          # max of ts_ns + duration_ns (null = 0)

    # --- conversion -----------------------------------------------------------------------
    def encode(self, batch: pa.RecordBatch) -> Chunk:
        """One batch of this kind as an unsorted chunk (categories grow in order of appearance,
        as Arrow's dictionary_encode of all batches in arrival order would number them)."""
        n = batch.num_rows
        names = batch.schema.names
        cols, masks = {}, {}
        for s in self.specs:
            arr = batch.column(names.index(s.name)) if s.name in names else None
            if arr is not None:
                self.present.add(s.name)
            if s.how == "cat":
                cols[s.name] = self._encode_strings(s.name, arr, n)
            elif s.how == "obj":
                cols[s.name] = np.array(arr.to_pylist() if arr is not None else [None] * n,
                                        dtype=object)
            elif arr is None:
                cols[s.name], masks[s.name] = np.zeros(n, s.dtype), np.ones(n, bool)
            elif arr.null_count:
                masks[s.name] = arr.is_null().to_numpy(zero_copy_only=False)
                fill = False if s.dtype == np.bool_ else 0
                cols[s.name] = arr.fill_null(fill).to_numpy(zero_copy_only=False) \
                    .astype(s.dtype, copy=False)
            else:
                cols[s.name] = arr.to_numpy(zero_copy_only=False).astype(s.dtype, copy=False)
        return Chunk(n, cols, masks)

    def _encode_strings(self, col: str, arr, n: int) -> np.ndarray:
        if arr is None or arr.null_count == n:
            return np.full(n, -1, np.int32)
        enc = arr.dictionary_encode()
        table, known = self.categories[col], self._codes[col]
        lut = np.empty(len(enc.dictionary), np.int32)
        for i, v in enumerate(enc.dictionary.to_pylist()):
            code = known.get(v)
            if code is None:
                code = known[v] = len(table)
                table.append(v)
            lut[i] = code
        idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
        return np.where(idx >= 0, lut[np.clip(idx, 0, None)], -1).astype(np.int32)

    def add(self, pieces: list[Chunk]) -> None:
        """Rows of these batches (in arrival order) into the sorted chunks."""
        part = concat_chunks(pieces)
        if not part.n:
            return
        ts = part.ts
        if part.n > 1 and not (ts[1:] >= ts[:-1]).all():
            part = part.take(np.argsort(ts, kind="stable"))
        self.nullable.update(part.masks)
        self.rows += part.n
        end = int((part.ts + part.cols["duration_ns"]).max()) if self.has_duration \
            else int(part.ts[-1])
        self.max_end = end if self.max_end is None else max(self.max_end, end)
        self._insert(part)

    def _insert(self, part: Chunk) -> None:
        first = int(part.ts[0])
        i = bisect.bisect_right(self.lasts, first)   # chunks from i on hold a later event
        if i == len(self.chunks):
            self._set_tail(len(self.chunks), [part])
            self._compact()
            return
        c = self.chunks[i]
        p = int(np.searchsorted(c.ts, first, side="right"))
        old = concat_chunks([c.slice(p, c.n)] + self.chunks[i + 1:])
        both = concat_chunks([old, part])
        # stable: on equal times the rows that arrived first stay first, as a full sort keeps them
        merged = both.take(np.argsort(both.ts, kind="stable"))
        head = [c.slice(0, p)] if p else []
        self._set_tail(i, head + [merged.slice(a, min(a + CHUNK_ROWS, merged.n))
                                  for a in range(0, merged.n, CHUNK_ROWS)])
        self._compact()      # late rows arrive every tick from a live source: keep chunks few

    def _set_tail(self, i: int, chunks: list[Chunk]) -> None:
        self.chunks[i:] = chunks
        self.lasts[i:] = [int(c.ts[-1]) for c in chunks]

    def _compact(self) -> None:
        ch = self.chunks
        while len(ch) >= 2 and ch[-2].n <= ch[-1].n and ch[-2].n + ch[-1].n <= CHUNK_ROWS:
            self._set_tail(len(ch) - 2, [concat_chunks(ch[-2:])])

    # --- views ----------------------------------------------------------------------------
    def category_index(self, col: str) -> pd.Index:
        table = self.categories[col]
        idx = self._index_cache.get(col)
        if idx is None or len(idx) != len(table):
            idx = self._index_cache[col] = pd.Index(list(table), dtype=object)
        return idx

    def view(self) -> "KindView":
        starts = np.zeros(len(self.chunks) + 1, np.int64)
        np.cumsum([c.n for c in self.chunks], out=starts[1:])
        first = int(self.chunks[0].ts[0]) if self.chunks else None
        return KindView(self.kind, self.specs, tuple(self.chunks), starts,
                        np.array(self.lasts, np.int64),
                        {c: self.category_index(c) for c in self.categories},
                        frozenset(self.nullable), frozenset(self.present), self.rows,
                        first, self.max_end, self.has_duration)

    @classmethod
    def from_frame(cls, kind: str, df: pd.DataFrame) -> "KindStore":
        """A store holding a DataFrame built by frames_from_batches (or a view of this module)."""
        st = cls(kind)
        if not df["ts_ns"].is_monotonic_increasing:
            df = df.sort_values("ts_ns", kind="stable", ignore_index=True)
        n = len(df)
        cols, masks = {}, {}
        for s in st.specs:
            if s.name not in df:                # not a column of this frame: all null
                if s.how == "num":
                    cols[s.name], masks[s.name] = np.zeros(n, s.dtype), np.ones(n, bool)
                else:
                    cols[s.name] = np.full(n, -1, np.int32) if s.how == "cat" \
                        else np.full(n, None, object)
                continue
            col = df[s.name]
            if s.how == "cat" and isinstance(col.dtype, pd.CategoricalDtype):
                st.present.add(s.name)
                cats = list(col.cat.categories)
                st.categories[s.name], st._codes[s.name] = cats, {v: i for i, v in enumerate(cats)}
                cols[s.name] = col.cat.codes.to_numpy().astype(np.int32)
                continue
            if s.how == "cat":     # a string column that was never recorded: all null
                cols[s.name] = np.full(n, -1, np.int32)
                continue
            st.present.add(s.name)
            if s.how == "obj":
                cols[s.name] = col.to_numpy(dtype=object)
                continue
            na = col.isna().to_numpy()
            if na.any() or isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
                masks[s.name] = na
                st.nullable.add(s.name)
                cols[s.name] = col.to_numpy(dtype=s.dtype, na_value=False if s.dtype == np.bool_
                                            else 0)
            else:
                cols[s.name] = col.to_numpy().astype(s.dtype, copy=False)
        if n:
            st.add([Chunk(n, cols, masks)])
            st.nullable.update(masks)
        return st


@dataclass(frozen=True)
class KindView:
    """A frozen view of one kind's store: the chunks at snapshot time."""
    kind: str
    specs: tuple[ColumnSpec, ...]
    chunks: tuple[Chunk, ...]
    starts: np.ndarray        # row offset of each chunk, then the total
    lasts: np.ndarray         # last ts_ns of each chunk
    categories: Mapping[str, pd.Index]
    nullable: frozenset
    present: frozenset
    rows: int
    first_ts: int | None
    max_end: int | None
    has_duration: bool

    def position(self, t: int) -> int:
        """How many rows start before t."""
        j = int(np.searchsorted(self.lasts, t, side="left"))
        if j >= len(self.chunks):
            return self.rows
        return int(self.starts[j]) + int(np.searchsorted(self.chunks[j].ts, t, side="left"))

    def pieces(self, a: int, b: int) -> list[Chunk]:
        if a >= b:
            return []
        j0 = int(np.searchsorted(self.starts, a, side="right")) - 1
        j1 = int(np.searchsorted(self.starts, b, side="left"))
        out = []
        for j in range(j0, j1):
            s = int(self.starts[j])
            out.append(self.chunks[j].slice(max(a - s, 0), min(b - s, self.chunks[j].n)))
        return out

    def time_range(self, a: int, b: int) -> tuple[int, int] | None:
        if a >= b:
            return None
        if a == 0 and b == self.rows:
            return self.first_ts, self.max_end
        ps = self.pieces(a, b)
        hi = max(int((p.ts + p.cols["duration_ns"]).max()) if self.has_duration
                 else int(p.ts[-1]) for p in ps)
        return int(ps[0].ts[0]), hi

    def frame(self, a: int, b: int) -> pd.DataFrame:
        """Rows [a, b) as the DataFrame frames_from_batches would hold (index a..b-1)."""
        ps = self.pieces(a, b)
        index = pd.RangeIndex(a, a + max(b - a, 0))
        return pd.DataFrame({s.name: self._values(ps, s, index) for s in self.specs},
                            index=index, copy=False)

    def column(self, a: int, b: int, name: str) -> pd.Series | None:
        """One column of rows [a, b) (what frame(a, b)[name] holds, without the others)."""
        spec = next((s for s in self.specs if s.name == name), None)
        if spec is None:
            return None
        index = pd.RangeIndex(a, a + max(b - a, 0))
        return pd.Series(self._values(self.pieces(a, b), spec, index), index=index, name=name,
                         copy=False)

    def _values(self, ps: list[Chunk], s: ColumnSpec, index: pd.RangeIndex):
        n = len(index)
        vals = _cat([p.cols[s.name] for p in ps], s.dtype)
        if s.name not in self.present:
            out = _all_null(s, n)
            return pd.Series(out, dtype=object, index=index) if s.how != "num" else out
        if s.how == "cat":
            return pd.Categorical.from_codes(
                vals, dtype=pd.CategoricalDtype(self.categories[s.name]), validate=False)
        if s.how == "obj":          # kept object (pandas would infer its string dtype)
            return pd.Series(vals, dtype=object, index=index, copy=False)
        if s.name not in self.nullable:
            return vals
        mask = _cat([p.masks[s.name] if s.name in p.masks else np.zeros(p.n, bool)
                     for p in ps], np.dtype(bool))
        return pd.arrays.BooleanArray(vals, mask) if s.dtype == np.bool_ \
            else pd.arrays.IntegerArray(vals, mask)


def _cat(arrays: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    if not arrays:
        return np.zeros(0, dtype)
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _all_null(s: ColumnSpec, n: int):
    if s.how != "num":
        return np.full(n, None, object)
    if s.dtype == np.bool_:
        return pd.arrays.BooleanArray(np.zeros(n, bool), np.ones(n, bool))
    return pd.arrays.IntegerArray(np.zeros(n, s.dtype), np.ones(n, bool))


class LazyKinds(Mapping):
    """Frames.by_kind over chunk views: {kind: DataFrame of rows [a, b)}, each built on first
    access (then cached). `rows`, `time_range_ns` and `window` never build a DataFrame."""

    def __init__(self, ranges: Mapping[str, tuple[KindView, int, int]]):
        self._ranges = dict(ranges)
        self._frames: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()

    def __getitem__(self, kind: str) -> pd.DataFrame:
        df = self._frames.get(kind)
        if df is None:
            view, a, b = self._ranges[kind]          # KeyError for a kind not held
            with self._lock:
                df = self._frames.get(kind)
                if df is None:
                    df = self._frames[kind] = view.frame(a, b)
        return df

    def __contains__(self, kind) -> bool:     # (Mapping's default would build the frame)
        return kind in self._ranges

    def __iter__(self) -> Iterator[str]:
        return iter(self._ranges)

    def __len__(self) -> int:
        return len(self._ranges)

    def column(self, kind: str, name: str) -> pd.Series | None:
        """One column of a kind (from its DataFrame if built, else from the chunks alone)."""
        df = self._frames.get(kind)
        if df is not None:
            return df[name] if name in df else None
        r = self._ranges.get(kind)
        return None if r is None else r[0].column(r[1], r[2], name)

    def rows(self, kind: str) -> int:
        r = self._ranges.get(kind)
        return 0 if r is None else max(0, r[2] - r[1])

    def time_range_ns(self) -> tuple[int, int] | None:
        lo = hi = None
        for kind, (view, a, b) in self._ranges.items():
            if kind in NOT_WINDOWED:
                continue
            r = view.time_range(a, b)
            if r is None:
                continue
            lo = r[0] if lo is None else min(lo, r[0])
            hi = r[1] if hi is None else max(hi, r[1])
        return None if lo is None else (lo, hi)

    def window(self, start_ns: int | None, end_ns: int | None) -> "LazyKinds":
        out = {}
        for kind, (view, a, b) in self._ranges.items():
            if kind in NOT_WINDOWED:
                out[kind] = (view, a, b)
                continue
            lo = a if start_ns is None else min(max(view.position(start_ns), a), b)
            hi = b if end_ns is None else min(max(view.position(end_ns), lo), b)
            out[kind] = (view, lo, hi)
        return LazyKinds(out)


class ChunkStore:
    """Every kind's KindStore; `add_batches` takes batches as frames_from_batches does."""

    def __init__(self):
        self.kinds: dict[str, KindStore] = {}

    def add_batches(self, batches: Iterable[pa.RecordBatch]) -> None:
        from .frames import split_by_kind
        pieces: dict[str, list[Chunk]] = {}
        for kind, b in split_by_kind(batches):
            st = self.kinds.get(kind)
            if st is None:
                st = self.kinds[kind] = KindStore(kind)
            pieces.setdefault(kind, []).append(st.encode(b))
        for kind, ps in pieces.items():
            self.kinds[kind].add(ps)

    def add_frame(self, kind: str, df: pd.DataFrame) -> None:
        self.kinds[kind] = KindStore.from_frame(kind, df)

    @property
    def rows(self) -> int:
        return sum(st.rows for st in self.kinds.values())

    def view(self) -> LazyKinds:
        return LazyKinds({k: (st.view(), 0, st.rows) for k, st in self.kinds.items() if st.rows})
