"""text_scan: the word-at-a-time (SWAR) decimal reader equals the byte-by-byte one."""
from __future__ import annotations

import numpy as np
import pytest

from tracer.ftrace import text_scan
from tracer.ftrace.text_scan import digits, digits_wide


def _buf(body: bytes) -> np.ndarray:
    return np.frombuffer(b" " * 160 + body + b" " * 160, np.uint8).copy()


def test_exact_values():
    a = _buf(b"1281.888798519: 7 -3 0x1f 12345678 123456789012345 12345678901234567890")
    pos = np.array([160, 165, 176, 178, 181, 186, 195, 211], np.int64)   # 178: "-"
    val, nd = digits(a, pos, 8, 19)
    assert nd.tolist() == [4, 9, 1, 0, 1, 8, 15, 19]
    assert val.tolist() == [1281, 888798519, 7, 0, 0, 12345678, 123456789012345,
                            1234567890123456789]


@pytest.mark.parametrize("w,w_max", [(4, 6), (7, 14), (10, 12), (8, 19), (8, 8)])
def test_random_bytes_match_the_byte_reader(w, w_max):
    rng = np.random.default_rng(w * 100 + w_max)
    alpha = np.frombuffer(("0123456789" * 4 + " .:-x/é[]").encode(), np.uint8)
    for _ in range(50):
        a = _buf(alpha[rng.integers(0, len(alpha), 400)].tobytes())
        pos = np.arange(160, 560, dtype=np.int64)
        v1, n1 = digits(a, pos, w, w_max)
        v2, n2 = digits_wide(a, pos, w, w_max)
        assert n1.tolist() == n2.tolist() and v1.tolist() == v2.tolist()


def test_trailing_zero_count_without_numpy_bitwise_count(monkeypatch):
    low = np.array([0, 1, 2, 1 << 8, 1 << 63, 1 << 40], np.uint64)
    assert text_scan._ctz(low).tolist() == [64, 0, 1, 8, 63, 40]
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert text_scan._ctz(low).tolist() == [64, 0, 1, 8, 63, 40]


def test_positions_at_the_buffer_edges_read_like_the_byte_reader():
    a = np.frombuffer(b"12 345 6789 12345678901", np.uint8).copy()
    pos = np.array([-3, 0, 3, 7, 9, 12, 18, 21, 22, 23, 25], np.int64)
    v1, n1 = digits(a, pos, 4, 6)
    v2, n2 = digits_wide(a, pos, 4, 6)
    assert n1.tolist() == n2.tolist() and v1.tolist() == v2.tolist()


def test_skip_by_words_equals_the_byte_scan():
    from tracer.ftrace.text_scan import skip, skip_wide
    rng = np.random.default_rng(5)
    for _ in range(30):
        body = bytes(rng.choice([32, 32, 32, 97, 48], 500).astype(np.uint8))
        a = _buf(body)
        pos = np.arange(-5, len(a) + 3, dtype=np.int64)
        for w in (8, 16):
            assert skip(a, pos, w).tolist() == skip_wide(a, pos, w).tolist()
    a = _buf(b"   x" + b" " * 30 + b"y")
    assert skip(a, np.array([160, 164], np.int64), 8).tolist() == [163, 194]


def test_hex_digits_equal_python_int_parsing():
    from tracer.ftrace.text_scan import hex_digits
    rng = np.random.default_rng(11)
    words_ = ["".join(rng.choice(list("0123456789abcdefABCDEF"), k)) for k in range(0, 18)] * 3
    words_ = [("0x" if i % 2 else "") + w for i, w in enumerate(words_)]
    body = b"".join(w.encode() + b" (ret=0) " for w in words_)
    a = _buf(body)
    pos, p = [], 160
    for w in words_:
        pos.append(p)
        p += len(w) + len(" (ret=0) ")
    val, nd, h0 = hex_digits(a, np.array(pos, np.int64))
    for w, v, n in zip(words_, val.tolist(), nd.tolist()):
        digits_ = w[2:] if w.startswith("0x") else w
        if 0 < len(digits_) <= 16:
            assert (v, n) == (int(digits_, 16), len(digits_)), w
        else:
            assert n == 0 or len(digits_) == 0, w         # none, or more than 16: no value
    assert hex_digits(_buf(b"0xffff888627c2ba80 "), np.array([160]))[0].tolist() == \
        [0xffff888627c2ba80]


