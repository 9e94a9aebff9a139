"""Events as pandas: one DataFrame per kind, holding only that kind's columns, with declared dtypes.

Dtypes: a column with no nulls gets its plain numpy dtype (int64 ns, uint64 addresses...); a column
with nulls gets pandas' nullable dtype (Int64, boolean) so that "unknown" stays distinct from zero.
Text columns (comm, context, stage, caller, api ...) become categoricals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from . import schema
from .recording import Recording, open_recording

# Free-text columns that are rarely repeated stay plain strings.
_NOT_CATEGORY = {"frames", "payload", "reason"}


def empty_frame(kind: str) -> pd.DataFrame:
    cols = [c for c in schema.kind_columns(kind) if c != "kind"]
    return pd.DataFrame({c: pd.Series([], dtype=_empty_dtype(c)) for c in cols})


def _empty_dtype(col: str):
    t = schema.FIELDS[col].type
    if pa.types.is_string(t):
        return "category" if col not in _NOT_CATEGORY else "object"
    if pa.types.is_boolean(t):
        return "bool"
    return t.to_pandas_dtype()


@dataclass
class Frames:
    """All events of a recording, split by kind. Missing kinds are empty frames (with columns).

    `present` says which kinds actually occurred; `meta` is the recording metadata, and
    `probe_plan` the attach plan the analyses consult to tell "not recorded" from "did not happen".
    `by_kind` is a dict, or a `chunked_frames.LazyKinds` (a buffer's snapshot) that builds a
    kind's DataFrame on first access. `time_sorted`: every frame is sorted by ts_ns (then
    `window` slices by binary search without checking).
    """
    by_kind: Mapping[str, pd.DataFrame]
    meta: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    time_sorted: bool = False

    def __getitem__(self, kind: str) -> pd.DataFrame:
        df = self.by_kind.get(kind)
        return df if df is not None else empty_frame(kind)

    def count(self, kind: str) -> int:
        """Rows of a kind (without building a lazy frame)."""
        rows = getattr(self.by_kind, "rows", None)
        if rows is not None:
            return rows(kind)
        df = self.by_kind.get(kind)
        return 0 if df is None else len(df)

    def column(self, kind: str, col: str) -> pd.Series | None:
        """One column of a kind's frame, None if the kind has no such column. On a buffer's
        snapshot this reads that column only (no DataFrame of the other columns is built)."""
        lazy = getattr(self.by_kind, "column", None)
        if lazy is not None and kind in self.by_kind:
            return lazy(kind, col)
        df = self[kind]
        return df[col] if col in df else None

    def has(self, kind: str) -> bool:
        return self.count(kind) > 0

    @property
    def present(self) -> set[str]:
        return {k for k in self.by_kind if self.count(k)}

    @property
    def probe_plan(self) -> dict[str, Any]:
        return self.meta.get("probe_plan") or {}

    def recorded(self, kind: str) -> bool:
        """Whether the source was able to record this kind at all (even if none happened).

        A recording's metadata lists the kinds its probes could produce (`recorded_kinds`);
        without that list, a kind is taken as recorded only if events of it are present.
        """
        kinds = self.meta.get("recorded_kinds")
        if isinstance(kinds, list):
            return kind in kinds or self.has(kind)
        return self.has(kind)

    @property
    def time_range_ns(self) -> tuple[int, int] | None:
        lazy = getattr(self.by_kind, "time_range_ns", None)
        if lazy is not None:
            return lazy()
        lo, hi = None, None
        for k, df in self.by_kind.items():
            if k in ("stack", "probe_status") or not len(df):
                continue
            ts = df["ts_ns"].to_numpy()
            end = ts + df["duration_ns"].fillna(0).to_numpy(dtype=np.int64) \
                if "duration_ns" in df else ts
            lo = int(ts.min()) if lo is None else min(lo, int(ts.min()))
            hi = int(end.max()) if hi is None else max(hi, int(end.max()))
        return None if lo is None else (lo, hi)

    def window(self, start_ns: int | None, end_ns: int | None) -> "Frames":
        """Events that start in [start_ns, end_ns); stacks and probe status are kept whole.

        Rows are found by binary search on the sorted ts_ns (O(log n) per kind) and returned as
        row slices (views, original index labels kept), the same rows a boolean mask selects."""
        lazy = getattr(self.by_kind, "window", None)
        if lazy is not None:
            return Frames(lazy(start_ns, end_ns), self.meta, self.truncated, True)
        out = {}
        for k, df in self.by_kind.items():
            if k in ("stack", "probe_status") or not len(df):
                out[k] = df
                continue
            out[k] = _time_slice(df, start_ns, end_ns, self.time_sorted)
        return Frames(out, self.meta, self.truncated, self.time_sorted)

    def stacks(self) -> dict[int, str]:
        df = self["stack"]
        return dict(zip(df["stack_id"].astype("int64"), df["frames"].astype(str)))

    @property
    def nbytes(self) -> int:
        return int(sum(df.memory_usage(deep=True, index=True).sum() for df in self.by_kind.values()))


def _time_slice(df: pd.DataFrame, start_ns: int | None, end_ns: int | None,
                known_sorted: bool) -> pd.DataFrame:
    col = df["ts_ns"]
    if col.dtype != np.int64 or not (known_sorted or col.is_monotonic_increasing):
        m = np.ones(len(df), dtype=bool)       # unsorted or nullable ts: the plain mask
        if start_ns is not None:
            m &= (col >= start_ns).to_numpy(dtype=bool, na_value=False)
        if end_ns is not None:
            m &= (col < end_ns).to_numpy(dtype=bool, na_value=False)
        return df[m]
    ts = col.to_numpy()
    a = 0 if start_ns is None else int(np.searchsorted(ts, start_ns, side="left"))
    b = len(ts) if end_ns is None else max(a, int(np.searchsorted(ts, end_ns, side="left")))
    return df.iloc[a:b]


def frames_from_table(table: pa.Table, meta: Mapping[str, Any] | None = None,
                      truncated: bool = False) -> Frames:
    return frames_from_batches(table.to_batches(), meta, truncated)


def split_by_kind(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[str, pa.RecordBatch]]:
    """(kind, batch of that kind's own columns) for every non-empty batch, in order; a mixed
    batch (foreign writer) is split; kinds this version does not know are skipped."""
    def own(kind: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        # Keep only the kind's own columns right away: the other ~70 columns of the on-disk
        # union schema are all null here, and dropping them now frees their decompressed
        # buffers batch by batch instead of holding the whole file's worth until the end.
        names = set(batch.schema.names)
        return batch.select([c for c in schema.kind_columns(kind) if c != "kind" and c in names])

    for b in batches:
        if b.num_rows == 0:
            continue
        kinds = b.column(b.schema.get_field_index("kind"))
        first = kinds[0].as_py()
        if first is not None and pa.compute.all(pa.compute.equal(kinds, first)).as_py():
            if first in schema.KINDS:        # else a newer writer's kind: not ours to interpret
                yield first, own(first, b)
            continue
        for k in pa.compute.unique(kinds).to_pylist():
            if k is not None and k in schema.KINDS:
                yield k, own(k, b.filter(pa.compute.equal(kinds, k)))


def frames_from_batches(batches: Iterable[pa.RecordBatch], meta: Mapping[str, Any] | None = None,
                        truncated: bool = False) -> Frames:
    groups: dict[str, list[pa.RecordBatch]] = {}
    for kind, b in split_by_kind(batches):
        groups.setdefault(kind, []).append(b)
    out = {}
    for kind, bs in groups.items():
        cols = [c for c in schema.kind_columns(kind) if c != "kind"]
        out[kind] = _to_pandas(pa.Table.from_batches(bs), cols)
    return Frames(out, dict(meta or {}), truncated, time_sorted=True)


def _to_pandas(table: pa.Table, cols: list[str]) -> pd.DataFrame:
    data = {}
    n = table.num_rows
    for c in cols:
        if c not in table.column_names:
            data[c] = pd.Series(pd.array([None] * n, dtype=_nullable(c)))
            continue
        arr = table.column(c).combine_chunks()
        t = arr.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            if c in _NOT_CATEGORY:
                data[c] = pd.Series(arr.to_pylist(), dtype=object)
            else:
                data[c] = pd.Categorical.from_codes(*_dict_codes(arr))
        elif arr.null_count == 0:
            data[c] = arr.to_numpy(zero_copy_only=False)
        else:
            data[c] = pd.Series(arr.to_pandas(types_mapper=pd.ArrowDtype)).astype(_nullable(c))
    df = pd.DataFrame(data)
    return df.sort_values("ts_ns", kind="stable", ignore_index=True) \
        if not df["ts_ns"].is_monotonic_increasing else df


def _dict_codes(arr: pa.Array):
    enc = arr.dictionary_encode()
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return codes, pd.Index(enc.dictionary.to_pylist(), dtype=object)


def _nullable(col: str):
    t = schema.FIELDS[col].type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t):
        return "object"
    return {pa.int16(): "Int16", pa.int32(): "Int32", pa.int64(): "Int64",
            pa.uint32(): "UInt32", pa.uint64(): "UInt64"}[t]


def _columns_of_kind(kind: str) -> tuple[str, ...]:
    """The columns a kind's frame is built from (none for a kind this version does not know)."""
    return schema.kind_columns(kind) if kind in schema.KINDS else ()


def load_frames(path_or_recording: str | Recording) -> Frames:
    """Load a whole recording into per-kind frames (the analyses' input)."""
    rec = path_or_recording if isinstance(path_or_recording, Recording) \
        else open_recording(path_or_recording)
    try:
        frames = frames_from_batches(rec.iter_batches(columns_of_kind=_columns_of_kind), rec.meta)
        frames.truncated = rec.truncated
        # Decompressing batches churns through Arrow's pool (all ~80 union columns of every
        # batch); hand that memory back so a long-lived process keeps only the frames.
        pa.default_memory_pool().release_unused()
        return frames
    finally:
        if rec is not path_or_recording:
            rec.close()


def frames_from_rows(rows_by_kind: Mapping[str, list[Mapping[str, Any]]],
                     meta: Mapping[str, Any] | None = None) -> Frames:
    """Build Frames straight from dict rows (tests, small sources). Missing fields are null."""
    batches = []
    sch = schema.arrow_schema()
    for kind, rows in rows_by_kind.items():
        if not rows:
            continue
        cols = {}
        for f in sch:
            if f.name == "kind":
                cols[f.name] = pa.array([kind] * len(rows))
            else:
                cols[f.name] = pa.array([r.get(f.name) for r in rows], type=f.type)
        batches.append(pa.RecordBatch.from_pydict(cols, schema=sch))
    return frames_from_batches(batches, meta)
