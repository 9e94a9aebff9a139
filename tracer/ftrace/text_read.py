"""Reading an ftrace text file for the parser (text.py) without mapping it.

A regular file with a size is read in chunks of whole lines into one buffer per parse thread,
reused from chunk to chunk (os.preadv: a page-cache copy, ~0.04 CPU-s for 258 MB here, against
~0.1 for mapping the file and touching its pages and 0.1-1 s for reading it into one fresh
buffer). Every chunk is handed over with PAD bytes of the file on both sides, as one buffer
holding the whole file would have them: the text is seen as the file's bytes, then a newline,
with spaces before the start and after that newline. Unlike a mapping, a file truncated by
another process while it is read cannot fault (SIGBUS): a read that comes back short raises
TextReadError (one line). Files that report no size (tracefs `trace`, /proc files) and other
special files are read whole, to their end, by read_whole.
"""
from __future__ import annotations

import os
import stat

import numpy as np

from ..errors import GemscopeError
from .text_scan import PAD, SPACE


class TextReadError(GemscopeError):
    """The text file could not be read to its end (it shrank while it was read)."""


class TextFile:
    """A regular file of `size` bytes (> 0) to be read in chunks (parse_buffer accepts it)."""

    def __init__(self, path: str, size: int):
        self.path, self.size = path, size

    def fill(self, fd: int, out: np.ndarray, off: int) -> None:
        """out = the padded text's bytes from offset off (file offsets; before 0: spaces, at
        size: a newline, after it: spaces)."""
        n = len(out)
        lo, hi = max(off, 0), min(off + n, self.size)
        out[:max(0, min(n, -off))] = SPACE
        if off + n > self.size:
            out[max(0, self.size - off):] = SPACE
            if off <= self.size < off + n:
                out[self.size - off] = 10
        while lo < hi:
            got = os.preadv(fd, [memoryview(out)[lo - off:hi - off]], lo)
            if got <= 0:
                now = os.fstat(fd).st_size
                raise TextReadError(f"{self.path}: the file shrank from {self.size} to {now} "
                                    "bytes while it was read; import a copy that is not being "
                                    "written")
            lo += got

    def reread(self, off: int, n: int) -> np.ndarray:
        """A fresh copy of n padded bytes from offset off (for the rare payloads needed later)."""
        out = np.empty(n, np.uint8)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            self.fill(fd, out, off)
        finally:
            os.close(fd)
        return out

    def line_start_after(self, fd: int, pos: int) -> int:
        """The first line start at or after pos (size + 1 when none is left)."""
        if pos <= 0:
            return 0
        win = np.empty(65536, np.uint8)
        p = pos - 1
        while p <= self.size:
            self.fill(fd, win, p)
            k = int(np.argmax(win == 10))
            if win[k] == 10:
                return p + k + 1
            p += len(win)
        return self.size + 1

    def chunks(self, start: int, stop: int, chunk_bytes: int):
        """(view, n, (self, offset, length)) of consecutive chunks of the lines in [start, stop)
        (line starts): view[PAD:PAD + n] is the chunk's text, view[PAD + n] its last newline,
        with PAD bytes of the padded text on both sides; offset is view[0]'s. Each view is
        overwritten by the next one."""
        step = max(chunk_bytes, 1)
        buf = np.empty(2 * PAD + step + 1, np.uint8)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            pos, filled = start, 0          # buf[i] is the text at pos - PAD + i, i < filled
            while pos < stop:
                want = min(PAD + step + PAD, stop - pos + 2 * PAD)
                if want > len(buf):
                    buf = _grown(buf, want, filled)
                if filled < want:
                    self.fill(fd, buf[filled:want], pos - PAD + filled)
                    filled = want
                last = _last_newline(buf, PAD, min(want - PAD, stop - pos + PAD))
                if last < 0:                # a line longer than the chunk: read more of it
                    if want == stop - pos + 2 * PAD:    # no newline before stop: not the file
                        raise TextReadError(f"{self.path}: the file changed while it was read; "
                                            "import a copy that is not being written")
                    step *= 2
                    continue
                n = last - PAD
                yield buf[:last + 1 + PAD], n, (self, pos - PAD, last + 1 + PAD)
                used = n + 1
                buf[:filled - used] = buf[used:filled]
                pos, filled = pos + used, filled - used
        finally:
            os.close(fd)


def _grown(buf: np.ndarray, size: int, filled: int) -> np.ndarray:
    new = np.empty(size, np.uint8)
    new[:filled] = buf[:filled]
    return new


def _last_newline(buf: np.ndarray, lo: int, hi: int) -> int:
    """Index of the last newline in buf[lo:hi], -1 when there is none."""
    p = hi
    while p > lo:
        q = max(lo, p - 65536)
        win = buf[q:p][::-1] == 10
        k = int(np.argmax(win))
        if win[k]:
            return p - 1 - k
        p = q
    return -1


def open_text(path: str):
    """A TextFile for a regular file with a size, else None (the file is read whole)."""
    st = os.stat(path)
    if stat.S_ISREG(st.st_mode) and st.st_size > 0:
        return TextFile(path, st.st_size)
    return None


def read_whole(path: str) -> tuple[np.ndarray, int]:
    """The file's bytes in memory with PAD spaces on both sides and a newline after them, and
    their count: read to the end when the file reports no size, else up to its size (fewer
    when it shrank between the stat and the read: the newline and padding follow what was
    read)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            data = f.read()
            a = np.empty(PAD + len(data) + 1 + PAD, np.uint8)
            a[PAD:PAD + len(data)] = np.frombuffer(data, np.uint8)
            return _pad(a, len(data)), len(data)
        a = np.empty(PAD + size + 1 + PAD, np.uint8)
        got, view = 0, memoryview(a)[PAD:PAD + size]
        while got < size:
            k = f.readinto(view[got:])
            if not k:
                break
            got += k
    return _pad(a[:PAD + got + 1 + PAD], got), got


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    a[:PAD] = SPACE
    a[PAD + n] = 10
    a[PAD + n + 1:] = SPACE
    return a
