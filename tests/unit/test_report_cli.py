"""`gemscope report` on a small recording: text, Markdown and JSON content, the SYNTHETIC banner,
health, cannot-answer, --window, and one-line errors."""
from __future__ import annotations

import json

import pytest
from analysis_rows import ev

from tracer import cli
from tracer.recording import RecordingWriter
from tracer.render import fmt_bytes, fmt_ns

LOCK = 0xFFFFFF8012000110
S = 1_000_000_000


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "r.gsrec"
    meta = {"source": "simulate", "synthetic": True, "scenario": "sync-free-in-retire",
            "kernel_release": "6.6.0-test", "machine": "aarch64",
            "probe_plan": {"ww_mutex_lock": {"status": "attached", "kinds": ["resv_lock"]},
                           "msm_gem_shrinker_scan": {"status": "missing",
                                                     "reason": "symbol not in kallsyms"}},
            # shrink_scan is absent: the shrinker analysis cannot answer
            "recorded_kinds": ["resv_lock", "free", "retire_run", "fence_signal", "resv_trylock",
                               "lost"]}
    with RecordingWriter(path, meta) as w:
        w.append_rows("resv_lock", [
            ev(0, 10, "submit", lock_addr=LOCK, duration_ns=500, caller="a+0x1"),
            ev(1 * S, 10, "submit", lock_addr=LOCK, duration_ns=2_500_000, caller="a+0x1"),
            ev(3 * S, 11, "app", lock_addr=LOCK, duration_ns=4000, caller="b+0x2")])
        w.append_rows("free", [ev(1 * S + 10, 7, "gpu-worker", duration_ns=1500,
                                  context="retire_worker", size_bytes=3 << 20)])
        w.append_rows("retire_run", [ev(1 * S, 7, "gpu-worker", duration_ns=10_000,
                                        queue_delay_ns=100)])
        w.append_rows("lost", [ev(2 * S, 0, "", lost_count=5)])
    return str(path)


def _run(capsys, *argv):
    rc = cli.main(["report", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_report_is_exact_and_json_safe(recording, capsys):
    rc, out, _ = _run(capsys, recording, "--format", "json")
    assert rc == 0
    rep = json.loads(out)
    assert set(rep) == {"meta", "health", "analyses"}
    assert rep["meta"]["scenario"] == "sync-free-in-retire"
    assert rep["health"]["lost_events"] == 5 and rep["health"]["events"] == 6
    assert rep["health"]["truncated"] is False and rep["health"]["closed_cleanly"] is True
    assert list(rep["analyses"]) == ["contention", "trylock", "finalizers", "retire",
                                     "shrinker", "reclaim_risks"]
    c = rep["analyses"]["contention"]
    assert c["answerable"] and c["headline"]["resv_waits"] == 2
    assert c["headline"]["resv_wait_total_ns"] == 2_504_000
    assert c["tables"]["by_object"][0]["lock_addr"] == LOCK
    assert c["tables"]["by_object"][0]["waits"] == 2
    s = rep["analyses"]["shrinker"]
    assert s["answerable"] is False and s["missing"] == ["shrink_scan"] and s["headline"] == {}
    assert rep["analyses"]["trylock"]["headline"]["trylocks"] == 0
    assert rep["analyses"]["retire"]["headline"]["retire_finalizer_ns"] == 1500
    assert rep["analyses"]["retire"]["headline"]["fences_delayed_by_finalizers"] == 0


def test_text_report_shows_banner_health_units_and_cannot_answer(recording, capsys):
    rc, out, _ = _run(capsys, recording)
    assert rc == 0
    assert "SYNTHETIC RECORDING" in out and "sync-free-in-retire" in out
    assert "kernel_release: 6.6.0-test" in out
    assert "probes: 1 attached, 1 not" in out
    assert "probe msm_gem_shrinker_scan missing: symbol not in kallsyms" in out
    assert "lost events: 5" in out
    assert "resv_wait_max_ns: 2.5 ms" in out
    assert "cannot answer: no shrink_scan events were recorded" in out
    assert "0xffffff8012000110" in out
    assert "freed_bytes: 3 MiB" in out
    # table times are seconds after the first event (the 2.5 ms wait started at 1 s)
    assert "t_s" in out and "    1.000000  10   submit" in out


def test_markdown_report(recording, capsys):
    rc, out, _ = _run(capsys, recording, "--format", "markdown")
    assert rc == 0
    assert out.startswith("# gemscope report")
    assert "## Provenance" in out and "## Health" in out
    assert "| lock_addr | waits | total_ns |" in out
    assert "> **SYNTHETIC RECORDING" in out


def test_window_selects_events_by_start_time(recording, capsys):
    rc, out, _ = _run(capsys, recording, "--format", "json", "--window", "2:")
    rep = json.loads(out)
    assert rc == 0 and rep["window"] == {"start_s": 2.0, "end_s": None, "events": 2}
    assert rep["analyses"]["contention"]["headline"]["resv_lock_calls"] == 1
    assert rep["analyses"]["finalizers"]["headline"]["frees"] == 0


@pytest.mark.parametrize("window", ["5", "a:b", "3:1", "-1:2"])
def test_bad_window_is_one_line(recording, capsys, window):
    rc, out, err = _run(capsys, recording, f"--window={window}")
    assert rc == 2 and out == ""
    assert err.startswith("gemscope: error: --window") and err.count("\n") == 1


def test_garbage_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.gsrec"
    bad.write_bytes(b"not arrow at all\n" * 20)
    rc, out, err = _run(capsys, str(bad))
    assert rc == 2 and "not a gemscope recording" in err and err.count("\n") == 1


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        cli.main(["report", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--format json" in out and "--window" in out


def test_human_units():
    assert fmt_ns(999) == "999 ns" and fmt_ns(1500) == "1.5 us" and fmt_ns(2_500_000) == "2.5 ms"
    assert fmt_ns(3_000_000_000) == "3.000 s" and fmt_ns(None) == "n/a"
    assert fmt_bytes(512) == "512 B" and fmt_bytes(8192) == "8 KiB"
    assert fmt_bytes(3 << 20) == "3 MiB"


SAMPLES = sorted(__import__("pathlib").Path(__file__).resolve().parents[2]
                 .joinpath("sample-traces").glob("*.gsrec"))


def _no_nan(token):
    raise AssertionError(f"non-JSON number {token} in the report")


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_every_sample_trace_reports_strict_json_and_text(sample, capsys):
    rc, out, err = _run(capsys, str(sample), "--format", "json")
    assert rc == 0 and err == ""
    rep = json.loads(out, parse_constant=_no_nan)
    assert rep["meta"]["synthetic"] is True
    for name, a in rep["analyses"].items():
        if a["answerable"]:
            assert a["headline"] and all(isinstance(r, dict) for t in a["tables"].values()
                                         for r in t)
    rc, out, _ = _run(capsys, str(sample), "--format", "markdown")
    assert rc == 0 and "SYNTHETIC RECORDING" in out


def test_there_are_sample_traces_to_report_on():
    assert len(SAMPLES) >= 5


def test_only_runs_the_named_analyses(recording, capsys):
    rc, out, _ = _run(capsys, recording, "--format", "json", "--only", "retire,contention")
    assert rc == 0 and list(json.loads(out)["analyses"]) == ["contention", "retire"]
    rc, out, err = _run(capsys, recording, "--only", "contention,bogus")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "unknown analysis bogus" in err and "reclaim_risks" in err
