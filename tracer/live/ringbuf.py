"""A BPF ring buffer read straight from its memory map, one numpy pass per drain.

Why not BCC's `ring_buffer_consume`: it calls a Python (ctypes) callback for EVERY record; in the
QEMU guest that callback was the reader's main cost and, at ~40k events/s, the reader fell behind
and the kernel dropped a third of the events. Here a drain is: read producer_pos, view the bytes
between consumer_pos and it as fixed-size records (every record of the combined program is one
struct gs_event), stop at the first record still being written (BUSY bit), copy the committed
ones out, publish the new consumer_pos. No per-record Python.

Layout (kernel/bpf/ringbuf.c, as libbpf maps it): offset 0 of the map fd is the consumer page
(read-write, `unsigned long consumer_pos` at its start); offset PAGE_SIZE is the producer page
(`producer_pos`) followed by the data area mapped TWICE back to back, so a window that wraps is
still contiguous. A record is an 8-byte header (u32 len with BUSY (1<<31) / DISCARD (1<<30) bits,
u32 page offset) and the sample, rounded up to 8 bytes.

Only on x86_64: its memory model orders the producer's data stores before the header store we
read (libbpf uses acquire loads, which Python cannot express); elsewhere the caller keeps BCC's
consumer (`usable()`).
"""
from __future__ import annotations

import mmap
import platform
import struct

import numpy as np

BUSY = 1 << 31
DISCARD = 1 << 30
HDR = 8
_U64 = struct.Struct("<Q")


def usable() -> bool:
    return platform.machine() == "x86_64"


def _map_size(map_fd: int) -> int:
    """max_entries of the ring buffer map (bytes of data), from bpf_map_info."""
    import ctypes

    from .bpf_syscall import obj_info
    info = obj_info(map_fd, 80)
    if info is None:
        raise OSError(ctypes.get_errno(), "BPF_OBJ_GET_INFO_BY_FD failed on the ring buffer")
    # struct bpf_map_info { u32 type, id, key_size, value_size, max_entries; ... }
    return struct.unpack_from("<I", info, 16)[0]


class MmapRingBuffer:
    """Consumer of one BPF ring buffer whose records all have `record_size` bytes."""

    def __init__(self, map_fd: int, record_size: int, size: int | None = None):
        self.size = size if size is not None else _map_size(map_fd)
        if self.size & (self.size - 1):
            raise ValueError(f"ring buffer size {self.size} is not a power of 2")
        self.mask = self.size - 1
        self.record_size = record_size
        self.stride = (record_size + HDR + 7) & ~7
        page = mmap.PAGESIZE
        self._cons = mmap.mmap(map_fd, page, mmap.MAP_SHARED,
                               mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._prod = mmap.mmap(map_fd, page + 2 * self.size, mmap.MAP_SHARED, mmap.PROT_READ,
                               offset=page)
        self._data = np.frombuffer(self._prod, np.uint8)[page:]
        self._page = page
        self.odd_records = 0   # records of another size or discarded (skipped one by one)

    def consume(self) -> bytes:
        """Every committed record since the last call, concatenated (record_size bytes each)."""
        cons = _U64.unpack_from(self._cons, 0)[0]
        prod = _U64.unpack_from(self._prod, 0)[0]
        out: list[bytes] = []
        pos = cons
        while pos < prod:
            pos = self._fast_from(pos, prod, out)
            if pos >= prod:
                break
            # a record the fast path did not take: busy (stop), or discarded / another size
            # (skip it; the combined program writes neither)
            off = pos & self.mask
            ln = int(self._data[off:off + 4].copy().view("<u4")[0])
            if ln & BUSY:
                break
            self.odd_records += 1
            pos += ((ln & ~(BUSY | DISCARD)) + HDR + 7) & ~7
        if pos != cons:
            _U64.pack_into(self._cons, 0, pos)
        return b"".join(out)

    def _fast_from(self, pos: int, prod: int, out: list) -> int:
        start = pos & self.mask
        window = self._data[start:start + (prod - pos)]
        n = len(window) // self.stride
        if not n:
            return pos
        recs = window[:n * self.stride].reshape(n, self.stride)
        lens = recs[:, :4].copy().view("<u4").reshape(n)
        bad = np.flatnonzero(lens != self.record_size)
        k = int(bad[0]) if len(bad) else n
        if k:
            out.append(recs[:k, HDR:HDR + self.record_size].tobytes())
        return pos + k * self.stride

    def close(self) -> None:
        self._data = None
        for m in (self._cons, self._prod):
            try:
                m.close()
            except (BufferError, ValueError):
                pass
