"""Host kernel tier: `gemscope bundle create --record` records this machine (tracefs backend, no
BCC needed) and bundles it with the real tracepoint formats of the recorded events."""
from __future__ import annotations

import json
import os

import pytest

from tracer.bundle import open_and_verify, read_text_part
from tracer.cli import main
from tests.support import require_tracefs

pytestmark = pytest.mark.kernel
TRACEFS = "/sys/kernel/tracing"


def require(ok: bool, reason: str) -> None:
    """tests/conftest.py's rule (imported by name it may resolve to another conftest in a
    whole-suite run): skip with a reason, or fail when GEMSCOPE_REQUIRE_KERNEL=1."""
    if ok:
        return
    if os.environ.get("GEMSCOPE_REQUIRE_KERNEL") == "1":
        pytest.fail(f"required but unavailable: {reason}")
    pytest.skip(reason)


def test_bundle_create_record_on_this_host(tmp_path, capsys):
    require_tracefs(TRACEFS)
    require(os.path.exists(f"{TRACEFS}/events/lock/contention_begin/format"),
            "no lock:contention_begin tracepoint")
    out = str(tmp_path / "live.gsbundle")
    assert main(["bundle", "create", "--record", "1", "--backend", "ftrace", "-o", out]) == 0
    contents = open_and_verify(out)
    assert contents.manifest["synthetic"] is False
    env = json.loads(read_text_part(out, "environment.json"))
    assert env["same_machine"] is True
    assert env["recorded_on"]["kernel_release"] == os.uname().release
    assert env["attach_plan"]["plan"]["tracepoint:lock:contention_begin"]["status"] == "attached"

    real = open(f"{TRACEFS}/events/lock/contention_begin/format").read()
    assert read_text_part(out, "formats/lock/contention_begin.format") == real
    capsys.readouterr()
    assert main(["info", out, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["meta"]["source"] == "tracefs" and info["health"]["events"] >= 0
