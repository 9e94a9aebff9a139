"""The mmap ring-buffer consumer on a memfd laid out like a BPF ring buffer map (consumer page,
producer page, data mapped twice): committed records, a busy one, wrap-around, odd records."""
from __future__ import annotations

import mmap
import os
import struct

import pytest

from tracer.live.ringbuf import BUSY, DISCARD, MmapRingBuffer

PAGE = mmap.PAGESIZE
SIZE = 4 * PAGE           # data bytes (power of two)
REC = 24                  # record size; stride = 8 + 24 = 32


class FakeRing:
    def __init__(self):
        self.fd = os.memfd_create("gs-ring")
        os.ftruncate(self.fd, 2 * PAGE + 2 * SIZE)
        self.m = mmap.mmap(self.fd, 2 * PAGE + 2 * SIZE)
        self.prod = 0

    def _put(self, pos: int, data: bytes) -> None:
        for i, b in enumerate(data):   # both copies of the data area (the kernel maps it twice)
            off = (pos + i) % SIZE
            self.m[2 * PAGE + off] = b
            self.m[2 * PAGE + SIZE + off] = b

    def write(self, payload: bytes, *, busy=False, discard=False) -> None:
        ln = len(payload) | (BUSY if busy else 0) | (DISCARD if discard else 0)
        self._put(self.prod, struct.pack("<II", ln, 0) + payload)
        self.prod += (len(payload) + 8 + 7) & ~7
        struct.pack_into("<Q", self.m, PAGE, self.prod)

    def commit_at(self, pos: int, size: int) -> None:
        self._put(pos, struct.pack("<I", size))

    def consumer_pos(self) -> int:
        return struct.unpack_from("<Q", self.m, 0)[0]


def rec(i: int) -> bytes:
    return bytes([i]) * REC


@pytest.fixture
def ring():
    r = FakeRing()
    yield r
    r.m.close()
    os.close(r.fd)


def test_takes_committed_records_and_stops_at_a_busy_one(ring):
    rb = MmapRingBuffer(ring.fd, REC, size=SIZE)
    assert rb.consume() == b""
    for i in range(3):
        ring.write(rec(i))
    busy_at = ring.prod
    ring.write(rec(3), busy=True)
    ring.write(rec(4))
    assert rb.consume() == rec(0) + rec(1) + rec(2)
    assert ring.consumer_pos() == busy_at == 96
    assert rb.consume() == b""                 # still busy: nothing more, position kept
    ring.commit_at(busy_at, REC)
    assert rb.consume() == rec(3) + rec(4)
    assert ring.consumer_pos() == ring.prod == 160
    rb.close()


def test_wraps_around_the_end_of_the_data_area(ring):
    rb = MmapRingBuffer(ring.fd, REC, size=SIZE)
    n_lap = SIZE // 32
    for i in range(n_lap - 2):
        ring.write(rec(i % 250))
    assert len(rb.consume()) == (n_lap - 2) * REC
    for i in range(5):                         # records 3..5 cross the end: contiguous anyway
        ring.write(rec(100 + i))
    assert rb.consume() == b"".join(rec(100 + i) for i in range(5))
    assert ring.consumer_pos() == (n_lap + 3) * 32
    rb.close()


def test_skips_discarded_and_foreign_records(ring):
    rb = MmapRingBuffer(ring.fd, REC, size=SIZE)
    ring.write(rec(1))
    ring.write(rec(2), discard=True)
    ring.write(b"x" * 40)                      # another size: skipped, counted
    ring.write(rec(3))
    assert rb.consume() == rec(1) + rec(3)
    assert rb.odd_records == 2 and ring.consumer_pos() == ring.prod
    rb.close()
