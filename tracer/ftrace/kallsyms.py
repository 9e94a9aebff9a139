"""Address -> symbol lookup from /proc/kallsyms text (live) or a trace.dat's kallsyms section."""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

MAX_LINES = 2_000_000
_TEXT_SYM = re.compile(r"^([0-9a-fA-F]{1,16}) [TtWw] (\S+)", re.M)


class Symbols:
    """Sorted text symbols; `lookup` resolves many addresses at once with searchsorted."""

    def __init__(self, text: str):
        # one regex pass over the whole text (kallsyms has ~200k lines)
        found = _TEXT_SYM.findall(text[:MAX_LINES * 128])
        addrs = np.array([int(a, 16) for a, _ in found], np.uint64)
        names = np.array([n for _, n in found], object)
        keep = addrs != 0
        addrs, names = addrs[keep], names[keep]
        order = np.argsort(addrs, kind="stable")
        self.addrs = addrs[order]
        self.names = names[order]

    def __len__(self) -> int:
        return len(self.addrs)

    def lookup(self, addrs: np.ndarray, with_offset: bool = False) -> pa.Array:
        """Symbol names for addresses (null when outside the table or the table is empty)."""
        addrs = np.asarray(addrs, np.uint64)
        if not len(self.addrs) or not len(addrs):
            return pa.nulls(len(addrs), pa.string())
        uniq, inv = np.unique(addrs, return_inverse=True)
        i = np.searchsorted(self.addrs, uniq, side="right") - 1
        ok = (i >= 0) & (uniq - self.addrs[np.maximum(i, 0)] < np.uint64(1 << 20))
        out = []
        for u, j, good in zip(uniq.tolist(), i.tolist(), ok.tolist()):
            if not good:
                out.append(None)
            elif with_offset:
                out.append(f"{self.names[j]}+{hex(u - int(self.addrs[j]))}")
            else:
                out.append(self.names[j])
        return pa.array(out, pa.string()).take(pa.array(inv.ravel()))

    def address_of(self, name: str) -> int | None:
        hits = np.flatnonzero(self.names == name)
        return int(self.addrs[hits[0]]) if len(hits) else None


def read_proc_kallsyms(path: str = "/proc/kallsyms") -> Symbols:
    try:
        with open(path, errors="replace") as f:
            return Symbols(f.read(64 << 20))
    except OSError:
        return Symbols("")
