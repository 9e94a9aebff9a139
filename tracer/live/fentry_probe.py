"""Does fentry (a BPF trampoline) load and attach on THIS kernel, per function? The ladder's top
rung is used only where it does.

The test is the real thing, without BCC or a compiler: a two-instruction BPF_PROG_TYPE_TRACING
program (r0 = 0; exit) is loaded with expected_attach_type BPF_TRACE_FENTRY on the function's
vmlinux BTF id, attached (BPF_RAW_TRACEPOINT_OPEN, which installs the trampoline) and closed at
once. The kernel's errno is the reason when it fails (EPERM on a kernel that restricts ftrace,
ENOTSUPP without CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, ESRCH/EINVAL for a function it will not
trace). BCC 0.26 builds fentry programs only for x86_64, so other machines answer no.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

from . import bpf_syscall

BPF_PROG_LOAD = 5
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_PROG_TYPE_TRACING = 26
BPF_TRACE_FENTRY = 24
# r0 = 0 (BPF_ALU64 | BPF_MOV | BPF_K); exit (BPF_JMP | BPF_EXIT)
_INSNS = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
_ATTR_SIZE = 128
ENOTSUPP = 524   # kernel-internal, reaches user space from the trampoline code


def _errname(code: int) -> str:
    if code == ENOTSUPP:
        return "ENOTSUPP (no BPF trampoline support in this kernel build)"
    return f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"


def unsupported_reason() -> str | None:
    """Why fentry cannot be used here at all (None: worth a test load)."""
    if not bpf_syscall.usable():
        return f"BCC 0.26 builds fentry programs for x86_64 only (this is {platform.machine()})"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "no vmlinux BTF (/sys/kernel/btf/vmlinux): fentry needs CONFIG_DEBUG_INFO_BTF=y"
    return None


def test_load(btf_id: int) -> str | None:
    """Load and attach a do-nothing fentry program on the vmlinux function with this BTF id;
    None when it worked, else the kernel's reason."""
    insns = ctypes.create_string_buffer(_INSNS, len(_INSNS))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_TRACING, 2, ctypes.addressof(insns),
                     ctypes.addressof(lic))
    struct.pack_into("<I", attr, 68, BPF_TRACE_FENTRY)      # expected_attach_type
    struct.pack_into("<I", attr, 108, btf_id)               # attach_btf_id
    prog = bpf_syscall.bpf(BPF_PROG_LOAD, attr)
    if prog < 0:
        return "load: " + _errname(ctypes.get_errno())
    try:
        attr2 = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<QI", attr2, 0, 0, prog)           # name = NULL, prog_fd
        link = bpf_syscall.bpf(BPF_RAW_TRACEPOINT_OPEN, attr2)
        if link < 0:
            return "attach: " + _errname(ctypes.get_errno())
        os.close(link)
        return None
    finally:
        os.close(prog)


def fentry_functions(names, vmlinux_btf=None) -> tuple[frozenset[str], str | None]:
    """(the functions of `names` where a test fentry program loads and attaches, why fentry
    is unavailable when none does). Needs root; any failure is an answer, never an exception."""
    why = unsupported_reason()
    if why:
        return frozenset(), why
    if vmlinux_btf is None:
        from probes.btf import load
        vmlinux_btf = load(None)
    if vmlinux_btf is None:
        return frozenset(), "vmlinux BTF unreadable"
    from probes.btf import FUNC
    ok, reasons = set(), []
    for name in names:
        tid = vmlinux_btf.find(FUNC, name)
        if tid is None:
            reasons.append(f"{name}: not in vmlinux BTF")
            continue
        try:
            r = test_load(tid)
        except OSError as e:
            r = str(e)
        if r is None:
            ok.add(name)
        else:
            reasons.append(f"{name}: {r}")
    if ok:
        return frozenset(ok), None
    return frozenset(), ("a test fentry program did not load: " + "; ".join(reasons[:2])
                         if reasons else "no function to test")
