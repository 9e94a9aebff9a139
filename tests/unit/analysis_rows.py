"""Helpers for the analysis tests: hand-written events as dict rows, turned into Frames."""
from __future__ import annotations

from tracer.frames import Frames, frames_from_rows


def ev(ts_ns: int, tid: int = 1, comm: str = "task", **fields) -> dict:
    """One event row with the common fields filled in (pid = tid, cpu 0)."""
    return dict(ts_ns=ts_ns, cpu=0, pid=tid, tid=tid, comm=comm, **fields)


def frames(rows: dict[str, list[dict]], recorded: list[str] | None = None) -> Frames:
    """Frames whose recorded_kinds are `recorded` (default: the kinds given in rows)."""
    kinds = list(rows) if recorded is None else recorded
    return frames_from_rows(rows, {"recorded_kinds": kinds})
