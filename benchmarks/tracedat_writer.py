"""Write a trace.dat version 6 (uncompressed) from the metadata of an existing trace.dat and
ring-buffer pages, so benchmarks can replicate a real trace into millions of events that both
gemscope and trace-cmd read. (Benchmark tooling: gemscope itself never writes trace.dat.)"""
from __future__ import annotations

import struct

import numpy as np

from tracer.ftrace.tracedat import TraceDat


def _block64(name: bytes, text: str) -> bytes:
    data = text.encode()
    return name + b"\0" + struct.pack("<Q", len(data)) + data


def write_v6(out: str, td: TraceDat, cpu_pages: list[bytes], clock: str = "mono") -> None:
    formats = td.raw_texts.get("formats", [])
    head = bytearray(b"\x17\x08\x44tracing6\0" + bytes([0, td.long_size]) +
                     struct.pack("<I", td.page_size))
    head += _block64(b"header_page", td.raw_texts["header_page"])
    head += _block64(b"header_event", td.raw_texts["header_event"])
    ftrace = [t for s, t in formats if s == "ftrace"]
    head += struct.pack("<I", len(ftrace))
    for t in ftrace:
        head += struct.pack("<Q", len(t.encode())) + t.encode()
    systems: dict[str, list[str]] = {}
    for s, t in formats:
        if s != "ftrace":
            systems.setdefault(s, []).append(t)
    head += struct.pack("<I", len(systems))
    for s, texts in systems.items():
        head += s.encode() + b"\0" + struct.pack("<I", len(texts))
        for t in texts:
            head += struct.pack("<Q", len(t.encode())) + t.encode()
    ks = td.kallsyms_text.encode()
    head += struct.pack("<I", len(ks)) + ks
    head += struct.pack("<I", 0)                                   # printk formats
    cmd = "".join(f"{p} {c}\n" for p, c in td.cmdlines.items()).encode()
    head += struct.pack("<Q", len(cmd)) + cmd
    head += struct.pack("<I", len(cpu_pages))
    clock_text = f"[{clock}]\0".encode()
    head += b"options  \0" + struct.pack("<HI", 4, len(clock_text)) + clock_text + \
        struct.pack("<H", 0)
    head += b"flyrecord\0"
    table_at = len(head)
    head += b"\0" * (16 * len(cpu_pages))
    offset = -(-len(head) // td.page_size) * td.page_size
    table = b""
    for pages in cpu_pages:
        table += struct.pack("<QQ", offset, len(pages))
        offset += -(-len(pages) // td.page_size) * td.page_size
    head[table_at:table_at + len(table)] = table
    with open(out, "wb") as f:
        f.write(head)
        for pages in cpu_pages:
            f.seek(-(-f.tell() // td.page_size) * td.page_size)
            f.write(pages)


def replicate_pages(pages: bytes, page_size: int, copies: int, shift_ns: int) -> bytes:
    """`copies` copies of a CPU's pages, each copy's page timestamps moved `shift_ns` later."""
    one = np.frombuffer(pages, np.uint8)
    n = len(one) // page_size
    one = one[:n * page_size].reshape(n, page_size)
    out = np.tile(one, (copies, 1))
    ts = out[:, :8].copy().view("<u8").ravel()
    ts += np.repeat(np.arange(copies, dtype=np.uint64) * np.uint64(shift_ns), n)
    out[:, :8] = ts.view(np.uint8).reshape(-1, 8)
    return out.tobytes()