def test_hex_words_equal_the_byte_reader_on_random_bytes():
    """The SWAR hex reader (two 8-byte words) against hex_digits_wide: digits and letters next
    to their neighbours ('/', ':', '@', 'G', '`', 'g', control bytes that OR 0x20 into digits,
    UTF-8), every length up to 17, the buffer's edges."""
    from tracer.ftrace.text_scan import hex_digits, hex_digits_wide
    rng = np.random.default_rng(12)
    alpha = np.frombuffer(b"0123456789abcdefABCDEF" * 3 + b"x0x/:@G`g \x10\x19\x16" +
                          "é".encode(), np.uint8)
    for _ in range(40):
        a = _buf(alpha[rng.integers(0, len(alpha), 300)].tobytes())
        pos = np.arange(150, 470, dtype=np.int64)
        v1, n1, h1 = hex_digits(a, pos)
        v2, n2, h2 = hex_digits_wide(a, pos)
        assert n1.tolist() == n2.tolist() and v1.tolist() == v2.tolist()
        assert h1.tolist() == h2.tolist()
    a = np.frombuffer(b"0xfedcba9876543210 12 ab", np.uint8).copy()    # no padding at all
    pos = np.array([0, 2, 19, 22], np.int64)
    assert [x.tolist() for x in hex_digits(a, pos)] == [x.tolist() for x in hex_digits_wide(a, pos)]


def test_hex_words_exact_values():
    from tracer.ftrace.text_scan import hex_digits
    a = _buf(b"0xffff888627c2ba80 (flags=SPIN) DEADbeef: 7 0x 12345678123456789 0x0")
    val, nd, h0 = hex_digits(a, np.array([160, 192, 202, 204, 207, 225], np.int64))
    assert val.tolist() == [0xffff888627c2ba80, 0xdeadbeef, 7, 0, 0, 0]
    assert nd.tolist() == [16, 8, 1, 0, 0, 1]          # "0x " has no digit; 17 digits: none
    assert h0.tolist() == [162, 192, 202, 206, 207, 227]


def test_digits_before_reads_back_from_the_end():
    from tracer.ftrace.text_scan import digits_before, words
    body = b" 12 -345 x 1234567 12345678 0 abc9 9abc"
    a = _buf(body)
    ends = 160 + np.array([3, 8, 9, 18, 27, 29, 34, 37], np.int64)
    val, nd = digits_before(words(a), ends)
    assert nd.tolist() == [2, 3, 0, 7, 8, 1, 1, 0]        # 8: "8 or more"
    assert val.tolist() == [12, 345, 0, 1234567, 12345678, 0, 9, 0]


def test_digits_before_equals_the_byte_reader_on_random_bytes():
    from tracer.ftrace.text_scan import digits_back, digits_before, words
    rng = np.random.default_rng(13)
    alpha = np.frombuffer(("0123456789" * 4 + " .:-x/é[]").encode(), np.uint8)
    for _ in range(40):
        a = _buf(alpha[rng.integers(0, len(alpha), 400)].tobytes())
        end = np.arange(160, 561, dtype=np.int64)
        v1, n1 = digits_before(words(a), end)
        v2, n2 = digits_back(a, end - 1, 8)
        assert n1.tolist() == n2.tolist() and v1.tolist() == v2.tolist()


def test_skip_over_runs_of_every_length():
    """Runs of 0 to 40 spaces (one word, two words, skip_wide) end where the byte scan ends."""
    from tracer.ftrace.text_scan import skip, skip_wide
    body = b"".join(b" " * k + b"x" for k in range(41))
    a = _buf(body)
    starts = 160 + np.array([sum(k + 1 for k in range(j)) for j in range(41)], np.int64)
    assert (skip(a, starts, 16) - starts).tolist() == list(range(41))
    assert skip(a, starts, 16).tolist() == skip_wide(a, starts, 16).tolist()


