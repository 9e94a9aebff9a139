"""Symbol resolution from /proc/kallsyms text, always WITH the owning module.

Why the module matters: msm's shrinker callbacks have generic static names (`purge`, `evict`,
`active_purge` ...); `evict` also exists in fs/inode.c and kernels from 6.6 refuse a kprobe on an
ambiguous name (-EADDRNOTAVAIL). So every lookup names its module (`msm:purge`), and the attach
target we hand to the kprobe PMU is `MOD:SYM`, which the kernel resolves unambiguously.

Compiler clones: GCC emits `name.isra.N`, `name.constprop.N`, `name.part.N`; Clang LTO promotes
statics to `name.llvm.<hash>`. Those are the out-of-line copies a probe must use, so they resolve
to their base name; `name.cold` (a split-off cold block, not an entry point), `__pfx_` (x86
padding) and `__cfi_` (kCFI type hash) symbols never do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

TEXT_TYPES = frozenset("tTwW")
_CLONE_SUFFIX = re.compile(r"\.(?:isra|constprop|part|llvm|lto_priv)\.[0-9a-f]+")
_NOT_ENTRY = re.compile(r"(?:\.cold(?:\.\d+)?$)|^__(?:pfx|cfi)_")


@dataclass(frozen=True)
class Symbol:
    addr: int
    type: str
    name: str            # as in kallsyms, e.g. purge.isra.0
    module: str | None   # None = vmlinux

    @property
    def base(self) -> str:
        return base_name(self.name)

    @property
    def attach_name(self) -> str:
        """What the kprobe PMU accepts: MOD:SYM for module symbols, SYM for vmlinux."""
        return f"{self.module}:{self.name}" if self.module else self.name


@dataclass(frozen=True)
class Resolution:
    """The outcome of a lookup: a symbol, or why there is none."""
    symbol: Symbol | None
    reason: str | None = None
    candidates: int = 0   # how many entry points matched (>1: clones; the first is used)


def base_name(name: str) -> str:
    """`purge.isra.0` -> `purge`; `x.llvm.123456` -> `x`; names without suffix unchanged."""
    return _CLONE_SUFFIX.split(name, maxsplit=1)[0] if "." in name else name


def parse(text: str) -> list[Symbol]:
    """Parse kallsyms lines `ADDR TYPE NAME [\\t[MODULE]]`; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        try:
            addr = int(parts[0], 16)
        except ValueError:
            continue
        module = None
        if len(parts) >= 4 and parts[3].startswith("[") and parts[3].endswith("]"):
            module = parts[3][1:-1]
        out.append(Symbol(addr, parts[1], parts[2], module))
    return out


class Kallsyms:
    """An index of text (function) symbols by (module, base name)."""

    def __init__(self, symbols: Iterable[Symbol]):
        self._by_key: dict[tuple[str | None, str], list[Symbol]] = {}
        self.modules: set[str] = set()
        self.addresses_hidden = True
        count = 0
        for s in symbols:
            count += 1
            if s.addr:
                self.addresses_hidden = False
            if s.module:
                self.modules.add(s.module)
            if s.type not in TEXT_TYPES or _NOT_ENTRY.search(s.name):
                continue
            self._by_key.setdefault((s.module, s.base), []).append(s)
        if count == 0:
            self.addresses_hidden = False  # empty input: nothing hidden, simply nothing there

    @classmethod
    def from_text(cls, text: str) -> "Kallsyms":
        return cls(parse(text))

    @classmethod
    def read(cls, path: str = "/proc/kallsyms") -> "Kallsyms":
        with open(path) as f:
            return cls.from_text(f.read())

    def resolve(self, name: str, modules: tuple[str | None, ...]) -> Resolution:
        """Find `name` (or a clone of it) in the first of `modules` that has it (None = vmlinux).

        An exact name wins over clones; among clones the lowest address is used (all clones of a
        static function run the same code; the plan records how many there were)."""
        if self.addresses_hidden:
            return Resolution(None, "kallsyms addresses are hidden (run as root)")
        for mod in modules:
            cands = self._by_key.get((mod, name))
            if not cands:
                continue
            exact = [s for s in cands if s.name == name]
            pick = exact[0] if exact else min(cands, key=lambda s: s.addr)
            return Resolution(pick, None, len(cands))
        where = " or ".join(m or "vmlinux" for m in modules)
        if any(m and m not in self.modules for m in modules) and \
                not any(m is None for m in modules):
            missing = [m for m in modules if m and m not in self.modules]
            return Resolution(None, f"module {', '.join(missing)} not loaded")
        return Resolution(None, f"{name} not in kallsyms ({where}): inlined or absent")
