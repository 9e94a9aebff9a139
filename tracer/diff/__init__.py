"""A/B comparison of two recordings (or bundles) with statistics: see compare.py and stats.py."""
from __future__ import annotations

from typing import Any


def diff_paths(path_a: str, path_b: str, **options) -> dict[str, Any]:
    """Load two recordings or bundles, analyse both, compare (the `gemscope diff` JSON)."""
    from ..analyses import run_all
    from ..bundle import open_input
    from ..frames import load_frames
    from .compare import diff_frames
    with open_input(path_a) as pa_:
        fa = load_frames(pa_)
    with open_input(path_b) as pb_:
        fb = load_frames(pb_)
    return diff_frames(fa, fb, run_all(fa), run_all(fb), labels=(str(path_a), str(path_b)),
                       **options)
