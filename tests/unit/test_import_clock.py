"""Imports keep the file's trace clock, say exactly which it is in meta, and the report and the
import summary say in one line when it is not CLOCK_MONOTONIC."""
from __future__ import annotations

from pathlib import Path

from tracer.clocks import clock_warning, import_clock
from tracer.commands.import_cmd import summary
from tracer.importers import import_file, to_frames
from tracer.render import render, report_dict

DATA = Path(__file__).resolve().parent.parent / "data"


def test_import_clock_values():
    assert import_clock("mono", False) == ("CLOCK_MONOTONIC",
                                           "the trace's 'mono' clock, which is CLOCK_MONOTONIC")
    assert import_clock("mono", True)[0] == "ftrace:mono+offset"
    clock, note = import_clock("local", False)
    assert clock == "ftrace:local" and "sched_clock" in note and "not it" in note
    assert import_clock(None, False)[0] == "ftrace:unknown"
    assert import_clock("x86-tsc", True)[1].endswith("OFFSET or TSC2NSEC option as trace-cmd does")
    assert import_clock("weird", False) == ("ftrace:weird",
                                            "the trace's 'weird' clock, not CLOCK_MONOTONIC")


def test_warning_only_when_not_monotonic():
    assert clock_warning({"clock": "CLOCK_MONOTONIC"}) is None
    assert clock_warning({"clock": "ftrace:mono"}) is None
    assert clock_warning({}) is None
    assert clock_warning({"clock": "ftrace:local", "clock_note": "x"}) == \
        "CLOCK: timestamps are not CLOCK_MONOTONIC: x"


def _report_text(im):
    frames = to_frames(im)
    return render(report_dict(frames, {}))


def test_local_trace_dat_says_so_in_meta_report_and_summary():
    im = import_file(str(DATA / "host-6.18-v7.dat"))
    assert im.meta["import_clock"] == "local" and im.meta["clock"] == "ftrace:local"
    line = clock_warning(im.meta)
    assert line.startswith("CLOCK: timestamps are not CLOCK_MONOTONIC: the trace's 'local' clock")
    assert sum(line in ln for ln in _report_text(im).splitlines()) == 1
    assert sum(line in ln for ln in summary(im, "out.gsrec", 0).splitlines()) == 1


def test_mono_trace_dat_is_clock_monotonic_and_says_nothing():
    im = import_file(str(DATA / "guest-6.12-msm-module-v7.dat"))
    assert im.meta["import_clock"] == "mono" and im.meta["clock"] == "CLOCK_MONOTONIC"
    assert "CLOCK:" not in _report_text(im) and "CLOCK:" not in summary(im, "o.gsrec", 0)


def test_text_has_no_clock_and_says_so():
    im = import_file(str(DATA / "handwritten-ftrace.txt"))
    assert im.meta["import_clock"] is None and im.meta["clock"] == "ftrace:unknown"
    assert "ftrace text carries no clock" in clock_warning(im.meta)
