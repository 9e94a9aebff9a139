"""text_payload: the numpy reading of frequent payloads gives exactly the fields of the general
(RE2) path, and leaves every group with a row of another shape to that path."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tracer.ftrace import text
from tracer.ftrace.mapping import WANTED
from tracer.ftrace.text import parse_text
from tracer.ftrace.text_fields import extract_fields

DATA = Path(__file__).resolve().parent.parent / "data"
NAMES = ("mm_shrink_slab_start", "mm_shrink_slab_end")


def _texts():
    yield (DATA / "handwritten-ftrace.txt").read_bytes()
    yield (DATA / "host-6.18-v7.txt").read_bytes()
    try:
        yield subprocess.run(["trace-cmd", "report", str(DATA / "guest-6.12-msm-module-v7.dat")],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pass   # trace-cmd is not installed: the two fixtures above still run


@pytest.mark.parametrize("data", list(_texts()), ids=lambda d: f"{len(d)}B")
def test_fast_fields_equal_the_general_path(data, monkeypatch):
    fast = parse_text(data)
    monkeypatch.setattr(text, "SPECS", {})
    general = parse_text(data)
    seen = 0
    for name in NAMES:
        f, g = fast.groups[name], general.groups[name]
        assert f.payload is None and g.payload is not None
        assert extract_fields(g, WANTED).sum() == 0
        assert list(f.fields) == list(g.fields)
        for k in g.fields:
            assert f.fields[k].type == g.fields[k].type, k
            assert f.fields[k].to_pylist() == g.fields[k].to_pylist(), k
        seen += len(f)
    assert seen > 0


LINE = (b"  kswapd0-88 [001] ..... 100.001100: mm_shrink_slab_start: "
        b"%s 00000000deadbeef: nid: 0 objects to shrink 10 gfp_flags GFP_KERNEL cache items 512 "
        b"delta -128 total_scan 128 priority 12\n")


def test_exact_values_with_and_without_a_module():
    t = parse_text(LINE % b"super_cache_scan+0x0/0x200" +
                   LINE % b"msm_gem_shrinker_scan+0x0/0x1a0 [msm]")
    f = t.groups["mm_shrink_slab_start"].fields
    assert f["shrink"].to_pylist() == ["super_cache_scan+0x0/0x200",
                                       "msm_gem_shrinker_scan+0x0/0x1a0"]
    assert f["shr"].to_pylist() == [0xdeadbeef] * 2
    assert f["delta"].to_pylist() == [-128] * 2
    assert f["gfp_flags"].to_pylist() == [0xCC0] * 2
    assert f["priority"].to_pylist() == [12] * 2
    assert f["nr_objects_to_shrink"].to_pylist() == [10] * 2


@pytest.mark.parametrize("odd", [b"sym [not a module!]", b"sym  two-spaces", b"sym\textra"])
def test_a_row_of_another_shape_sends_the_group_to_the_general_path(odd):
    t = parse_text(LINE % b"super_cache_scan+0x0/0x200" + LINE % odd)
    g = t.groups["mm_shrink_slab_start"]
    assert g.fields == {} and len(g.payload) == 2


def test_trailing_words_and_long_numbers_take_the_general_path():
    long = LINE.replace(b"priority 12", b"priority 1234567890123456789")
    extra = LINE.replace(b"priority 12", b"priority 12 more")
    for line in (long, extra):
        g = parse_text(line % b"sym").groups["mm_shrink_slab_start"]
        assert g.fields == {} and g.payload is not None


def test_last_space_reads_back_from_the_end_and_stops_at_the_start():
    import numpy as np
    from tracer.ftrace.text_payload import _last_space
    from tracer.ftrace.text_scan import words
    body = b"ab cd" + b" " + b"x" * 20 + b" tail" + b"y" * 140 + b"  z"
    a = np.frombuffer(b" " * 160 + body + b" " * 160, np.uint8).copy()
    wd = words(a)
    p0 = 160
    end = np.array([p0 + 5, p0 + 26, p0 + 31, p0 + 5, p0 + 2], np.int64)
    lo = np.array([p0, p0, p0, p0 + 3, p0], np.int64)
    assert _last_space(wd, end, lo).tolist() == [p0 + 2, p0 + 5, p0 + 26, -1, -1]
    n = len(body)
    assert _last_space(wd, np.array([p0 + n]), np.array([p0])).tolist() == [p0 + n - 2]
    # every row's space within its last word (the one-word path)
    assert _last_space(wd, np.array([p0 + 31, p0 + 10]), np.array([p0, p0])).tolist() == \
        [p0 + 26, p0 + 5]
    # 140 bytes without a space, and the start further back: the search gives up (None)
    assert _last_space(wd, np.array([p0 + n - 3]), np.array([p0])) is None


@pytest.mark.parametrize("old,new", [(b"to shrink", b"to shrank"), (b" priority", b"  priority"),
                                     (b"delta -128", b"delta - 128"), (b"nid: 0", b"nid:0")])
def test_a_changed_word_or_spacing_takes_the_general_path(old, new):
    good = LINE % b"sym"
    g = parse_text(good + good.replace(old, new)).groups["mm_shrink_slab_start"]
    assert g.fields == {} and len(g.payload) == 2


def test_numbers_of_eight_digits_or_more_are_read_as_tokens():
    line = LINE.replace(b"cache items 512", b"cache items 123456789012").replace(
        b"delta -128", b"delta -12345678")
    f = parse_text(line % b"sym").groups["mm_shrink_slab_start"].fields
    assert f["cache_items"].to_pylist() == [123456789012]
    assert f["delta"].to_pylist() == [-12345678]
    assert f["total_scan"].to_pylist() == [128]


def test_spec_reads_literal_text_between_fields_as_one():
    from tracer.ftrace.text_payload import SPECS
    assert SPECS["mm_shrink_slab_end"] == [
        ("L", b" "), ("X", "shr"), ("L", b": nid: "), ("D", "nid"),
        ("L", b" unused scan count "), ("D", "unused_scan"), ("L", b" new scan count "),
        ("D", "new_scan"), ("L", b" total_scan "), ("D", "total_scan"),
        ("L", b" last shrinker return val "), ("D", "retval")]


def test_last_space_near_stops_at_the_start_like_the_word_by_word_search():
    """Rows whose search reaches lo without a space (the head symbol starts the payload) are
    -1 in the all-rows path (_last_space_near) too; every answer is the last space in
    a[lo:end], checked against Python's rfind on seeded random tokens."""
    import numpy as np
    from tracer.ftrace import text_payload
    from tracer.ftrace.text_payload import NEAR_WORDS, _last_space, _last_space_near
    from tracer.ftrace.text_scan import words
    assert NEAR_WORDS == 4
    rng = np.random.default_rng(5)
    body = bytes(rng.choice(np.frombuffer(b"abc ", np.uint8), 4000, p=[.3, .3, .3, .1]))
    a = np.frombuffer(b" " * 160 + body + b" " * 160, np.uint8).copy()
    wd = words(a)
    lo = 160 + rng.integers(0, 3800, 3000)
    end = lo + rng.integers(8, 33, 3000)
    want = [body.rfind(b" ", lo_ - 160, end_ - 160) for lo_, end_ in zip(lo, end)]
    want = np.array([w + 160 if w >= 0 else -1 for w in want])
    assert np.array_equal(_last_space(wd, end, lo), want)
    # the all-rows path on its own: every row ends within 4 words (its tokens are < 32 bytes)
    start = end - 8
    x = wd[start] ^ text_payload._SP
    t = ~(((x & text_payload._7F) + text_payload._7F) | x | text_payload._7F)
    near = _last_space_near(wd, start, t, lo)
    assert near is not None and np.array_equal(near, want)
    assert (want == -1).sum() == 431 and (want >= 0).sum() == 2569


