"""Shared test helpers."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample-traces"
sys.path.insert(0, str(ROOT))


def require(ok: bool, reason: str) -> None:
    """Skip when the machine cannot run this test, unless GEMSCOPE_REQUIRE_KERNEL=1: then fail."""
    if ok:
        return
    if os.environ.get("GEMSCOPE_REQUIRE_KERNEL") == "1":
        pytest.fail(f"required but unavailable: {reason}")
    pytest.skip(reason)
