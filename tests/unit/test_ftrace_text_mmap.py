"""read_padded maps a text file in place (text_mmap): the same padded bytes as a read, the file
itself untouched, and the parse equal to parsing the bytes."""
from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest

from tracer.ftrace import text_mmap
from tracer.ftrace.text import PAD, SPACE, parse_buffer, parse_text, read_padded

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("size", [1, 100, mmap.PAGESIZE - 1, mmap.PAGESIZE, mmap.PAGESIZE + 1,
                                  3 * mmap.PAGESIZE])
def test_padded_layout_and_the_file_is_not_written(tmp_path, size):
    body = bytes(np.random.default_rng(size).integers(33, 127, size).astype(np.uint8))
    p = tmp_path / "t.txt"
    p.write_bytes(body)
    got = text_mmap.map_padded(str(p), PAD, SPACE)
    assert got is not None
    a, n = got
    assert n == size
    assert a.tobytes() == b" " * PAD + body + b"\n" + b" " * PAD
    a[PAD] = ord("#")                                    # private: never reaches the file
    del a
    assert p.read_bytes() == body


def test_empty_and_special_files_are_read_instead(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    assert text_mmap.map_padded(str(p), PAD, SPACE) is None
    a, n = read_padded(str(p))
    assert n == 0 and a.tobytes() == b" " * PAD + b"\n" + b" " * PAD
    assert text_mmap.map_padded("/proc/self/status", PAD, SPACE) is None


def test_mapped_text_parses_like_the_bytes():
    path = DATA / "handwritten-ftrace.txt"
    a, n = read_padded(str(path))
    t1, t2 = parse_buffer(a, n), parse_text(path.read_bytes())
    assert (t1.events_in, t1.bad_count, t1.bad_lines) == (t2.events_in, t2.bad_count, t2.bad_lines)
    assert list(t1.groups) == list(t2.groups)
    for name, g in t1.groups.items():
        assert g.ts.tolist() == t2.groups[name].ts.tolist()
        assert g.comm.to_pylist() == t2.groups[name].comm.to_pylist()


def test_files_without_a_size_are_read_to_their_end():
    """tracefs `trace` and /proc files report size 0 but have text: all of it is read."""
    a, n = read_padded("/proc/self/status")
    text = a[PAD:PAD + n].tobytes()
    assert n > 0 and text.startswith(b"Name:") and a[PAD + n] == 10
    assert a[:PAD].tobytes() == b" " * PAD and a[PAD + n + 1:].tobytes() == b" " * PAD