def test_control_bytes_elsewhere_in_the_chunk_keep_the_fast_path():
    """A chunk whose only bytes below 32 are its newlines lists none; one with a tab on another
    line, or a CR line end, lists them, and a shrink_slab payload without one inside it is still
    read from the bytes (its CR ends the line, it is not part of the payload)."""
    line = (b"  kswapd0-88 [001] 5.000001: mm_shrink_slab_end: super_cache_scan+0x0 0xff00: nid: 0 "
            b"unused scan count 7 new scan count 8 total_scan 9 last shrinker return val -3")
    other = b"  bash-5 [000] 5.000002: foo:\ta tab\n"
    for tail, body in ((b"\n", line + b"\n"), (b"\r\n", line + b"\r\n" + other),
                       (b"\n", other + line + b"\n")):
        for chunk in (1 << 20, 30):
            g = parse_text(body, chunk_bytes=chunk).groups["mm_shrink_slab_end"]
            assert g.payload is None, (tail, chunk)
            assert {k: v.to_pylist() for k, v in g.fields.items()} == {
                "shrink": ["super_cache_scan+0x0"], "shr": [0xff00], "nid": [0],
                "unused_scan": [7], "new_scan": [8], "total_scan": [9], "retval": [-3]}
    tabbed = parse_text(line.replace(b"count 8", b"count\t8") + b"\n")
    assert tabbed.groups["mm_shrink_slab_end"].payload is not None      # the general path
