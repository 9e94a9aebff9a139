"""`gemscope replay BUNDLE`: the TUI gets the bundle's verified recording (app stubbed here; the
TUI itself is tested in tests/tui)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from bundle_craft import rebuild
from lifecycle_fixture import write_lifecycle
from tracer.bundle.writer import create_bundle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_replay_opens_the_bundles_recording(tmp_path, monkeypatch):
    import tui.app
    from tui.commands import replay
    rec = write_lifecycle(tmp_path / "fx.gsrec")
    bundle = str(tmp_path / "fx.gsbundle")
    create_bundle(rec, bundle)
    seen = {}

    class FakeApp:
        return_code = 0

        def __init__(self, source, first_view):
            seen["path"], seen["view"] = source.path, first_view
            seen["source"] = source

        def run(self):
            seen["same_bytes"] = open(seen["path"], "rb").read() == open(rec, "rb").read()

    monkeypatch.setattr(tui.app, "GemscopeApp", FakeApp)
    assert replay.run(argparse.Namespace(file=bundle, view="retire")) == 0
    assert seen["view"] == "retire" and seen["same_bytes"] is True
    assert os.path.basename(seen["path"]) == "recording.gsrec"
    assert not os.path.exists(seen["path"])          # the private temp dir is gone after exit


def test_replay_of_a_hostile_bundle_is_one_line(tmp_path):
    rec = write_lifecycle(tmp_path / "fx.gsrec")
    good = str(tmp_path / "fx.gsbundle")
    create_bundle(rec, good)
    bad = rebuild(good, tmp_path / "bad.gsbundle", add={"../evil.txt": b"x"})
    r = subprocess.run([sys.executable, "-m", "tui.entry", "replay", bad], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr == (f"gemscope: error: {bad}: bundle refused by the path check: member "
                        "'../evil.txt' is an absolute path or climbs out with '..'\n")
