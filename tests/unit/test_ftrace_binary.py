"""Binary records decoded by format files: __data_loc strings (dma_fence), char arrays, and
ftrace:kernel_stack frames joined to the event before them - on hand-built ring-buffer pages."""
from __future__ import annotations

import struct

import numpy as np

from tracer.ftrace.binary_events import decode_records
from tracer.ftrace.formats import PageHeader, parse_event_format
from tracer.ftrace.kallsyms import Symbols
from tracer.ftrace.mapping import map_trace
from tracer.ftrace.rawevents import RawTrace
from tracer.ftrace.ringbuf import decode_pages

COMMON = """\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
"""
FENCE = f"""name: dma_fence_signaled
ID: 2190
format:
{COMMON}
\tfield:__data_loc char[] driver;\toffset:8;\tsize:4;\tsigned:0;
\tfield:__data_loc char[] timeline;\toffset:12;\tsize:4;\tsigned:0;
\tfield:unsigned int context;\toffset:16;\tsize:4;\tsigned:0;
\tfield:unsigned int seqno;\toffset:20;\tsize:4;\tsigned:0;

print fmt: "driver=%s timeline=%s context=%u seqno=%u", __get_str(driver), __get_str(timeline), REC->context, REC->seqno
"""
BEGIN = f"""name: contention_begin
ID: 408
format:
{COMMON}
\tfield:void * lock_addr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:unsigned int flags;\toffset:16;\tsize:4;\tsigned:0;

print fmt: "%p (flags=%s)", REC->lock_addr
"""
STACK = f"""name: kernel_stack
ID: 4
format:
{COMMON}
\tfield:int size;\toffset:8;\tsize:4;\tsigned:1;
\tfield:unsigned long caller[8];\toffset:16;\tsize:64;\tsigned:0;

print fmt: "\\t=> %ps"
"""


def _entry(payload: bytes, delta: int) -> bytes:
    payload += b"\0" * (-len(payload) % 4)
    return struct.pack("<I", (delta << 5) | (len(payload) // 4)) + payload


def _page(entries: bytes, ts0: int) -> bytes:
    page = struct.pack("<QQ", ts0, len(entries)) + entries
    return page + b"\0" * (4096 - len(page))


def _decode(page: bytes, formats) -> RawTrace:
    buf = np.frombuffer(page, np.uint8)
    trace = RawTrace()
    decode_records(buf, decode_pages(buf, 4096, PageHeader()), formats, 1, trace, 0)
    return trace


def test_data_loc_strings_of_dma_fence():
    fmt = parse_event_format(FENCE, "dma_fence")
    strings = b"msm\0gpu-ring-0\0"
    rec = struct.pack("<HBBi", 2190, 0, 0, 77) + struct.pack("<II", (4 << 16) | 24,
                                                              (11 << 16) | 28) + \
        struct.pack("<II", 5, 42) + strings
    trace = _decode(_page(_entry(rec, 10), 1000), {fmt.id: fmt})
    m = map_trace(trace)
    fs = m.kinds["fence_signal"]
    assert fs["driver"].to_pylist() == ["msm"]
    assert fs["timeline"].to_pylist() == ["gpu-ring-0"]
    assert fs["fence_context"].to_pylist() == [5] and fs["seqno"].to_pylist() == [42]
    assert fs["ts_ns"].tolist() == [1010] and fs["tid"].tolist() == [77]


def test_data_loc_pointing_outside_the_record_is_null():
    fmt = parse_event_format(FENCE, "dma_fence")
    rec = struct.pack("<HBBi", 2190, 0, 0, 1) + struct.pack("<II", (200 << 16) | 24, 0) + \
        struct.pack("<II", 1, 2)
    g = _decode(_page(_entry(rec, 1), 0), {fmt.id: fmt}).groups["dma_fence_signaled"]
    assert g.fields["driver"].to_pylist() == [None]


def test_kernel_stack_attaches_to_the_event_before_it():
    b = parse_event_format(BEGIN, "lock")
    st = parse_event_format(STACK, "ftrace")
    lock = struct.pack("<HBBi", 408, 0, 0, 9) + struct.pack("<QI", 0xffff0000deadbeef, 33)
    frames = [0xffffffff81000010, 0xffffffff81000120]
    stack = struct.pack("<HBBi", 4, 0, 0, 9) + struct.pack("<ii", len(frames), 0) + \
        struct.pack("<2Q", *frames)
    trace = _decode(_page(_entry(lock, 5) + _entry(stack, 0), 100), {b.id: b, st.id: st})
    trace.kallsyms = Symbols("ffffffff81000000 T __mutex_lock_slowpath\n"
                             "ffffffff81000100 T ww_mutex_lock\n")
    g = trace.groups["kernel_stack"]
    assert g.fields["frames_addr"].to_pylist() == [frames]
    # a contention_end makes the begin a complete wait
    e = parse_event_format(BEGIN.replace("contention_begin", "contention_end")
                           .replace("ID: 408", "ID: 407"), "lock")
    end = struct.pack("<HBBi", 407, 0, 0, 9) + struct.pack("<QI", 0xffff0000deadbeef, 0)
    trace2 = _decode(_page(_entry(lock, 5) + _entry(stack, 0) + _entry(end, 50), 100),
                     {b.id: b, st.id: st, e.id: e})
    trace2.kallsyms = trace.kallsyms
    m = map_trace(trace2)
    assert m.kinds["lock_contention"]["stack_id"].to_pylist() == [1]
    assert m.kinds["stack"]["frames"].to_pylist() == [
        "__mutex_lock_slowpath+0x10\nww_mutex_lock+0x20"]
    assert m.kinds["lock_contention"]["duration_ns"].tolist() == [50]
    assert m.accounting["balanced"] and m.accounting["mapped_inputs"] == 3


def test_mapping_leaves_raw_fields_alone_for_a_second_map():
    """A live source maps the same raw events again after more arrive: symbols must not stick."""
    fmt = parse_event_format(f"""name: sched_kthread_work_execute_start
ID: 377
format:
{COMMON}
\tfield:void * work;\toffset:8;\tsize:8;\tsigned:0;
\tfield:void * function;\toffset:16;\tsize:8;\tsigned:0;

print fmt: "work struct %p: function %ps", REC->work, REC->function
""", "sched")
    rec = struct.pack("<HBBi", 377, 0, 0, 300) + struct.pack("<QQ", 0x1000, 0xffffffff81000010)
    trace = _decode(_page(_entry(rec, 1), 0), {fmt.id: fmt})
    trace.kallsyms = Symbols("ffffffff81000000 T retire_worker\n")
    map_trace(trace)
    assert trace.groups["sched_kthread_work_execute_start"].fields["function"].to_pylist() == \
        [0xffffffff81000010]
    trace.add(_decode(_page(_entry(rec, 1), 10), {fmt.id: fmt}).groups[
        "sched_kthread_work_execute_start"])
    m = map_trace(trace)
    assert m.accounting["unpaired_begins"] == {"retire_run": 2}
