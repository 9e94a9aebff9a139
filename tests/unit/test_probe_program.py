"""The program text and its -D flags (pure)."""
from __future__ import annotations

from probes import program


def test_cflags_format_flags_addresses_and_small_ints():
    flags = program.cflags({"GS_RINGBUF": True, "GS_FN_PURGE": 0xffffffc000c11200,
                            "GS_LRU_ARG_SHRINK": 4, "GS_UNCONTENDED_NS": 2000,
                            "GS_MSM": False, "GS_X": None})
    assert flags == ["-DGS_FN_PURGE=0xffffffc000c11200ULL", "-DGS_LRU_ARG_SHRINK=4",
                     "-DGS_RINGBUF", "-DGS_UNCONTENDED_NS=2000"]


def test_source_text_is_the_package_data_parts_in_order():
    text = program.source_text()
    starts = [text.index(f"/* ---- {p} ---- */") for p in program.PARTS]
    assert starts == sorted(starts)
    assert "struct gs_event {" in text and "RAW_TRACEPOINT_PROBE(contention_begin)" in text
    # no BCC auto-attach prefixes for kernel functions: the plan decides what attaches
    assert "int kprobe__" not in text and "int kretprobe__" not in text


def test_dump_starts_with_the_flags():
    out = program.dump({"GS_RINGBUF": True})
    assert out.splitlines()[0] == "/* BCC cflags: -DGS_RINGBUF */"