def test_digits_ending_at_equals_the_byte_reader():
    from tracer.ftrace.text_scan import digits_back, digits_ending_at
    rng = np.random.default_rng(14)
    alpha = np.frombuffer(("0123456789" * 5 + " -[]").encode(), np.uint8)
    for _ in range(40):
        a = _buf(alpha[rng.integers(0, len(alpha), 400)].tobytes())
        pos = np.arange(-3, len(a) + 2, dtype=np.int64)          # the edges too
        v1, n1 = digits_ending_at(a, pos, 9)
        v2, n2 = digits_back(a, pos, 9)
        assert n1.tolist() == n2.tolist() and v1.tolist() == v2.tolist()
    a = _buf(b"python-19056 [000] x-123456789012")
    v, n = digits_ending_at(a, np.array([171, 192], np.int64), 9)
    assert (v.tolist(), n.tolist()) == ([19056, 456789012], [5, 9])


def test_second_words_of_every_row():
    """Every row needs its second word (the path without indexing): 9-digit fractions, 16-digit
    addresses, one 17-digit number among them (no value)."""
    from tracer.ftrace.text_scan import hex_digits
    a = _buf(b"888798519 123456789012 0xffff888627c2ba80 ffff888627c2ba801 0123456789abcdef")
    val, nd = digits(a, np.array([160, 170], np.int64), 10, 12)
    assert (val.tolist(), nd.tolist()) == ([888798519, 123456789012], [9, 12])
    val, nd, h0 = hex_digits(a, np.array([183, 202, 220], np.int64))
    assert val.tolist() == [0xffff888627c2ba80, 0, 0x0123456789abcdef]
    assert nd.tolist() == [16, 0, 16]


def _first_cpu_bracket_bytes(a: bytes, p: int, w: int) -> int:
    for b in range(p, p + w):
        if 1 <= b < len(a) - 1 and a[b] == 91 and a[b - 1] == 32 and 48 <= a[b + 1] <= 57:
            return b
    return -1


def test_first_cpu_bracket_equals_a_byte_loop():
    """Comms with brackets before the CPU column ("[x", "a[1", " [x"), no bracket at all."""
    from tracer.ftrace.text_scan import first_cpu_bracket
    rng = np.random.default_rng(15)
    alpha = np.frombuffer(b"   [[]]0123x-", np.uint8)
    for _ in range(60):
        body = alpha[rng.integers(0, len(alpha), 200)].tobytes()
        a = _buf(body)
        pos = np.arange(150, 370, dtype=np.int64)
        got = first_cpu_bracket(a, pos, 40).tolist()
        assert got == [_first_cpu_bracket_bytes(a.tobytes(), p, 40) for p in pos.tolist()]
    a = _buf(b"  a[1] [x [02] foo [3]")
    assert first_cpu_bracket(a, np.array([160, 170, 175], np.int64), 40).tolist() == [170, 170, 179]


def test_rskip_by_words_equals_the_window_scan():
    """rskip reads the 8-byte word that ends at pos; runs of 8 spaces or more, and positions at
    the buffer's edges, are read as rskip_wide reads them (pos itself when all w are spaces)."""
    from tracer.ftrace.text_scan import rskip, rskip_wide
    rng = np.random.default_rng(11)
    runs = [b" " * int(n) + b"x" for n in rng.integers(0, 30, 400)]
    a = np.frombuffer(b"".join(runs), np.uint8).copy()
    pos = np.arange(len(a))
    for w in (8, 16, 24):
        assert np.array_equal(rskip(a, pos, w), rskip_wide(a, pos, w)), w
    a2 = np.frombuffer(b"ab   " + b" " * 20 + b"c  ", np.uint8).copy()
    # 8 spaces before pos 24 and 9: pos itself, as the window scan gives
    assert rskip(a2, np.array([27, 26, 24, 9, 8]), 8).tolist() == [25, 25, 24, 9, 1]
    assert rskip(a2, np.array([27, 25, 24]), 24).tolist() == [25, 25, 1]
