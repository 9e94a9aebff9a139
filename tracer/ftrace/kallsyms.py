"""Address -> symbol lookup from /proc/kallsyms text (live) or a trace.dat's kallsyms section."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

MAX_LINES = 2_000_000


class Symbols:
    """Sorted text symbols; `lookup` resolves many addresses at once with searchsorted."""

    def __init__(self, text: str):
        addrs, names = [], []
        for i, line in enumerate(text.splitlines()):
            if i >= MAX_LINES:
                break
            parts = line.split()
            if len(parts) < 3 or parts[1] not in "TtWw" or len(parts[0]) > 16:
                continue
            try:
                a = int(parts[0], 16)
            except ValueError:
                continue
            if a:
                addrs.append(a)
                names.append(parts[2])
        order = np.argsort(np.array(addrs, np.uint64), kind="stable")
        self.addrs = np.array(addrs, np.uint64)[order]
        self.names = np.array(names, object)[order]

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
