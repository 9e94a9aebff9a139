"""A text file as a padded byte buffer (read_padded's layout) without copying it: the file is
mapped private (copy on write) right after an anonymous page that holds the front padding, so
the bytes come straight from the page cache. Reading 258 MB this way took 0.06-0.08 CPU-s on
the test machine, against 0.3-1.7 s for read() into fresh memory (the kernel copies the bytes
and zero-fills, or compacts for, the new pages). Linux/glibc only: None elsewhere, or for what
cannot be mapped (empty or special files), and the caller reads the file instead.

The mapping is writable and private: the newline and padding written after the data never reach
the file. A file truncated by another process while it is parsed would fault (SIGBUS), as any
mapped file does.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import stat
import weakref

import numpy as np

_PROT = mmap.PROT_READ | mmap.PROT_WRITE
_MAP_FIXED = 0x10


def _libc():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc() if os.name == "posix" and hasattr(mmap, "MAP_ANONYMOUS") else None
_FAILED = ctypes.c_void_p(-1).value


def map_padded(path: str, pad: int, fill: int) -> tuple[np.ndarray, int] | None:
    """(buffer, size): pad bytes of `fill`, the file's bytes, a newline, pad bytes of `fill`;
    None when the file cannot be mapped this way."""
    page = mmap.PAGESIZE
    if _LIBC is None or not 0 < pad < page:
        return None
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        size = st.st_size
        if size == 0 or not stat.S_ISREG(st.st_mode):         # regular files only
            return None
        total = page + -(-size // page) * page + page     # front page, the file, a page after
        base = _LIBC.mmap(None, total, _PROT, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if base in (None, _FAILED):
            return None
        got = _LIBC.mmap(base + page, size, _PROT, mmap.MAP_PRIVATE | _MAP_FIXED, f.fileno(), 0)
    if got != base + page:
        _LIBC.munmap(base, total)
        return None
    raw = (ctypes.c_char * total).from_address(base)
    weakref.finalize(raw, _LIBC.munmap, base, total)     # unmapped with the last array using it
    a = np.frombuffer(raw, np.uint8)[page - pad:page + size + 1 + pad]
    a[:pad] = fill
    a[pad + size] = 10
    a[pad + size + 1:] = fill
    return a, size
