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


def require_tracefs(tracefs: str = "/sys/kernel/tracing") -> None:
    """Root and a mounted tracefs with instances. gemscope's live commands mount tracefs
    themselves when it is not (a freshly booted machine often has it unmounted); the tests that
    look at tracefs before running one do the same, through the same function."""
    require(os.geteuid() == 0, "needs root")
    if not os.path.isdir(f"{tracefs}/instances"):
        from tracer.live import features
        try:
            features.ensure_tracefs()
        except features.SetupError:
            pass
    require(os.path.isdir(f"{tracefs}/instances"), "no tracefs instances")
