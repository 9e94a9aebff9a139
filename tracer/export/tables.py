"""CSV and Parquet export: one file per event kind, holding that kind's frame as loaded.

Nulls stay nulls (empty CSV cells, Parquet nulls), never zeros; addresses stay uint64. Kinds with
no events are written only when the recording says it could have recorded them (an empty file
with its columns then means "happened zero times"; no file means "not recorded").
"""
from __future__ import annotations

import os

from ..frames import Frames
from ..schema import KINDS


def _kinds_to_write(frames: Frames) -> list[str]:
    return [k for k in KINDS if frames.has(k) or frames.recorded(k)]


def _prepare(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        from ..errors import GemscopeError
        raise GemscopeError(f"{out_dir}: cannot create the output folder ({e.strerror})") from None


def export_csv(frames: Frames, out_dir: str) -> dict[str, int]:
    """Write <out_dir>/<kind>.csv for every kind; returns {kind: rows}."""
    _prepare(out_dir)
    written = {}
    for kind in _kinds_to_write(frames):
        df = frames[kind]
        df.to_csv(os.path.join(out_dir, f"{kind}.csv"), index=False)
        written[kind] = len(df)
    return written


def export_parquet(frames: Frames, out_dir: str) -> dict[str, int]:
    """Write <out_dir>/<kind>.parquet for every kind (pyarrow, zstd); returns {kind: rows}."""
    _prepare(out_dir)
    written = {}
    for kind in _kinds_to_write(frames):
        df = frames[kind]
        df.to_parquet(os.path.join(out_dir, f"{kind}.parquet"), index=False,
                      engine="pyarrow", compression="zstd")
        written[kind] = len(df)
    return written
