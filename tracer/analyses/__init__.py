"""The analyses that turn frames into answers to the msm questions, and `run_all`.

Each module defines one `Analysis` (see base.py): pure, vectorized, frames in, Result out.
Headline keys are a contract shared with the simulator's ground-truth manifests
(docs/contributing.md, "Headline keys").
"""
from __future__ import annotations

from ..frames import Frames
from . import contention, finalizers, reclaim_risks, retire, shrinker, trylock
from .base import Analysis, Result

# Display order: the thread's questions, from locks to reclaim.
ALL: list[Analysis] = [
    contention.ANALYSIS,
    trylock.ANALYSIS,
    finalizers.ANALYSIS,
    retire.ANALYSIS,
    shrinker.ANALYSIS,
    reclaim_risks.ANALYSIS,
]

BY_NAME: dict[str, Analysis] = {a.name: a for a in ALL}


def run_all(frames: Frames) -> dict[str, Result]:
    """Every analysis on the same frames, in display order; unanswerable ones say why."""
    return {a.name: a(frames) for a in ALL}


__all__ = ["ALL", "BY_NAME", "Analysis", "Result", "run_all"]
