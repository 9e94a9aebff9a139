"""Reading ftrace text files (text_read.py): regular files in chunks of reused buffers, parsed
exactly like the bytes in memory; a file that shrinks while it is read gives one clear error,
never a fault; files without a size are read to their end."""
from __future__ import annotations

import os
import types

import numpy as np
import pytest

from test_ftrace_text_chunks import TEXT, _dump
from tracer.errors import GemscopeError
from tracer.ftrace import text_read
from tracer.ftrace.text import PAD, parse_buffer, parse_text, read_padded
from tracer.ftrace.text_read import TextFile, TextReadError


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1, 7, 300, 1 << 20])
def test_a_file_parses_like_its_bytes(tmp_path, chunk, workers):
    """Chunk views are overwritten, yet payloads needed later (ODD sends contention_begin to the
    general path after fast chunks) are read again from the file."""
    p = tmp_path / "t.txt"
    p.write_bytes(TEXT * 2)
    f, n = read_padded(str(p))
    assert isinstance(f, TextFile) and n == len(TEXT * 2)
    seen = []
    got = parse_buffer(f, n, lambda d, t: seen.append((d, t)), chunk_bytes=chunk, workers=workers)
    assert _dump(got) == _dump(parse_text(TEXT * 2, chunk_bytes=1 << 30, workers=1))
    assert seen[0] == (0, n) and seen[-1] == (n, n)


def test_no_final_newline_and_blank_lines(tmp_path):
    body = b"\n\n  x-1 [000] 1.5: contention_end: 0x1 (ret=0)\n\nx-1 [000] 2.5: foo: bar"
    p = tmp_path / "t.txt"
    p.write_bytes(body)
    assert _dump(parse_buffer(*read_padded(str(p)), chunk_bytes=5)) == _dump(parse_text(body))


def test_fill_pads_like_the_whole_buffer(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"abcdef")
    f = TextFile(str(p), 6)
    fd = os.open(str(p), os.O_RDONLY)
    try:
        for off, n, want in ((-3, 5, b"   ab"), (4, 6, b"ef\n   "), (7, 3, b"   "),
                             (-2, 10, b"  abcdef\n "), (1, 2, b"bc")):
            out = bytearray(n)
            arr = np.frombuffer(out, np.uint8)
            f.fill(fd, arr, off)
            assert bytes(out) == want, (off, n)
    finally:
        os.close(fd)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_truncated_while_it_is_read_gives_one_clear_error(tmp_path, workers):
    p = tmp_path / "t.txt"
    data = TEXT * 20
    p.write_bytes(data)
    f, n = read_padded(str(p))

    def shrink(done, total):
        if done > 0:
            os.truncate(p, len(data) // 3)
    with pytest.raises(TextReadError) as e:
        parse_buffer(f, n, shrink, chunk_bytes=200, workers=workers)
    msg = str(e.value)
    assert isinstance(e.value, GemscopeError) and "\n" not in msg
    assert msg == (f"{p}: the file shrank from {len(data)} to {len(data) // 3} bytes while it "
                   "was read; import a copy that is not being written")


def test_a_file_truncated_before_a_payload_is_read_again(tmp_path, monkeypatch):
    """The general path needs a chunk's payload strings after its buffer was reused: the file is
    read again, and gives the same error if it shrank in between."""
    p = tmp_path / "t.txt"
    p.write_bytes(TEXT)
    f, n = read_padded(str(p))
    real = TextFile.reread

    def reread(self, off, length):
        os.truncate(p, 10)
        return real(self, off, length)
    monkeypatch.setattr(TextFile, "reread", reread)
    with pytest.raises(TextReadError, match="shrank from"):
        parse_buffer(f, n, chunk_bytes=50, workers=1)


def test_a_run_whose_end_is_no_longer_a_line_start_stops_with_an_error(tmp_path):
    """A file rewritten between finding the threads' line starts and reading them: an error,
    never a loop waiting for a newline that is not there."""
    p = tmp_path / "t.txt"
    p.write_bytes(b"abc\ndef")
    chunks = TextFile(str(p), 7).chunks(0, 6, 1)
    view, n, _ = next(chunks)
    assert view[PAD:PAD + n + 1].tobytes() == b"abc\n"
    with pytest.raises(TextReadError, match="changed while it was read"):
        next(chunks)


def test_read_whole_keeps_the_layout_when_the_file_shrank_after_the_stat(tmp_path, monkeypatch):
    """read_whole for a file whose stat says more bytes than a read gives: the newline and the
    padding follow the bytes read."""
    p = tmp_path / "t.txt"
    p.write_bytes(b"0123456789")
    real = os.fstat
    monkeypatch.setattr(text_read.os, "fstat",
                        lambda fd: types.SimpleNamespace(st_size=real(fd).st_size + 7))
    a, n = text_read.read_whole(str(p))
    assert n == 10
    assert a.tobytes() == b" " * PAD + b"0123456789\n" + b" " * PAD


def test_empty_and_special_files_are_read_whole(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    a, n = read_padded(str(p))
    assert n == 0 and a.tobytes() == b" " * PAD + b"\n" + b" " * PAD


def test_files_without_a_size_are_read_to_their_end():
    """tracefs `trace` and /proc files report size 0 but have text: all of it is read."""
    a, n = read_padded("/proc/self/status")
    text = a[PAD:PAD + n].tobytes()
    assert n > 0 and text.startswith(b"Name:") and a[PAD + n] == 10
    assert a[:PAD].tobytes() == b" " * PAD and a[PAD + n + 1:].tobytes() == b" " * PAD
