"""PNG plots for a bundle's summary (matplotlib, Agg backend: no display needed).

The numbers come from the frames and from the retire analysis' per-run table, so the plots agree
with the report next to them. Plotting lives here, never inside an analysis.
"""
from __future__ import annotations

import io
from typing import Mapping

import numpy as np
import pandas as pd

from ..analyses.base import Result
from ..frames import Frames

FREE_HIST_NAME = "plots/free_duration_hist.png"
RETIRE_SPLIT_NAME = "plots/retire_run_split.png"
_TOP_RUNS = 30


def _figure(width: float = 7.5, height: float = 4.0):
    import matplotlib
    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure   # no pyplot: no global state, no GUI backend
    return Figure(figsize=(width, height), dpi=100)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # fixed metadata (no creation time) keeps the bytes, and so the digest, reproducible
    fig.savefig(buf, format="png", metadata={"Software": "gemscope"})
    return buf.getvalue()


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def free_duration_histogram(frames: Frames) -> bytes:
    """Log-binned histogram of msm_gem_free_object durations, one step line per context."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.set_title("finalizer (msm_gem_free_object) duration")
    free = frames["free"]
    dur = free["duration_ns"]
    known = dur.notna().to_numpy()
    if not frames.recorded("free"):
        _message(ax, "free events were not recorded: cannot answer")
        return _png(fig)
    if not known.any():
        _message(ax, "no free with a known duration")
        return _png(fig)
    us = dur.to_numpy(dtype=np.float64, na_value=np.nan)[known] / 1e3
    lo, hi = max(us.min(), 1e-3), max(us.max(), 1e-3)
    bins = np.logspace(np.log10(lo), np.log10(hi * 1.0001) + 1e-9, 40)
    contexts = free["context"].astype(object).where(free["context"].notna(), "unknown")
    ctx = contexts.to_numpy()[known]
    for name in pd.unique(ctx):
        ax.hist(us[ctx == name], bins=bins, histtype="step", linewidth=1.5,
                label=f"{name} ({int((ctx == name).sum())})")
    ax.set_xscale("log")
    ax.set_xlabel("duration (µs, log scale)")
    ax.set_ylabel("frees")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def retire_run_split(results: Mapping[str, Result]) -> bytes:
    """Left: total retire-worker time split into finalizers / reservation waits / other.
    Right: the same split for the longest runs (from the retire analysis' `runs` table)."""
    fig = _figure(9.0, 4.0)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    res = results.get("retire")
    if res is None or not res.answerable:
        why = "retire runs were not recorded" if res is None else \
            f"cannot answer: no {', '.join(res.missing)} events"
        _message(left, why)
        _message(right, why)
        return _png(fig)
    h = res.headline
    parts = [("finalizers", h.get("retire_finalizer_ns")), ("resv waits", h.get("retire_resv_wait_ns")),
             ("other", h.get("retire_other_ns"))]
    parts = [(n, v) for n, v in parts if v is not None]
    left.bar([n for n, _ in parts], [v / 1e6 for _, v in parts],
             color=["tab:red", "tab:orange", "tab:gray"][:len(parts)])
    left.set_ylabel("ms (all runs)")
    left.set_title(f"retire worker: {h.get('retire_runs', 0)} runs")
    runs = res.tables.get("runs")
    if runs is None or not len(runs):
        _message(right, "no retire runs")
    else:
        top = runs.head(_TOP_RUNS)
        x = np.arange(len(top))
        bottom = np.zeros(len(top))
        for col, color in (("finalizer_ns", "tab:red"), ("resv_wait_ns", "tab:orange"),
                           ("other_ns", "tab:gray")):
            if col not in top:
                continue
            v = top[col].to_numpy(dtype=np.float64, na_value=0.0) / 1e3
            right.bar(x, v, bottom=bottom, color=color, label=col.removesuffix("_ns"))
            bottom += v
        right.set_xlabel(f"the {len(top)} longest runs")
        right.set_ylabel("µs")
        right.set_xticks([])
        right.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)
