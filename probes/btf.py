"""A minimal reader of kernel BTF (/sys/kernel/btf/vmlinux and split module BTF such as
/sys/kernel/btf/drm): struct member offsets and function parameter names.

Why: BCC compiles against kernel headers, which (a) may not be the running kernel's (the host
uses Debian's) and (b) are slow to include (drm/drm_gem.h doubles the compile time, which matters
under QEMU/TCG). The few offsets the program reads (task_struct.flags/pid/comm,
drm_gem_object.size/resv/lru) and drm_gem_lru_scan's parameter names come from the running
kernel's BTF instead, and are passed as -D flags.

Format (Documentation/bpf/btf.rst): a header, a type section of `struct btf_type` records each
followed by kind-specific data, and a string section. Split BTF (modules) numbers its types and
strings after the base (vmlinux) BTF's.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = 0xEB9F
STRUCT, UNION, FUNC, FUNC_PROTO = 4, 5, 12, 13
# bytes of kind-specific data after the 12-byte btf_type: (fixed, per vlen item)
_EXTRA = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0),
          8: (0, 0), 9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0),
          15: (0, 12), 16: (0, 0), 17: (4, 0), 18: (0, 0), 19: (0, 12)}


class BtfError(ValueError):
    pass


_TYPE = struct.Struct("<III")
_MEMBER = struct.Struct("<III")
_PARAM = struct.Struct("<II")
_KEEP = (STRUCT, UNION, FUNC, FUNC_PROTO, 8, 9, 10, 11, 18)


@dataclass
class Btf:
    data: bytes
    strings: bytes
    str_base: int                     # string offsets below this live in the base BTF
    first_id: int                     # type id of the first type here (1 for vmlinux)
    last_id: int = 0
    base: "Btf | None" = None
    where: dict[int, int] = field(default_factory=dict)        # type id -> record offset
    by_name_off: dict[tuple[int, int], int] = field(default_factory=dict)  # (kind, name_off)

    def name(self, off: int) -> str:
        if off < self.str_base and self.base is not None:
            return self.base.name(off)
        o = off - self.str_base
        return self.strings[o:self.strings.index(b"\0", o)].decode(errors="replace")

    def _name_off(self, name: str) -> list[int]:
        """Offsets where `name` is a whole string (here and in the base)."""
        out = []
        needle = b"\0" + name.encode() + b"\0"
        i = self.strings.find(needle)
        if i >= 0:
            out.append(self.str_base + i + 1)
        if self.strings.startswith(name.encode() + b"\0"):
            out.append(self.str_base)
        if self.base is not None:
            out += self.base._name_off(name)
        return out

    def type(self, tid: int) -> tuple | None:
        """(kind, name_off, size_or_type, vlen, kflag, items) of a kept type."""
        if tid < self.first_id:
            return self.base.type(tid) if self.base else None
        off = self.where.get(tid)
        if off is None:
            return None
        name_off, info, size_or_type = _TYPE.unpack_from(self.data, off)
        vlen, kind, kflag = info & 0xFFFF, (info >> 24) & 0x1F, info >> 31
        items: tuple = ()
        if kind in (STRUCT, UNION):
            items = tuple(_MEMBER.unpack_from(self.data, off + 12 + 12 * i) for i in range(vlen))
        elif kind == FUNC_PROTO:
            items = tuple(_PARAM.unpack_from(self.data, off + 12 + 8 * i) for i in range(vlen))
        return kind, name_off, size_or_type, vlen, kflag, items

    def find(self, kind: int, name: str) -> int | None:
        for noff in self._name_off(name):
            tid = self._find_off(kind, noff)
            if tid is not None:
                return tid
        return None

    def _find_off(self, kind: int, noff: int) -> int | None:
        tid = self.by_name_off.get((kind, noff))
        if tid is None and self.base is not None:
            return self.base._find_off(kind, noff)
        return tid

    def member_offsets(self, struct_name: str) -> dict[str, int]:
        """Byte offsets of a struct's named members (anonymous unions/structs flattened)."""
        tid = self.find(STRUCT, struct_name)
        if tid is None:
            return {}
        out: dict[str, int] = {}
        self._members(tid, 0, out)
        return out

    def _members(self, tid: int, base_bits: int, out: dict[str, int]) -> None:
        t = self.type(tid)
        if t is None:
            return
        _, _, _, _, kflag, items = t
        for name_off, mtype, off in items:
            bits = base_bits + ((off & 0xFFFFFF) if kflag else off)
            if name_off:
                out.setdefault(self.name(name_off), bits // 8)
            else:
                inner = self._resolve(mtype)
                if inner is not None and self.type(inner)[0] in (STRUCT, UNION):
                    self._members(inner, bits, out)

    def _resolve(self, tid: int) -> int | None:
        """Skip typedef/const/volatile/restrict/type_tag to the underlying type."""
        for _ in range(16):
            t = self.type(tid)
            if t is None:
                return None
            if t[0] in (8, 9, 10, 11, 18):
                tid = t[2]
                continue
            return tid
        return None

    def func_params(self, func_name: str) -> tuple[str, ...] | None:
        tid = self.find(FUNC, func_name)
        if tid is None:
            return None
        proto = self.type(self.type(tid)[2])
        if proto is None or proto[0] != FUNC_PROTO:
            return None
        return tuple(self.name(n) for n, _ in proto[5])


def parse(data: bytes, base: Btf | None = None) -> Btf:
    """Index the type section (offsets only; records are decoded when asked for)."""
    if len(data) < 24:
        raise BtfError("BTF too short")
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = \
        struct.unpack_from("<HBBIIIII", data)
    if magic != MAGIC:
        raise BtfError("not BTF (bad magic or big-endian)")
    t0, s0 = hdr_len + type_off, hdr_len + str_off
    str_base = len(base.strings) + base.str_base if base else 0
    first_id = base.last_id + 1 if base else 1
    btf = Btf(data, data[s0:s0 + str_len], str_base, first_id, base=base)
    where, by_name = btf.where, btf.by_name_off
    unpack, extra = _TYPE.unpack_from, _EXTRA
    off, end, tid = t0, t0 + type_len, first_id
    while off < end:
        name_off, info, _ = unpack(data, off)
        kind = (info >> 24) & 0x1F
        if kind in _KEEP:
            where[tid] = off
            if name_off and (kind == STRUCT or kind == FUNC):
                by_name.setdefault((kind, name_off), tid)
        fixed, per = extra.get(kind, (None, None))
        if fixed is None:
            raise BtfError(f"unknown BTF kind {kind}")
        off += 12 + fixed + per * (info & 0xFFFF)
        tid += 1
    btf.last_id = tid - 1
    return btf


_VMLINUX: dict[str, Btf] = {}   # root -> parsed vmlinux BTF (it does not change while running)


def load(module: str | None = None, root: str = "/sys/kernel/btf") -> Btf | None:
    """vmlinux BTF, or a module's split BTF on top of it; None when absent or unreadable."""
    try:
        base = _VMLINUX.get(root)
        if base is None:
            with open(f"{root}/vmlinux", "rb") as f:
                base = _VMLINUX[root] = parse(f.read())
        if module is None:
            return base
        with open(f"{root}/{module}", "rb") as f:
            return parse(f.read(), base)
    except (OSError, BtfError, struct.error, ValueError):
        return None


def kernel_offsets(root: str = "/sys/kernel/btf") -> tuple[dict[str, int], tuple[str, ...] | None]:
    """{'task_struct.flags': off, ...} and drm_gem_lru_scan's parameter names, from BTF."""
    out: dict[str, int] = {}
    vmlinux = load(None, root)
    if vmlinux is None:
        return out, None
    task = vmlinux.member_offsets("task_struct")
    for m in ("flags", "pid", "comm"):
        if m in task:
            out[f"task_struct.{m}"] = task[m]
    drm = load("drm", root) or vmlinux
    obj = drm.member_offsets("drm_gem_object")
    for m in ("size", "resv", "_resv", "lru"):
        if m in obj:
            out[f"drm_gem_object.{m}"] = obj[m]
    return out, drm.func_params("drm_gem_lru_scan")
