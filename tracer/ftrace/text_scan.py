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


def digits(a, pos, w, w_max=19):
    """Value and digit count of the decimal number starting at pos (0 digits -> value 0).
    Reads w bytes; the rare rows whose number is longer are read again w_max wide."""
    d = window(a, pos, w) - np.uint8(48)
    isd, nd = digit_run(d)
    val = horner(d, nd, range(w))
    full = np.flatnonzero(nd == w)
    if len(full) and w < w_max:
        val[full], nd[full] = digits(a, pos[full], w_max, w_max)
    return val, nd


def digits_back(a, pos, w):
    """Value and count of the decimal digits ending at pos (inclusive)."""
    d = window(a, pos - w + 1, w)[:, ::-1] - np.uint8(48)
    isd, nd = digit_run(d)
    return horner(d, nd, range(w - 1, -1, -1)), nd


def skip(a, pos, w, ch=SPACE):
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


def rskip(a, pos, w, ch=SPACE):
    return pos - np.argmax(window(a, pos - w + 1, w)[:, ::-1] != ch, axis=1)


def first_at_or_after(cands: np.ndarray, pos: np.ndarray) -> np.ndarray:
    if len(cands) == 0:
        return np.full(len(pos), np.iinfo(np.int64).max, np.int64)
    k = np.searchsorted(cands, pos)
    return np.where(k < len(cands), cands[np.minimum(k, len(cands) - 1)], np.iinfo(np.int64).max)


HEX = np.full(256, 255, np.uint8)
HEX[48:58] = np.arange(10)
HEX[97:103] = np.arange(10, 16)
HEX[65:71] = np.arange(10, 16)


def hex_digits(a, pos):
    """(value as uint64, digit count, first digit) of the hex number at pos with an optional 0x;
    more than 16 digits give a count of 0 (no value)."""
    h0 = pos + 2 * ((a[pos] == 48) & (a[pos + 1] == 120))
    d = HEX[window(a, h0, 17)]
    isx = d < 16
    nd = np.argmax(~isx, axis=1)                 # all 17 hex digits: argmax is 0
    val = np.zeros(len(pos), np.uint64)
    for j in range(16):
        m = j < nd
        np.multiply(val, np.uint64(16), out=val, where=m)
        np.add(val, d[:, j], out=val, where=m, casting="unsafe")
    return val, nd, h0
