"""Fuzzing the ftrace readers: random bytes, truncations and bit flips of valid inputs must give a
result or a GemscopeError (one line), never another exception and never a hang (sizes bounded)."""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from tracer.errors import GemscopeError
from tracer.ftrace.mapping import map_trace
from tracer.ftrace.text import parse_text
from tracer.importers import import_file

DATA = Path(__file__).resolve().parent.parent / "data"
HAND = (DATA / "handwritten-ftrace.txt").read_bytes()
DAT = (DATA / "host-6.18-v7.dat").read_bytes()
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])


def _import_bytes(tmp_path, data: bytes, name: str):
    p = tmp_path / name
    p.write_bytes(data)
    try:
        im = import_file(str(p))
    except GemscopeError as e:
        assert "\n" not in str(e)
        return None
    acc = im.meta["import_accounting"]
    assert acc["balanced"], acc
    return im


@settings(max_examples=150, **SETTINGS)
@given(st.binary(max_size=3000))
def test_text_parser_random_bytes(data):
    trace = parse_text(data)
    m = map_trace(trace)
    assert m.accounting["balanced"]


@settings(max_examples=150, **SETTINGS)
@given(st.lists(st.sampled_from(HAND.splitlines(keepends=True)), max_size=40),
       st.integers(0, 2000), st.integers(0, 255))
def test_text_shuffled_lines_with_a_flipped_byte(lines, pos, value):
    data = bytearray(b"".join(lines))
    if data:
        data[pos % len(data)] = value
    trace = parse_text(bytes(data))
    assert map_trace(trace).accounting["balanced"]


@settings(max_examples=60, **SETTINGS)
@given(st.integers(0, len(HAND)))
def test_text_truncations(tmp_path, cut):
    _import_bytes(tmp_path, HAND[:cut], "t.txt")


@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, len(DAT) - 1), st.integers(0, 7))
def test_tracedat_bit_flips(tmp_path, pos, bit):
    data = bytearray(DAT)
    data[pos] ^= 1 << bit
    _import_bytes(tmp_path, bytes(data), "f.dat")


@settings(max_examples=30, **SETTINGS)
@given(st.integers(0, len(DAT)))
def test_tracedat_truncations(tmp_path, cut):
    _import_bytes(tmp_path, DAT[:cut], "c.dat")


@settings(max_examples=40, **SETTINGS)
@given(st.binary(min_size=0, max_size=4000))
def test_tracedat_magic_then_garbage(tmp_path, tail):
    _import_bytes(tmp_path, b"\x17\x08\x44tracing" + tail, "g.dat")


@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, 400), st.binary(min_size=1, max_size=64))
def test_tracedat_header_region_overwritten(tmp_path, pos, junk):
    data = bytearray(DAT)
    data[pos:pos + len(junk)] = junk
    _import_bytes(tmp_path, bytes(data[:len(DAT)]), "h.dat")


def _cpu_pages():
    from tracer.ftrace.tracedat import open_tracedat
    td = open_tracedat(str(DATA / "host-6.18-v7.dat"))
    c = max((c for b in td.buffers for c in b.cpus), key=lambda c: c.size)
    return td, bytes(td.cpu_bytes(c))


TD, PAGES = _cpu_pages()


@settings(max_examples=200, **SETTINGS)
@given(st.lists(st.tuples(st.integers(0, len(PAGES) - 1), st.integers(0, 255)), min_size=1,
                max_size=20))
def test_ring_buffer_pages_with_random_byte_changes(changes):
    import numpy as np
    from tracer.ftrace.binary_events import decode_records
    from tracer.ftrace.rawevents import RawTrace
    from tracer.ftrace.ringbuf import decode_pages
    data = bytearray(PAGES)
    for pos, val in changes:
        data[pos] = val
    buf = np.frombuffer(bytes(data), np.uint8)
    recs = decode_pages(buf, TD.page_size, TD.page_header)
    assert (recs.offset + recs.length <= len(buf)).all()
    trace = RawTrace()
    decode_records(buf, recs, TD.formats, 0, trace, 0)
    m = map_trace(trace)
    assert m.accounting["balanced"]


def test_retire_run_whose_work_was_never_queued_has_unknown_delay():
    """Found by the fuzz test above: a queue_work of ANOTHER work item (its address garbled)
    and a run of retire_worker: the run's queue delay is unknown, not an IndexError."""
    text = (b"    kworker/0:1H-90      (     90) [000] d.h1.   100.002000: "
            b"sched_kthread_work_queue_work: work struct=0xffff000040000001 "
            b"function=retire_worker [msm] worker=0xffff000050000000\n"
            b"      gpu-worker-300     (    300) [001] .....   100.002050: "
            b"sched_kthread_work_execute_start: work struct 0xffff000040000000: "
            b"function retire_worker [msm]\n"
            b"      gpu-worker-300     (    300) [001] .....   100.002300: "
            b"sched_kthread_work_execute_end: work struct 0xffff000040000000: "
            b"function retire_worker [msm]\n")
    m = map_trace(parse_text(text))
    assert m.accounting["balanced"]
    assert m.count("retire_run") == 1
    assert m.kinds["retire_run"]["queue_delay_ns"].to_pylist() == [None]
