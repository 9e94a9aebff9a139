"""Helpers shared by every test tier. Import as `from tests.support import require, ROOT`.

(Not from `conftest`: with several conftest.py files in the tree, the module named "conftest"
is whichever was imported first, so `from conftest import ...` breaks in whole-suite runs.)
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample-traces"


def require(ok: bool, reason: str) -> None:
    """Skip when the machine cannot run this test, unless GEMSCOPE_REQUIRE_KERNEL=1: then fail."""
    if ok:
        return
    if os.environ.get("GEMSCOPE_REQUIRE_KERNEL") == "1":
        pytest.fail(f"required but unavailable: {reason}")
    pytest.skip(reason)
