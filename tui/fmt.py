"""How numbers read on screen: the report's formatting (tracer.render), so the TUI and
`gemscope report` show the same text for the same number. Tests compare what a view shows with
the analyses' numbers through these functions; their own unit tests pin the exact text."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tracer import render
from tracer.render import fmt_bytes, fmt_ns

__all__ = ["fmt_bytes", "fmt_cell", "fmt_ns", "fmt_value", "is_missing"]
DICT_ITEMS_SHOWN = 4


def is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def fmt_value(key: str, v: Any, limit: int = DICT_ITEMS_SHOWN) -> str:
    """A headline value. A dict shows its `limit` largest entries (the rest are counted)."""
    v = _plain(v)
    if is_missing(v):
        return render.fmt_value(key, None)
    if isinstance(v, dict) and len(v) > limit:
        items = sorted(v.items(), key=lambda kv: (-_num(kv[1]), str(kv[0])))
        shown = render.fmt_value(key, dict(items[:limit]))
        return f"{shown} (+{len(items) - limit} more)"
    return render.fmt_value(key, v)


def fmt_cell(column: str, v: Any, t0_ns: int = 0) -> str:
    """A table cell (unknown -> '-'); a ts_ns cell as seconds after t0_ns, to the µs."""
    v = _plain(v)
    if is_missing(v):
        return "-"
    if column == "ts_ns" and isinstance(v, int):
        return f"{(v - t0_ns) / 1e9:.6f}"
    return render.fmt_cell(column, v)


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0
