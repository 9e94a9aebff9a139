"""Vectorized scanning of a padded byte buffer: rows of bytes at many positions at once, decimal
and hex numbers, runs of a byte. Used by the ftrace text parser (text.py, text_payload.py)."""
from __future__ import annotations

import numpy as np

PAD = 160
SPACE, LBR, RBR, COLON, DOT, DASH, LPAR, RPAR, HASH, LT = (ord(c) for c in " []:.-()#<")


def window(a: np.ndarray, pos: np.ndarray, w: int) -> np.ndarray:
    """Rows of w bytes starting at each pos (a is padded so that no row leaves it)."""
    # each byte offset seen as a w-byte record: one 1-D gather instead of a 2-D fancy index
    rec = np.ndarray((len(a) - w + 1,), np.dtype((np.void, w)), a, 0, (1,))
    return rec[np.clip(pos, 0, len(a) - w)].view(np.uint8).reshape(len(pos), w)


def digit_run(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d: rows of (byte - 48) as uint8; returns (is-digit mask, length of the leading run)."""
    isd = d <= 9
    w = d.shape[1]
    return isd, np.where(isd.all(axis=1), w, np.argmax(~isd, axis=1))


def horner(d: np.ndarray, nd: np.ndarray, order) -> np.ndarray:
    val = np.zeros(len(nd), np.int64)
    for j in order:
        m = j < nd
        np.multiply(val, 10, out=val, where=m)
        np.add(val, d[:, j], out=val, where=m, casting="unsafe")
    return val


def digits_wide(a, pos, w, w_max=19):
    """Value and digit count of the decimal number starting at pos (0 digits -> value 0).
    Reads w bytes; the rare rows whose number is longer are read again w_max wide."""
    d = window(a, pos, w) - np.uint8(48)
    isd, nd = digit_run(d)
    val = horner(d, nd, range(w))
    full = np.flatnonzero(nd == w)
    if len(full) and w < w_max:
        val[full], nd[full] = digits_wide(a, pos[full], w_max, w_max)
    return val, nd


_M8 = np.uint64(0xF0F0F0F0F0F0F0F0)
_C30, _C06 = np.uint64(0x3030303030303030), np.uint64(0x0606060606060606)
_LO4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_U = [np.uint64(v) for v in (8, 16, 32, 2561, 6553601, 42949672960001, 0x00FF00FF00FF00FF,
                             0x0000FFFF0000FFFF, 1, 0, 4)]
_POW10 = np.array([10 ** k for k in range(9)], np.int64)


def _bytes(v: int) -> np.uint64:
    return np.uint64(v * 0x0101010101010101)


_B7F, _B50, _B46, _B20, _B1F, _B19, _B80, _B0F = (_bytes(v) for v in
                                                  (0x7F, 0x50, 0x46, 0x20, 0x1F, 0x19, 0x80, 0x0F))


def _ctz(low: np.ndarray) -> np.ndarray:
    """Trailing zero bits of powers of two (64 for 0)."""
    if hasattr(np, "bitwise_count"):                      # numpy >= 2
        return np.bitwise_count(low - _U[8]).astype(np.int64)
    exp = np.frexp(low.astype(np.float64))[1].astype(np.int64) - 1   # exact for 2**k
    return np.where(low == 0, 64, exp)


def words(a: np.ndarray) -> np.ndarray:
    """Every byte offset of a seen as a little-endian uint64 (unaligned loads, no copy)."""
    return np.ndarray((len(a) - 7,), np.uint64, a, 0, (1,))


def _swar8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, count) of the leading decimal digits of 8 bytes loaded little-endian (bytes are
    below 0xF8: valid UTF-8 never holds 0xF8..0xFF, so adding 6 to a byte never carries)."""
    nondig = ((x & _M8) ^ _C30) | (((x + _C06) & _M8) ^ _C30)
    low = nondig & (~nondig + _U[8])                     # lowest set bit; 0 when all digits
    nd = _ctz(low) >> 3                                   # 8 when low == 0
    sh = (np.int64(8) - nd).astype(np.uint64) * _U[0]
    y = np.where(nd > 0, x << np.minimum(sh, np.uint64(56)), _U[9]) & _LO4
    y = (y * _U[3]) >> _U[0]
    y = ((y & _U[6]) * _U[4]) >> _U[1]
    y = ((y & _U[7]) * _U[5]) >> _U[2]
    return y.astype(np.int64), nd


def digits(a, pos, w, w_max=19):
    """Value and digit count of the decimal number starting at pos (0 digits -> value 0); a
    number longer than w_max digits counts w_max (its first w_max digits). Up to 15 digits are
    read as two 8-byte words (SWAR); longer numbers go to digits_wide."""
    pos = np.asarray(pos, np.int64)
    if len(a) < 16:
        return digits_wide(a, pos, w, w_max)
    wd = words(a)
    p = np.clip(pos, 0, len(a) - 16)
    val, nd = _swar8(wd[p])
    two = np.flatnonzero(nd == 8)                 # 8 digits or more: the next word goes on
    if len(two) == len(p):                        # every row (nanosecond fractions): no indexing
        v1, n1 = _swar8(wd[p + 8])
        val, nd = val * _POW10[n1] + v1, nd + n1
    elif len(two):
        v1, n1 = _swar8(wd[p[two] + 8])
        val[two] = val[two] * _POW10[n1] + v1
        nd[two] += n1
    # long numbers, and positions at the buffer's edges (read as digits_wide reads them)
    long = np.flatnonzero((nd >= min(w_max, 16)) | (p != pos))
    if len(long):
        val[long], nd[long] = digits_wide(a, pos[long], w_max, w_max)
    return val, nd


def digits_before(wd: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, count) of the decimal digits just before end (exclusive), read from the one
    8-byte word that ends there (wd = words(a); end >= 8). A count of 8 means "8 or more": the
    value is then only that word's and the caller reads the number another way."""
    x = wd[end - 8]
    nondig = ((x & _M8) ^ _C30) | (((x + _C06) & _M8) ^ _C30)     # high nibbles of non-digits
    flag = (((nondig >> _U[10]) & _LO4) + _B7F) & _B80            # bit 7 of each non-digit byte
    top = np.frexp(flag.astype(np.float64))[1] - 1                 # exact: bits 8 apart
    nd = np.where(flag == 0, 8, (63 - top) >> 3).astype(np.int64)
    keep = np.where(nd >= 8, ~_U[9], ~((_U[8] << np.minimum((np.int64(8) - nd).astype(np.uint64)
                                                           * _U[0], np.uint64(63))) - _U[8]))
    y = np.where(nd > 0, x & keep, _U[9]) & _LO4                   # the digits in the top bytes
    y = (y * _U[3]) >> _U[0]
    y = ((y & _U[6]) * _U[4]) >> _U[1]
    y = ((y & _U[7]) * _U[5]) >> _U[2]
    return y.astype(np.int64), nd


def digits_ending_at(a, pos, w):
    """digits_back (value and count of the decimal digits ending at pos, inclusive, at most w)
    read from one 8-byte word per row; rows with 8 digits or more go to digits_back."""
    pos = np.asarray(pos, np.int64)
    if len(a) < 16 or w < 8:
        return digits_back(a, pos, w)
    end = np.clip(pos + 1, 8, len(a))
    val, nd = digits_before(words(a), end)
    more = np.flatnonzero((nd >= 8) | (end != pos + 1))
    if len(more):
        val[more], nd[more] = digits_back(a, pos[more], w)
    return val, nd


def digits_back(a, pos, w):
    """Value and count of the decimal digits ending at pos (inclusive)."""
    d = window(a, pos - w + 1, w)[:, ::-1] - np.uint8(48)
    isd, nd = digit_run(d)
    return horner(d, nd, range(w - 1, -1, -1)), nd


def skip_wide(a, pos, w, ch=SPACE):
    """First byte != ch at or after pos (looks w bytes at a time; rows that saw only ch go on)."""
    win = window(a, pos, w) != ch
    out = pos + np.argmax(win, axis=1)
    more = np.flatnonzero(~win.any(axis=1))
    for _ in range(PAD // w):
        if len(more) == 0:
            break
        p = np.minimum(out[more] + w, len(a) - w)
        win = window(a, p, w) != ch
        out[more] = p + np.argmax(win, axis=1)
        more = more[~win.any(axis=1)]
    return out


def skip(a, pos, w, ch=SPACE):
    """First byte != ch at or after pos: one 8-byte word per row, a second one where the first
    is all ch; rows whose two words are all ch (or that sit at the buffer's edges) are scanned
    by skip_wide, w bytes at a time."""
    pos = np.asarray(pos, np.int64)
    if len(a) < 16:
        return skip_wide(a, pos, w, ch)
    p = np.clip(pos, 0, len(a) - 16)
    wd, rep = words(a), np.uint64(ch * 0x0101010101010101)
    x = wd[p] ^ rep
    out = p + (_ctz(x & (~x + _U[8])) >> 3)
    wide = p != pos                                  # at the buffer's edges: skip_wide
    second = np.flatnonzero((x == 0) & ~wide)        # eight ch: the next word (line indents)
    if len(second):
        x2 = wd[p[second] + 8] ^ rep
        out[second] = p[second] + 8 + (_ctz(x2 & (~x2 + _U[8])) >> 3)
        wide[second[x2 == 0]] = True                 # sixteen ch: skip_wide goes on
    more = np.flatnonzero(wide)
    if len(more):
        out[more] = skip_wide(a, pos[more], w, ch)
    return out


def rskip_wide(a, pos, w, ch=SPACE):
    """First byte != ch at or before pos within w bytes (pos itself when all w are ch), read
    as one w-byte window per row: the reference, and rskip's rows that need more than 8."""
    return pos - np.argmax(window(a, pos - w + 1, w)[:, ::-1] != ch, axis=1)


def rskip(a, pos, w, ch=SPACE):
    """rskip_wide from the one 8-byte word that ends at pos (the highest byte that is not ch);
    rows whose word is all ch, or that sit at the buffer's edges, go to rskip_wide."""
    pos = np.asarray(pos, np.int64)
    if len(a) < 16 or w < 8:
        return rskip_wide(a, pos, w, ch)
    p = np.clip(pos - 7, 0, len(a) - 8)
    x = words(a)[p] ^ np.uint64(ch * 0x0101010101010101)          # zero bytes: ch
    other = (((x & _B7F) + _B7F) | x) & _B80                       # bit 7 of the other bytes
    top = np.frexp(other.astype(np.float64))[1] - 1                # exact: bits 8 apart
    out = p + ((top - 7) >> 3)
    more = np.flatnonzero((other == 0) | (pos - w + 1 < 0) | (pos >= len(a)))
    if len(more):
        out[more] = rskip_wide(a, pos[more], w, ch)
    return out


def first_at_or_after(cands: np.ndarray, pos: np.ndarray) -> np.ndarray:
    if len(cands) == 0:
        return np.full(len(pos), np.iinfo(np.int64).max, np.int64)
    k = np.searchsorted(cands, pos)
    return np.where(k < len(cands), cands[np.minimum(k, len(cands) - 1)], np.iinfo(np.int64).max)


HEX = np.full(256, 255, np.uint8)
HEX[48:58] = np.arange(10)
HEX[97:103] = np.arange(10, 16)
HEX[65:71] = np.arange(10, 16)


_L16, _L32, _F16 = np.uint64(0x000F000F000F000F), np.uint64(0x000000FF000000FF), np.uint64(0xFFFF)
_S = {k: np.uint64(k) for k in (3, 4, 7, 8, 16, 32, 56)}


def _hex8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, count) of the leading hex digits of 8 bytes loaded little-endian (SWAR)."""
    y = x & _B7F                                         # 7-bit bytes: sums never carry over
    dig = (y + _B50) & ~(y + _B46)                       # high bit: 0x30 <= byte <= 0x39
    low = y | _B20                                       # 'A'-'F' -> 'a'-'f'
    af = (low + _B1F) & ~(low + _B19)                    # high bit: 0x61 <= byte <= 0x66
    bad = ~((dig | af) & ~x) & _B80                      # not a digit (or a byte >= 0x80)
    nd = _ctz(bad & (~bad + _U[8])) >> 3                 # 8 when all eight are digits
    t = (af & _B80) >> _S[7]                             # 1 in the bytes that are letters
    v = (x & _B0F) + (t << _S[3]) + t                    # every byte's nibble (a-f: + 9)
    sh = np.minimum((np.int64(8) - nd).astype(np.uint64) * _S[8], _S[56])
    v = np.where(nd > 0, v << sh, _U[9])                 # the digits in the top bytes
    v = ((v & _L16) << _S[4]) | ((v >> _S[8]) & _L16)    # 16-bit lanes: two digits
    v = ((v & _L32) << _S[8]) | ((v >> _S[16]) & _L32)   # 32-bit lanes: four digits
    v = ((v & _F16) << _S[16]) | ((v >> _S[32]) & _F16)  # eight digits
    return v, nd


def hex_digits(a, pos):
    """(value as uint64, digit count, first digit) of the hex number at pos with an optional 0x;
    more than 16 digits give a count of 0 (no value). Numbers of exactly 16 digits (kernel
    addresses) are read as 8 digit pairs from a table (_hex16); the others as two 8-byte words
    (SWAR)."""
    pos = np.asarray(pos, np.int64)
    h0 = pos + 2 * ((a[pos] == 48) & (a[pos + 1] == 120))
    if len(a) < 24:
        return hex_digits_wide(a, pos)
    val, ok = _hex16(a, h0)
    nd = np.full(len(pos), 16, np.int64)
    if ok.all():
        return val, nd, h0
    rest = np.flatnonzero(~ok)
    val[rest], nd[rest] = _hex_words(a, pos[rest], h0[rest])
    return val, nd, h0


# two hex digits seen as a little-endian uint16 (first digit in the low byte) -> their value;
# 0xFFFF where either byte is not a hex digit
_PAIR = np.full(1 << 16, 0xFFFF, np.uint16)
_c0, _c1 = np.divmod(np.arange(1 << 16), 256)[::-1]
_both = (HEX[_c0] < 16) & (HEX[_c1] < 16)
_PAIR[_both] = HEX[_c0[_both]].astype(np.uint16) * 16 + HEX[_c1[_both]]
_HIGH_BYTES = np.uint64(0xFF00FF00FF00FF00)


def _hex16(a, h0):
    """(value, ok): ok where a[h0:h0 + 16] are 16 hex digits and a[h0 + 16] is not one."""
    pairs = _PAIR[window(a, h0, 16).view(np.uint16)]            # (n, 8) digit pairs
    lanes = pairs.view(np.uint64)                               # (n, 2): 4 pairs each
    ok = ((lanes[:, 0] | lanes[:, 1]) & _HIGH_BYTES) == 0
    ok &= (HEX[a[np.minimum(h0 + 16, len(a) - 1)]] >= 16) & (h0 + 16 < len(a))
    return pairs.astype(np.uint8).view(">u8").ravel().astype(np.uint64), ok


def _hex_words(a, pos, h0):
    """(value, count) of hex_digits read as two 8-byte words (SWAR); byte by byte at the
    buffer's edges."""
    wd = words(a)
    p = np.clip(h0, 0, len(a) - 24)
    val, nd = _hex8(wd[p])
    two = np.flatnonzero(nd == 8)                       # the second word goes on
    if len(two):
        every = len(two) == len(p)                      # (kernel addresses): no indexing
        pt = p if every else p[two]
        v1, n1 = _hex8(wd[pt + 8])
        n17 = np.flatnonzero(n1 == 8)                   # 16 digits: a 17th makes it no number
        n1[n17[HEX[a[pt[n17] + 16]] < 16]] = -8
        if every:
            val, nd = (val << (np.maximum(n1, 0).astype(np.uint64) * _S[4])) | v1, nd + n1
        else:
            val[two] = (val[two] << (np.maximum(n1, 0).astype(np.uint64) * _S[4])) | v1
            nd[two] += n1
    val = np.where(nd > 0, val, _U[9])
    edge = np.flatnonzero(p != h0)
    if len(edge):
        val[edge], nd[edge], _ = hex_digits_wide(a, pos[edge])
    return val, np.maximum(nd, 0)


def hex_digits_wide(a, pos):
    """hex_digits read byte by byte (17-byte rows): the reference, and rows at the buffer's
    edges."""
    h0 = pos + 2 * ((a[pos] == 48) & (a[pos + 1] == 120))
    d = HEX[window(a, h0, 17)]
    isx = d < 16
    nd = np.argmax(~isx, axis=1)                 # all 17 hex digits: argmax is 0
    # the digits as nibbles, left-aligned in 8 big-endian bytes, shifted right into place
    dm = np.where(np.arange(16) < nd[:, None], d[:, :16], np.uint8(0))
    packed = (dm[:, 0::2] << np.uint8(4)) | dm[:, 1::2]
    val = packed.view(">u8").ravel().astype(np.uint64)
    sh = (np.int64(16) - nd).astype(np.uint64) * np.uint64(4)
    return np.where(nd > 0, val >> np.minimum(sh, np.uint64(63)), np.uint64(0)), nd, h0


def first_byte(a, pos, w, ch):
    """First position >= pos holding ch within the next w bytes (w < PAD); -1 where none."""
    win = window(a, pos, w) == ch
    k = np.argmax(win, axis=1)
    return np.where(win[np.arange(len(pos)), k], pos + k, -1)


def first_cpu_bracket(a, pos, w):
    """First " [<digit>" whose bracket is at or after pos within w bytes; -1 where none.
    The first "[" of the window is tried first (the CPU column's, on most lines); rows where it
    is not " [<digit>" are searched for every pattern byte (rows with no "[" at all: -1 at
    once)."""
    win = window(a, pos - 1, w + 2)
    lb = win[:, 1:-1] == LBR
    k = np.argmax(lb, axis=1)
    rows = np.arange(len(pos))
    ok = lb[rows, k] & (win[rows, k] == SPACE) & (win[rows, k + 2] - np.uint8(48) <= 9)
    out = np.where(ok, pos + k, -1)
    rest = np.flatnonzero(~ok & lb[rows, k])      # a "[" that is not the CPU's: look further
    if len(rest):
        wr = win[rest]
        hit = lb[rest] & (wr[:, :-2] == SPACE) & (wr[:, 2:] - np.uint8(48) <= 9)
        kr = np.argmax(hit, axis=1)
        out[rest] = np.where(hit[np.arange(len(rest)), kr], pos[rest] + kr, -1)
    return out


def bytes_at(wd: np.ndarray, pos: np.ndarray, lit: bytes) -> np.ndarray:
    """Rows where the bytes at pos are lit, compared 8 at a time (wd = words(a))."""
    ok = np.ones(len(pos), bool)
    for i in range(0, len(lit), 8):
        part = lit[i:i + 8]
        want = np.uint64(int.from_bytes(part, "little"))
        ok &= (wd[pos + i] & np.uint64((1 << (8 * len(part))) - 1)) == want
    return ok
