"""text_payload's column readers (msm_gpu_submit, msm_gpu_submit_retired, dma_fence_signaled):
exact values for the print formats' shapes, the rows of other shapes left to the RE2 path, and
extract_fields giving exactly the fields and failed rows of that path alone, group by group."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tracer.ftrace import text_fields
from tracer.ftrace.mapping import WANTED
from tracer.ftrace.rawevents import EventGroup
from tracer.ftrace.text import parse_text
from tracer.ftrace.text_fields import extract_fields
from tracer.ftrace.text_payload import fence_fields, key_value_fields, payload_bytes

DATA = Path(__file__).resolve().parent.parent / "data"
SUBMIT = "id=7 pid=1234 ring=0 bos=12 cmds=3"
RETIRED = "id=7 pid=1234 ring=0:42 elapsed=1500000 ns mhz=587 start=1000 end=29800"
FENCE = "driver=msm timeline=gpu-ring-0 context=5 seqno=42"
# rows the readers leave to the regex path (some of them the regex reads, some it does not)
ODD = {
    "msm_gpu_submit": [
        "garbled", "id=7 pid=1234 ring=0 bos=12 cmds=3 extra", "id=7 pid=1234 ring=0 bos=12",
        "id=7  pid=1234 ring=0 bos=12 cmds=3", "id=x pid=1234 ring=0 bos=12 cmds=3",
        "id=123456789012345678901 pid=1 ring=0 bos=1 cmds=1",
        "id=1234567890123456789 pid=1 ring=0 bos=1 cmds=1", "id=007 pid=-0 ring=0 bos=1 cmds=1x",
        "id=7 pid=1234 ring=0 bos=12 cmds=3\t", "id=1 pid=2 ring=3 bos=4 cmds=5 ", "",
        "id=7 pid=1234 ring=0 bos=12 cmds=", "id=- pid=1 ring=0 bos=1 cmds=1"],
    "msm_gpu_submit_retired": [
        RETIRED + " more", RETIRED.replace("ring=0:42", "ring=0"),
        RETIRED.replace("1500000 ns", "1500000ns"), RETIRED.replace("end=29800", "end=-"),
        RETIRED.replace("start=1000", "start=99999999999999999999")],
    "dma_fence_signaled": [
        FENCE + " ", FENCE + "x", "driver=msm timeline=x context=-5 seqno=42",
        "driver=msm timeline=x context=0x5 seqno=42", "driver=msm context=+5 seqno=42",
        "driver=msm timeline=x\tcontext=5 seqno=42", "driver=m\tsm timeline=x context=5 seqno=42",
        "driver=msm timeline=x context=5", "driver=msm  timeline=x context=5 seqno=42",
        "driver=msm timeline=x context=99999999999999999999 seqno=1",
        "driver=msm timeline=x context=5  seqno=42", "driver=" + "m" * 40 + " timeline=x "
        "context=5 seqno=42"],
}


def _read(name, payloads):
    a, ps, pe = payload_bytes(pa.array(payloads, pa.large_string()))
    if name == "dma_fence_signaled":
        return fence_fields(a, ps, pe)
    return key_value_fields(a, name, ps, pe)


def _values(cols, ok):
    return {k: v[ok].tolist() if isinstance(v, np.ndarray) else v.filter(pa.array(ok)).to_pylist()
            for k, v in cols.items()}


def test_exact_values_of_the_print_formats():
    cols, ok = _read("msm_gpu_submit", [SUBMIT, "id=-1 pid=0 ring=007 bos=123456789012345678 "
                                                "cmds=99999999"])
    assert ok.tolist() == [True, True]
    assert _values(cols, ok) == {"id": [7, -1], "pid": [1234, 0], "ringid": [0, 7],
                                 "nr_bos": [12, 123456789012345678], "nr_cmds": [3, 99999999]}
    cols, ok = _read("msm_gpu_submit_retired", [RETIRED])
    assert ok.tolist() == [True]
    assert _values(cols, ok) == {"id": [7], "pid": [1234], "ringid": [0], "seqno": [42],
                                 "elapsed": [1500000], "clock": [587], "start_ticks": [1000],
                                 "end_ticks": [29800]}
    cols, ok = _read("dma_fence_signaled", [
        FENCE, "driver= timeline= context=0 seqno=0",
        "driver=drm_sched timeline=a b context=1 seqno=2 context=3 seqno=4294967295"])
    assert ok.tolist() == [True, True, True]
    assert list(cols) == ["driver", "timeline", "context", "seqno"]
    assert _values(cols, ok) == {"driver": ["msm", "", "drm_sched"],
                                 "timeline": ["gpu-ring-0", "", "a b context=1 seqno=2"],
                                 "context": [5, 0, 3], "seqno": [42, 0, 4294967295]}


@pytest.mark.parametrize("name", list(ODD))
def test_rows_of_another_shape_are_not_read(name):
    good = {"msm_gpu_submit": SUBMIT, "msm_gpu_submit_retired": RETIRED,
            "dma_fence_signaled": FENCE}[name]
    rows = [x for odd in ODD[name] for x in (good, odd)] + [good]
    _, ok = _read(name, rows)
    assert ok.tolist() == [True, False] * len(ODD[name]) + [True]


def _group(name, payloads):
    n = len(payloads)
    return EventGroup(name, None, np.arange(n, dtype=np.int64), np.zeros(n, np.int16),
                      np.zeros(n, np.int32), np.arange(n, dtype=np.int64),
                      payload=pa.array(payloads, pa.large_string()))


def _both(name, payloads, monkeypatch):
    fast, general = _group(name, payloads), _group(name, payloads)
    with monkeypatch.context() as m:
        m.setattr(text_fields, "COLUMN_NAMES", ())
        g_failed = extract_fields(general, WANTED)
    f_failed = extract_fields(fast, WANTED)
    assert f_failed.tolist() == g_failed.tolist()
    assert list(fast.fields) == list(general.fields)
    for k, v in general.fields.items():
        assert fast.fields[k].type == v.type, k
        assert fast.fields[k].to_pylist() == v.to_pylist(), k
    return fast, f_failed


@pytest.mark.parametrize("name", list(ODD))
def test_mixed_groups_equal_the_regex_path(name, monkeypatch):
    good = {"msm_gpu_submit": SUBMIT, "msm_gpu_submit_retired": RETIRED,
            "dma_fence_signaled": FENCE}[name]
    for odd in ODD[name]:
        _both(name, [good, odd, good.replace("7", "8")], monkeypatch)   # one odd row
    _both(name, [good] + ODD[name] + [good], monkeypatch)                # all of them
    _both(name, ODD[name], monkeypatch)                                  # no row read here
    _, failed = _both(name, [good] * 3, monkeypatch)                     # every row read here
    assert not failed.any()


def test_a_fence_row_with_more_name_value_text_keeps_the_whole_group_on_the_regex_path(
        monkeypatch):
    # the WANTED name=value search over every row could find "context=" in the timeline
    calls = []
    general = text_fields._general
    monkeypatch.setattr(text_fields, "_general", lambda g, *a: calls.append(len(g)) or
                        general(g, *a))
    rows = [FENCE, "driver=msm timeline=(context=zz) context=5 seqno=42", "driver=msm seqno=1"]
    _both("dma_fence_signaled", rows, monkeypatch)
    assert calls == [3, 3]                     # the regex path alone, then here too
    calls.clear()
    _both("dma_fence_signaled", [FENCE, FENCE, "driver=msm seqno=1"], monkeypatch)
    assert calls == [3, 1]                     # here: only the odd row


def _texts():
    yield (DATA / "handwritten-ftrace.txt").read_bytes()
    try:
        yield subprocess.run(["trace-cmd", "report", str(DATA / "guest-6.12-msm-module-v7.dat")],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pass   # trace-cmd is not installed: the hand-written text still runs


@pytest.mark.parametrize("data", list(_texts()), ids=lambda d: f"{len(d)}B")
def test_the_test_data_reads_the_same(data, monkeypatch):
    raw = parse_text(data)
    seen = 0
    for name in ODD:
        g = raw.groups.get(name)
        if g is None:
            continue
        _both(name, g.payload.to_pylist(), monkeypatch)
        seen += len(g)
    assert seen > 0


def test_a_negative_decimal_beside_hex_in_one_column_is_not_a_crash(monkeypatch):
    """Rows the payload regex refuses (0x5 where it wants digits) are read again by name=value;
    a column that Arrow cannot cast (a number above 64 bits) is then read value by value, as
    uint64 when it holds hex. A "-5" in it raised OverflowError and ended the import (found by
    a hostile text); now it is unknown there, and the regex's own reading (-5) is kept."""
    g = _group("dma_fence_signaled", ["driver=msm timeline=x context=-5 seqno=42",
                                      "driver=msm timeline=x context=0x5 seqno=43",
                                      "driver=msm timeline=x context=99999999999999999999 "
                                      "seqno=44"])
    monkeypatch.setattr(text_fields, "COLUMN_NAMES", ())
    extract_fields(g, WANTED)
    assert g.fields["context"].to_pylist() == [-5, 5, None]
    assert g.fields["seqno"].to_pylist() == [42, 43, 44]
