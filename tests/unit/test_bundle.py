"""Bundles made here: reopen, same report, redaction, verify, open_input cleanup."""
from __future__ import annotations

import json
import os
import zipfile

import pytest

from lifecycle_fixture import write_lifecycle
from tracer.bundle import open_and_verify, open_input, read_text_part
from tracer.bundle.writer import create_bundle
from tracer.cli import main
from tracer.frames import load_frames

EXPECTED_PARTS = {"manifest.json", "recording.gsrec", "environment.json", "summary.md",
                  "plots/free_duration_hist.png", "plots/retire_run_split.png"}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("bundle")
    rec = write_lifecycle(d / "fx.gsrec")
    out = str(d / "fx.gsbundle")
    assert main(["bundle", "create", rec, "-o", out]) == 0
    return rec, out


def _cli_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_bundle_holds_every_part_with_a_digest(made):
    rec, out = made
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    assert EXPECTED_PARTS <= names
    assert {n for n in names if not n.startswith("formats/")} == EXPECTED_PARTS
    contents = open_and_verify(out)
    assert set(contents.manifest["parts"]) == names - {"manifest.json"}
    assert contents.manifest["events"] == 24 and contents.manifest["synthetic"] is True
    assert contents.manifest["parts"]["recording.gsrec"]["size_bytes"] == os.path.getsize(rec)
    with zipfile.ZipFile(out) as zf:   # PNGs are real images
        assert zf.read("plots/free_duration_hist.png")[:8] == b"\x89PNG\r\n\x1a\n"
        assert zf.read("plots/retire_run_split.png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_of_the_bundle_equals_the_recordings(made, capsys):
    rec, out = made
    assert _cli_json(capsys, "report", out, "--format", "json") == \
        _cli_json(capsys, "report", rec, "--format", "json")


def test_info_of_the_bundle_matches_the_recording(made, capsys):
    rec, out = made
    a = _cli_json(capsys, "info", out, "--json")
    b = _cli_json(capsys, "info", rec, "--json")
    assert a["file"] == out and a["events_by_kind"] == b["events_by_kind"]
    assert a["health"] == b["health"] and a["meta"] == b["meta"]


def test_summary_is_the_markdown_report_with_plots(made):
    _, out = made
    summary = read_text_part(out, "summary.md")
    assert summary.startswith("# gemscope bug-report bundle\n")
    assert "![free_duration_hist.png](plots/free_duration_hist.png)" in summary
    assert "![retire_run_split.png](plots/retire_run_split.png)" in summary
    assert "# gemscope report" in summary and "- retire_runs: 3" in summary
    assert "  - msm_gem_shrinker_scan: symbol not found" in summary


def test_environment_records_plan_versions_and_command(made):
    _, out = made
    env = json.loads(read_text_part(out, "environment.json"))
    assert env["attach_plan"]["missing"] == {"msm_gem_shrinker_scan": "symbol not found"}
    assert env["tool_versions"]["gemscope"] == "0.1.0"
    assert env["recorded_on"]["scenario"] == "lifecycle-fixture"
    assert env["bundled_on"]["kernel_release"] == os.uname().release
    assert isinstance(env["command_line"], list)
    for line in env["kernel_config"]["lines"]:
        assert "CONFIG_" in line


def test_open_input_removes_its_temporary_folder(made):
    rec, out = made
    with open_input(out) as path:
        assert path != out and os.path.basename(path) == "recording.gsrec"
        assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
        assert open(path, "rb").read() == open(rec, "rb").read()
    assert not os.path.exists(os.path.dirname(path))
    with open_input(rec) as path:
        assert path == rec


def test_redaction_is_consistent_and_complete(tmp_path, capsys):
    rec = write_lifecycle(tmp_path / "fx.gsrec")
    out = str(tmp_path / "red.gsbundle")
    create_bundle(rec, out, redact_comm=True, redact_paths=True)
    with open_input(out) as path:
        f = load_frames(path)
    # sorted distinct names: glmark2, kswapd0, retire-worker
    assert set(f["free"]["comm"].astype(str)) == {"task-003"}
    assert set(f["resv_lock"]["comm"].astype(str)) == {"task-001"}
    assert set(f["shrink_scan"]["comm"].astype(str)) == {"task-002"}
    assert f.meta["command"] == "gemscope record -o <path-001>"
    assert f.meta["hostname"] == "<host>"
    assert f.meta["redacted"] == {"task_names": True, "paths": True}
    summary = read_text_part(out, "summary.md")
    # of the fixture's two slow locks only one has a lock:contention event: one wait
    assert "waits_by_task: task-001: 1" in summary
    with zipfile.ZipFile(out) as zf:
        for name in zf.namelist():
            if name == "recording.gsrec" or name.endswith(".png"):
                continue
            text = zf.read(name).decode()
            for secret in ("glmark2", "kswapd0", "retire-worker", "alice", "devbox"):
                assert secret not in text, (name, secret)
    rep = _cli_json(capsys, "report", out, "--format", "json")
    assert rep["analyses"]["contention"]["headline"]["waits_by_task"] == {"task-001": 1}


def test_bundle_of_a_bundle_and_verify_command(made, tmp_path, capsys):
    _, out = made
    again = str(tmp_path / "again.gsbundle")
    assert main(["bundle", "create", out, "-o", again]) == 0
    capsys.readouterr()
    assert main(["bundle", "verify", again]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{again}: OK, ") and "parts verified (sha256)" in lines[0]
    assert open_and_verify(again).manifest["parts"]["recording.gsrec"] == \
        open_and_verify(out).manifest["parts"]["recording.gsrec"]


def test_record_without_a_live_recorder_says_how(tmp_path, capsys, monkeypatch):
    from tracer import cli
    monkeypatch.setattr(cli, "COMMAND_MODULES",
                        tuple(m for m in cli.COMMAND_MODULES if m != "record"))
    rc = main(["bundle", "create", "--record", "1", "-o", str(tmp_path / "x.gsbundle")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip().splitlines() == [
        "gemscope: error: --record: this gemscope has no live recorder (`gemscope record`); "
        "record on the device first (sudo gemscope record -d 10 -o trace.gsrec) and run "
        "`gemscope bundle create trace.gsrec -o FILE`"]
    assert not (tmp_path / "x.gsbundle").exists()


def test_diff_takes_bundles(made):
    from tracer.diff import diff_paths
    rec, out = made
    d = diff_paths(out, rec)
    assert d["significant"] == [] and d["a"]["events"] == d["b"]["events"] == 24
    for m in d["metrics"]:
        if m["type"] == "distribution":
            assert m["change"]["p50"]["difference"] == 0.0


def test_redacting_a_truncated_recording_keeps_the_damage_on_record(tmp_path):
    rec = write_lifecycle(tmp_path / "fx.gsrec")
    data = open(rec, "rb").read()
    cut = tmp_path / "cut.gsrec"
    cut.write_bytes(data[: len(data) - 200])
    out = str(tmp_path / "cut.gsbundle")
    create_bundle(str(cut), out, redact_comm=True)
    with open_input(out) as path:
        f = load_frames(path)
    assert f.meta["truncated_before_redaction"]
    assert open_and_verify(out).manifest["parts"]["summary.md"]["role"] == "summary"


def test_bundle_with_the_perfetto_export(tmp_path):
    import zipfile as zf_mod
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace
    rec = write_lifecycle(tmp_path / "fx.gsrec")
    out = str(tmp_path / "p.gsbundle")
    assert main(["bundle", "create", rec, "-o", out, "--perfetto", "--redact-comm"]) == 0
    assert open_and_verify(out).manifest["parts"]["trace.pftrace"]["role"] == "perfetto"
    trace = Trace()
    with zf_mod.ZipFile(out) as zf:
        trace.ParseFromString(zf.read("trace.pftrace"))
    threads = sorted(p.track_descriptor.thread.thread_name for p in trace.packet
                     if p.track_descriptor.HasField("thread"))
    assert threads == ["task-001", "task-002", "task-003"]      # redacted like the recording
    assert "- timeline: trace.pftrace (open it in https://ui.perfetto.dev)" in \
        read_text_part(out, "summary.md")


def test_redaction_reaches_free_text_columns(tmp_path):
    from tracer.recording import RecordingWriter
    rec = str(tmp_path / "g.gsrec")
    with RecordingWriter(rec, {"source": "test", "recorded_kinds": ["generic"]}) as w:
        w.append_rows("generic", [
            dict(ts_ns=1, cpu=0, pid=5, tid=5, comm="glmark2", event_name="sched:sched_switch",
                 payload="prev_comm=glmark2 next_comm=kworker/0:1 file=/home/alice/x.so"),
            dict(ts_ns=2, cpu=0, pid=6, tid=6, comm="kworker/0:1", event_name="x:y",
                 payload="glmark2-5 woke kworker/0:1")])
    out = str(tmp_path / "g.gsbundle")
    create_bundle(rec, out, redact_comm=True, redact_paths=True)
    with open_input(out) as path:
        g = load_frames(path)["generic"]
    assert list(g["comm"].astype(str)) == ["task-001", "task-002"]
    assert list(g["payload"]) == ["prev_comm=task-001 next_comm=task-002 file=<path-001>",
                                  "task-001-5 woke task-002"]
