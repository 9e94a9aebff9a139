"""trace.dat import: real files recorded on the test host, their trace-cmd report text, and the
ring-buffer page encoding on hand-built pages."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support import require
from tests.ftrace_capture import canonical, event_lines
from tracer.errors import GemscopeError
from tracer.ftrace.formats import PageHeader
from tracer.ftrace.ringbuf import decode_pages
from tracer.ftrace.tracedat import TraceDatError, open_tracedat
from tracer.importers import import_file

DATA = Path(__file__).resolve().parent.parent / "data"
V7 = DATA / "host-6.18-v7.dat"
V7_TEXT = DATA / "host-6.18-v7.txt"


def test_v7_fixture_every_event_accounted():
    im = import_file(str(V7))
    acc = im.meta["import_accounting"]
    assert acc["events_in"] == event_lines(V7_TEXT) == 680
    assert acc["balanced"] and acc["bad"] == 0
    assert acc["mapped_inputs"] + acc["generic"] + acc["unpaired_total"] == 680
    assert im.mapped.count("lock_contention") == 235
    assert im.mapped.count("shrink_slab") == 105
    assert im.meta["source"] == "import:trace.dat v7"
    assert im.meta["import_compression"] == "zstd"
    assert im.meta["import_clock"] == "local"


def test_report_text_of_the_same_file_gives_the_same_events():
    a, b = import_file(str(V7)), import_file(str(V7_TEXT))
    ca, cb = canonical(a), canonical(b)
    assert set(ca) == set(cb) == {"lock_contention", "shrink_slab"}
    for kind in ca:
        names = [n for n in ca[kind][0] if n != "pid"]
        ia = [ca[kind][0].index(n) for n in names]
        ib = [cb[kind][0].index(n) for n in names]
        rows_a = sorted((tuple(r[i] for i in ia) for r in ca[kind][1]), key=repr)
        rows_b = sorted((tuple(r[i] for i in ib) for r in cb[kind][1]), key=repr)
        assert rows_a == rows_b, kind


def test_first_shrink_slab_exact_values():
    im = import_file(str(V7))
    c = im.mapped.kinds["shrink_slab"]
    i = int(np.argmin(c["ts_ns"]))
    # cross-checked with `trace-cmd report -t` of the fixture
    line = next(x for x in V7_TEXT.read_text().splitlines() if "mm_shrink_slab_start" in x)
    sym = line.split("mm_shrink_slab_start:")[1].split()[0].split("+")[0]
    secs = line.split("]")[1].split(":")[0].strip()
    assert c["ts_ns"][i] == int(secs.replace(".", ""))
    assert c["shrinker"][i].as_py() == sym


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    require(shutil.which("trace-cmd") is not None, "trace-cmd not installed (setup.sh --test)")
    d = tmp_path_factory.mktemp("conv")
    out = {}
    for name, args in (("v6", ["--file-version", "6"]), ("v7none", ["--compression", "none"])):
        p = d / f"{name}.dat"
        subprocess.run(["trace-cmd", "convert", *args, "-i", str(V7), "-o", str(p)], check=True,
                       capture_output=True, timeout=120)
        out[name] = p
    return out


def test_v6_and_uncompressed_v7_match_v7(converted):
    ref = canonical(import_file(str(V7)))
    for name, p in converted.items():
        im = import_file(str(p))
        assert canonical(im) == ref, name
    assert open_tracedat(str(converted["v6"])).version == 6
    assert open_tracedat(str(converted["v7none"])).compression == "none"


def test_truncated_tracedat_is_one_line_error(tmp_path):
    raw = V7.read_bytes()
    last_cpu = max((c for b in open_tracedat(str(V7)).buffers for c in b.cpus),
                   key=lambda c: c.offset)
    for cut in (5, 40, 4000, len(raw) // 2, last_cpu.offset + 30):
        p = tmp_path / f"cut{cut}.dat"
        p.write_bytes(raw[:cut])
        with pytest.raises(GemscopeError) as e:
            import_file(str(p))
        if cut >= 40:
            assert isinstance(e.value, TraceDatError)
        assert "\n" not in str(e.value)


# ---- the page encoding, byte by byte ------------------------------------------------------

def _hdr(type_len: int, delta: int) -> bytes:
    return struct.pack("<I", (delta << 5) | type_len)


def build_page(entries: bytes, ts0: int, page_size: int = 4096, commit_flags: int = 0) -> bytes:
    page = struct.pack("<QQ", ts0, len(entries) | commit_flags) + entries
    return page + b"\0" * (page_size - len(page))


def test_page_walk_with_extend_padding_absolute_and_big_events():
    ev = b""
    ev += _hdr(2, 5) + b"A" * 8                                   # small data, ts 1000+5
    ev += _hdr(30, 3) + struct.pack("<I", 1)                      # extend (1<<27)+3
    ev += _hdr(0, 7) + struct.pack("<I", 12 + 4) + b"B" * 12      # big data, +7
    ev += _hdr(29, 2) + struct.pack("<I", 8) + b"\0" * 4          # discarded: 4 + array[0] bytes
    ev += _hdr(31, 100) + struct.pack("<I", 2)                    # absolute (2<<27)|100
    ev += _hdr(1, 1) + b"C" * 4                                   # small data, +1
    buf = np.frombuffer(build_page(ev, 1000) + build_page(_hdr(1, 9) + b"D" * 4, 50_000,
                                                          commit_flags=1 << 31), np.uint8)
    r = decode_pages(buf, 4096, PageHeader())
    assert r.ts.tolist() == [1005, 1005 + (1 << 27) + 3 + 7, (2 << 27 | 100) + 1, 50_009]
    assert r.length.tolist() == [8, 12, 4, 4]
    assert [bytes(buf[o:o + 1]) for o in r.offset.tolist()] == [b"A", b"B", b"C", b"D"]
    assert r.offset.tolist()[3] == 4096 + 16 + 4
    assert r.lost_pages == 1 and r.corrupt_pages == 0 and r.pages == 2


def test_page_with_hostile_lengths_stops_and_counts():
    ev = _hdr(0, 1) + struct.pack("<I", 5000) + b"x" * 16        # length beyond the commit
    r = decode_pages(np.frombuffer(build_page(ev, 10), np.uint8), 4096, PageHeader())
    assert len(r.ts) == 0 and r.corrupt_pages == 1
    bad_commit = struct.pack("<QQ", 1, 999_999) + b"\0" * (4096 - 16)
    r = decode_pages(np.frombuffer(bad_commit, np.uint8), 4096, PageHeader())
    assert r.corrupt_pages == 1
