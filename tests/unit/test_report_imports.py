"""`gemscope report` opens trace.dat and ftrace text directly (imported on the fly)."""
import json

from tests.support import ROOT
from tracer.cli import main


def test_report_reads_a_trace_dat_directly(capsys):
    assert main(["report", str(ROOT / "tests/data/host-6.18-v7.dat"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["meta"]["source"] == "import:trace.dat v7"
    assert report["health"]["events"] == 340
    assert report["analyses"]["finalizers"]["answerable"] is False


def test_report_on_text_without_events_is_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\n")
    assert main(["report", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no ftrace event could be read" in err
