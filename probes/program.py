"""The one combined BPF program: its parts (package data) and how -D flags select variants."""
from __future__ import annotations

from importlib import resources
from typing import Mapping

# Order matters: the common header defines the record, maps and helpers the parts use.
PARTS = ("gemscope_common.bpf.h", "tracepoints.bpf.c", "locks.bpf.c", "msm.bpf.c",
         "msm_tracepoints.bpf.c")


def source_text() -> str:
    """The program text as shipped (all parts, variant blocks still behind #ifdef)."""
    root = resources.files(__package__)
    return "\n".join(f"/* ---- {name} ---- */\n" + (root / name).read_text() for name in PARTS)


def cflags(defines: Mapping[str, object]) -> list[str]:
    """-D flags for BCC: True -> -DNAME, ints as hex for addresses (>= 2**16) else decimal."""
    out = []
    for name, value in sorted(defines.items()):
        if value is False or value is None:
            continue
        if value is True:
            out.append(f"-D{name}")
        elif isinstance(value, int):
            out.append(f"-D{name}={value:#x}ULL" if value >= 1 << 16 else f"-D{name}={value}")
        else:
            out.append(f"-D{name}={value}")
    return out


def dump(defines: Mapping[str, object]) -> str:
    """What `gemscope probes dump` prints: the flags as a comment, then the program."""
    flags = " ".join(cflags(defines)) or "(none)"
    return f"/* BCC cflags: {flags} */\n{source_text()}"
