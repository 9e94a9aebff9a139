"""ftrace text is parsed in chunks that end at newlines: any chunk size gives exactly the events,
line numbers, bad lines, lost counts and stacks of one pass over the whole text."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_ftrace_text import STACK_TEXT as STACKS
from tracer.ftrace.mapping import map_trace
from tracer.ftrace.text import parse_text

DATA = Path(__file__).resolve().parent.parent / "data"
HAND = (DATA / "handwritten-ftrace.txt").read_bytes()
# a non-ASCII line (replaced once per chunk), a CR line ending and a line that fails the
# contention fast path in one chunk only (garbled flags): every chunk then takes the general path
ODD = (b"\xff\xfe bad-1 [000] 3.0: contention_end: 0x10 (ret=0)\r\n"
       b"   bash-5 [001] d..1.  4.000001: contention_begin: 0x30 (flags=SPIN|BOGUS)\n")
TEXT = HAND + STACKS + HAND + ODD + STACKS


def _dump(trace):
    out = {"events_in": trace.events_in, "bad": trace.bad_count, "bad_lines": trace.bad_lines,
           "lost": trace.lost_by_cpu, "meta": trace.meta, "order": list(trace.groups)}
    for name, g in trace.groups.items():
        out[name] = (g.system, g.ts.tolist(), g.cpu.tolist(), g.tid.tolist(), g.seq.tolist(),
                     g.comm.to_pylist(), None if g.tgid is None else g.tgid.tolist(),
                     {k: v.to_pylist() for k, v in g.fields.items()},
                     None if g.payload is None else g.payload.to_pylist())
    return out


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, 5000])
def test_any_chunk_size_gives_the_whole_pass(chunk):
    whole = parse_text(TEXT, chunk_bytes=1 << 30)
    assert _dump(parse_text(TEXT, chunk_bytes=chunk)) == _dump(whole)


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
@pytest.mark.parametrize("chunk", [7, 300])
def test_threads_give_the_one_thread_pass(chunk, workers):
    """Runs of chunks parsed by threads, each from its own line number, merged in order."""
    one = parse_text(TEXT * 3, chunk_bytes=1 << 30, workers=1)
    seen = []
    got = parse_text(TEXT * 3, chunk_bytes=chunk, workers=workers,
                     progress=lambda done, total: seen.append((done, total)))
    assert _dump(got) == _dump(one)
    assert seen[0] == (0, len(TEXT * 3)) and seen[-1] == (len(TEXT * 3), len(TEXT * 3))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_threads_keep_the_first_bad_lines_only(monkeypatch):
    from tracer.ftrace import text
    monkeypatch.setattr(text, "MAX_BAD_LINES_KEPT", 5)
    bad = b"".join(b"not an event %d\n" % i for i in range(40))
    one = parse_text(bad, chunk_bytes=1 << 30, workers=1)
    two = parse_text(bad, chunk_bytes=64, workers=2)
    assert one.bad_lines == two.bad_lines == [1, 2, 3, 4, 5]
    assert one.bad_count == two.bad_count == 40


def test_whole_pass_values_of_the_mixed_text():
    t = parse_text(TEXT, chunk_bytes=50)
    assert t.events_in == 30 + 6 + 30 + 2 + 6          # a stack is an event, its frames are not
    n_hand = HAND.count(b"\n")
    n_stk = STACKS.count(b"\n")
    assert t.bad_lines == [16, 28, n_hand + n_stk + 16, n_hand + n_stk + 28]
    assert t.lost_by_cpu == {1: 34}
    assert t.meta["import_stack_text_lines"] == 6
    end = t.groups["contention_end"]
    assert end.payload is None and set(end.fields) == {"lock_addr", "ret"}
    odd_line = 2 * n_hand + n_stk + 1
    begin = t.groups["contention_begin"]
    j = begin.seq.tolist().index(odd_line + 1)
    assert begin.fields == {} and begin.payload[j].as_py() == "0x30 (flags=SPIN|BOGUS)"
    i = end.seq.tolist().index(odd_line)
    assert end.comm[i].as_py() == "\ufffd\ufffd bad" and end.ts[i] == 3_000_000_000
    assert end.fields["lock_addr"][i].as_py() == 0x10 and end.fields["ret"][i].as_py() == 0
    stk = t.groups["kernel_stack"]
    assert stk.fields["frames_text"].to_pylist() == [
        "__pv_queued_spin_lock_slowpath\n_raw_spin_lock+0x3b", "foo"] * 2
    m = map_trace(t)
    assert m.accounting["balanced"]


def test_contention_fast_path_ignores_the_bytes_after_the_payload():
    # a short address followed, 17 bytes on, by hex letters of the next line
    text = (b"  a-1 [000] 1.0: contention_end: 0x10 (ret=0)\n"
            b"  abcdef-2 [000] 2.0: contention_end: 0x20 (ret=-4)\n")
    g = parse_text(text).groups["contention_end"]
    assert g.payload is None
    assert g.fields["lock_addr"].to_pylist() == [0x10, 0x20]
    assert g.fields["ret"].to_pylist() == [0, -4]
    assert np.array_equal(g.seq, [1, 2])


def test_columns_far_from_the_line_start_are_found_in_the_whole_chunk():
    # the bracket, the event name's colon and an instance prefix's colon are searched NEAR bytes
    # after their start first; these lines need the look-up among all of the chunk's bytes
    text = (b"x" * 80 + b"-12 [001] 5.000001: contention_end: 0x10 (ret=0)\n" +
            b"  a-1 [000] 5.5: " + b"e" * 70 + b": a=1\n" +
            b"inst:  " + b"y" * 70 + b"-3 [000] 6.0: foo: bar\n" +
            b"inst:  z-4 [000] 7.0: foo: baz\n" +
            b"   " + b"q" * 70 + b" [x] no bracket near-5 [001] 8.0: foo: far\n")
    for chunk in (1 << 20, 10):
        t = parse_text(text, chunk_bytes=chunk)
        assert t.events_in == 5 and t.bad_lines == []
        end = t.groups["contention_end"]
        assert end.comm.to_pylist() == ["x" * 80] and end.tid.tolist() == [12]
        assert end.cpu.tolist() == [1] and end.ts.tolist() == [5_000_001_000]
        assert t.groups["e" * 70].payload.to_pylist() == ["a=1"]
        foo = t.groups["foo"]
        assert foo.comm.to_pylist() == ["y" * 70, "z", "q" * 70 + " [x] no bracket near"]
        assert foo.tid.tolist() == [3, 4, 5] and foo.cpu.tolist() == [0, 0, 1]
        assert foo.payload.to_pylist() == ["bar", "baz", "far"]


def test_instance_prefixes_are_cut_from_the_chunks_distinct_comms():
    """An "INSTANCE:  " prefix (first colon of the comm, two spaces) is found among a chunk's
    distinct comms and cut with the spaces after it, on event and "<stack trace>" lines alike;
    a comm whose first colon has one space after it keeps it, and so does one whose first colon
    is not followed by two spaces even when a later one is."""
    pad = b" " * 200
    text = (b"inst:  bash-5 [000] 1.0: foo: a\n"
            b"inst:     bash-5 [000] 2.0: foo: b\n"
            b"app: main-7 [001] 3.0: foo: c\n"
            b"a:b:  c-8 [001] 4.0: foo: d\n"
            b"inst:  bash-5 [000] 5.0: <stack trace>\n"
            b"=> fn\n"
            b"x:" + pad + b"y-9 [000] 6.0: foo: e\n"
            b"inst:  -10 [000] 7.0: foo: f\n"
            b"bash-5 [000] 8.0: foo: g\n")
    for chunk in (1 << 20, 40):
        t = parse_text(text, chunk_bytes=chunk)
        assert t.events_in == 8 and t.bad_lines == []
        foo = t.groups["foo"]
        # 200 spaces: the comm column's skip stops 160 bytes in (16 + 10 windows of 16)
        assert foo.comm.to_pylist() == ["bash", "bash", "app: main", "a:b:  c",
                                        " " * 40 + "y", "", "bash"]
        assert foo.tid.tolist() == [5, 5, 7, 8, 9, 10, 5]
        assert t.groups["kernel_stack"].comm.to_pylist() == ["bash"]
        assert t.groups["kernel_stack"].fields["frames_text"].to_pylist() == ["fn"]


def test_brackets_in_the_second_window_and_beyond():
    """The [CPU] bracket is searched NEAR_BRACKET bytes after the line start, then FAR_BRACKET
    bytes further, then among all of the chunk's brackets: the first " [<digit>" either way,
    whichever window it is in (a "[" that is not the CPU's comes before it on one line)."""
    from tracer.ftrace.text import FAR_BRACKET, NEAR_BRACKET
    assert (NEAR_BRACKET, FAR_BRACKET) == (40, 40)
    at = (3, 39, 40, 79, 80, 120)                   # where each line's "[" is
    lines = [b"c" * (k - 3) + b"-%d [00%d] %d.0: foo: p%d\n" % (i, i, i, i)
             for i, k in enumerate(at)]
    lines.append(b"w [x] " + b"d" * 37 + b"-6 [006] 6.0: foo: p6\n")   # CPU "[" at 46
    text = b"".join(lines)
    assert [ln.index(b" [0") + 1 for ln in lines] == [*at, 46]
    for chunk in (1 << 20, 10):
        t = parse_text(text, chunk_bytes=chunk)
        assert t.events_in == 7 and t.bad_lines == []
        foo = t.groups["foo"]
        assert foo.cpu.tolist() == foo.tid.tolist() == list(range(7))
        assert foo.comm.to_pylist() == ["c" * (k - 3) for k in at] + ["w [x] " + "d" * 37]
        assert foo.payload.to_pylist() == ["p%d" % i for i in range(7)]
        assert foo.ts.tolist() == [i * 1_000_000_000 for i in range(7)]


def test_names_sliced_from_one_sorted_chunk_keep_their_own_columns():
    """A chunk's columns are put in name order once and each name takes its slice: interleaved
    names keep their rows, line numbers (moved past the earlier runs' lines in place, slice by
    slice) and tgid column, which only the names that have it get."""
    text = b"".join(b"  p-%d (%5d) [00%d] %d.5: a: x=%d\n  q-%d [001] %d.7: b: y\n"
                    % (i, 100 + i, i % 2, i, i, 50 + i, i) for i in range(6))
    for chunk, workers in ((1 << 20, 1), (40, 1), (60, 2), (60, 3)):
        t = parse_text(text, chunk_bytes=chunk, workers=workers)
        ga, gb = t.groups["a"], t.groups["b"]
        assert ga.seq.tolist() == [1, 3, 5, 7, 9, 11] and gb.seq.tolist() == [2, 4, 6, 8, 10, 12]
        assert ga.tid.tolist() == list(range(6)) and gb.tid.tolist() == list(range(50, 56))
        assert ga.tgid.tolist() == list(range(100, 106)) and gb.tgid is None
        assert ga.cpu.tolist() == [0, 1, 0, 1, 0, 1] and gb.cpu.tolist() == [1] * 6
        assert ga.ts.tolist() == [i * 1_000_000_000 + 500_000_000 for i in range(6)]
        assert ga.payload.to_pylist() == ["x=%d" % i for i in range(6)]
        assert gb.comm.to_pylist() == ["q"] * 6
