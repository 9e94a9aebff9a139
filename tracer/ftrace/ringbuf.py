"""Decode ftrace ring-buffer pages (trace_pipe_raw, trace.dat CPU data) without a per-event loop.

Page layout (events/header_page): u64 timestamp, a commit word (data bytes used; bit 31 = events
were lost before this page, bit 30 = their count is stored after the data), then the data.
Each entry starts with a u32: type_len (low 5 bits) and time_delta (high 27 bits):
  0       data; array[0] = length + 4, data after it     1..28  data of type_len*4 bytes
  29      padding (array[0] = length; delta 0 = rest of the page is empty)
  30      time extend: delta += array[0] << 27           31     absolute timestamp
All pages are walked at once: iteration k decodes the k-th entry of every page still active, so
the Python loop runs (entries per page) times, not (entries) times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import PageHeader

COMMIT_MASK = (1 << 27) - 1
MISSED_EVENTS = 1 << 31
MISSED_STORED = 1 << 30
TS_SHIFT = 27
TS_MSB = np.uint64(0xF8 << 56)


@dataclass
class Records:
    """Data entries of one CPU buffer, in buffer order."""
    ts: np.ndarray          # uint64 ring-buffer clock
    offset: np.ndarray      # int64 offset of the entry's data in the buffer
    length: np.ndarray      # int64 bytes of data
    lost: int = 0           # events the kernel reported lost (stored counts; -1 pages unknown)
    lost_pages: int = 0     # pages flagged "events missed before this page"
    corrupt_pages: int = 0  # pages whose entries ran past their commit (decoding stopped there)
    pages: int = 0


def _u64_at(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    idx = pos[:, None] + np.arange(8)
    return buf[idx].copy().view("<u8").ravel()


def _u32_at(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    idx = pos[:, None] + np.arange(4)
    return buf[idx].copy().view("<u4").ravel().astype(np.int64)


def decode_pages(buf: np.ndarray, page_size: int, header: PageHeader | None = None) -> Records:
    """Walk every page of a per-CPU buffer (uint8 array); bytes after the last whole page are ignored."""
    header = header or PageHeader()
    if page_size < 64 or page_size % 8:
        raise ValueError(f"page size {page_size} is not usable")
    npages = len(buf) // page_size
    empty = np.zeros(0, np.int64)
    if npages == 0:
        return Records(np.zeros(0, np.uint64), empty, empty)
    base = np.arange(npages, dtype=np.int64) * page_size
    page_ts = _u64_at(buf, base)
    if header.commit_size == 8:
        commit = _u64_at(buf, base + header.commit_offset).astype(np.int64) & 0xFFFFFFFF
    else:
        commit = _u32_at(buf, base + header.commit_offset)
    data0 = header.data_offset
    size = commit & COMMIT_MASK
    corrupt = size > page_size - data0
    size = np.minimum(size, page_size - data0)
    missed = (commit & MISSED_EVENTS) != 0
    stored = missed & ((commit & MISSED_STORED) != 0) & (size + data0 + 8 <= page_size)
    lost = int(_u64_at(buf, base[stored] + data0 + size[stored]).astype(np.int64).clip(0, 1 << 40)
               .sum()) if stored.any() else 0

    pos = base + data0
    end = base + data0 + size
    ts = page_ts.copy()
    act = np.flatnonzero(pos + 4 <= end)
    out_ts, out_off, out_len = [], [], []
    for _ in range(page_size // 4 + 1):
        if len(act) == 0:
            break
        p, e = pos[act], end[act]
        hdr = _u32_at(buf, p)
        tl = hdr & 31
        delta = (hdr >> 5).astype(np.uint64)
        has_arr0 = p + 8 <= e
        arr0 = np.where(has_arr0, _u32_at(buf, np.where(has_arr0, p + 4, p)), 0)
        t = ts[act]
        nxt = np.full(len(act), -1, np.int64)
        dlen = np.zeros(len(act), np.int64)
        doff = p + 4
        small = (tl >= 1) & (tl <= 28)
        dlen[small] = tl[small] * 4
        nxt[small] = p[small] + 4 + dlen[small]
        big = (tl == 0) & has_arr0 & (arr0 >= 4)
        dlen[big] = ((arr0[big] - 4) + 3) & ~3
        doff = np.where(big, p + 8, doff)
        nxt[big] = p[big] + 8 + dlen[big]
        pad = (tl == 29) & (delta != 0) & has_arr0
        nxt[pad] = p[pad] + 4 + arr0[pad]
        ext = (tl == 30) & has_arr0
        nxt[ext] = p[ext] + 8
        absl = (tl == 31) & has_arr0
        nxt[absl] = p[absl] + 8
        add = small | big | pad
        t = t + np.where(add, delta, np.uint64(0))
        t = t + np.where(ext, (arr0.astype(np.uint64) << np.uint64(TS_SHIFT)) + delta, np.uint64(0))
        stamp = (arr0.astype(np.uint64) << np.uint64(TS_SHIFT)) | delta
        t = np.where(absl, stamp | (t & TS_MSB), t)
        ts[act] = t
        is_data = (small | big) & (nxt <= e)
        if is_data.any():
            out_ts.append(t[is_data])
            out_off.append(doff[is_data])
            out_len.append(dlen[is_data])
        end_of_page = (tl == 29) & (delta == 0)
        bad = ((nxt < 0) | (nxt > e)) & ~end_of_page
        corrupt[act[bad]] = True
        nxt = np.where(bad | end_of_page, e, nxt)
        pos[act] = nxt
        act = act[nxt + 4 <= e]
    if out_off:
        off = np.concatenate(out_off)
        order = np.argsort(off, kind="stable")
        rts, roff, rlen = np.concatenate(out_ts)[order], off[order], np.concatenate(out_len)[order]
    else:
        rts, roff, rlen = np.zeros(0, np.uint64), empty, empty
    return Records(rts, roff, rlen, lost=lost, lost_pages=int(missed.sum()),
                   corrupt_pages=int(corrupt.sum()), pages=npages)
