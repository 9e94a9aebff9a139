"""The bpf(2) system call through ctypes, for the few places that need it without BCC: the
fentry test load (fentry_probe.py), the ring buffer's size (ringbuf.py) and the run-time
statistics of loaded programs (bpf_stats.py). x86_64 only: the syscall number differs per
architecture, and BCC 0.26's fentry and our mmap ring-buffer reader are x86_64-only anyway."""
from __future__ import annotations

import ctypes
import platform
import struct

SYS_BPF = {"x86_64": 321}
BPF_OBJ_GET_INFO_BY_FD = 15

_libc = ctypes.CDLL(None, use_errno=True)


def usable() -> bool:
    return platform.machine() in SYS_BPF


def bpf(cmd: int, attr: ctypes.Array) -> int:
    """bpf(cmd, attr, sizeof attr): the kernel's return value (-1 with ctypes.get_errno())."""
    return _libc.syscall(SYS_BPF[platform.machine()], cmd, attr, len(attr))


def obj_info(fd: int, length: int) -> ctypes.Array | None:
    """The first `length` bytes of a BPF object's info struct (bpf_prog_info, bpf_map_info...),
    None when the kernel refuses (errno in ctypes.get_errno())."""
    info = ctypes.create_string_buffer(length)
    attr = ctypes.create_string_buffer(struct.pack("<IIQ", fd, length, ctypes.addressof(info)),
                                       16)
    return info if bpf(BPF_OBJ_GET_INFO_BY_FD, attr) >= 0 else None
