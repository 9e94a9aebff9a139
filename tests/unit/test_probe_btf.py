"""The minimal BTF reader on hand-built BTF blobs (base + split module BTF)."""
from __future__ import annotations

import struct

import pytest

from probes import btf
from probes.plan import Features, make_plan
from probes.kallsyms import Kallsyms


class Builder:
    def __init__(self, base_strings: int = 0):
        self.strings = b"\0" if base_strings == 0 else b""
        self.base_strings = base_strings
        self.types = b""

    def s(self, name: str) -> int:
        if not name:
            return 0
        off = self.base_strings + len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def t(self, name_off: int, kind: int, vlen: int, size_or_type: int, extra: bytes = b"",
          kflag: int = 0) -> None:
        info = (kflag << 31) | (kind << 24) | vlen
        self.types += struct.pack("<III", name_off, info, size_or_type) + extra

    def blob(self) -> bytes:
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types),
                          len(self.strings))
        return hdr + self.types + self.strings


def base_blob() -> bytes:
    b = Builder()
    b.t(b.s("int"), 1, 0, 4, struct.pack("<I", 32))                      # 1 int
    # 2: struct task_struct { int flags @4; union { int a; int pid; } @1264 (anon); char comm @1752 }
    members = struct.pack("<III", b.s("flags"), 1, 4 * 8) + \
        struct.pack("<III", 0, 3, 1264 * 8) + struct.pack("<III", b.s("comm"), 1, 1752 * 8)
    b.t(b.s("task_struct"), 4, 3, 2000, members)
    union = struct.pack("<III", b.s("pid"), 1, 0) + struct.pack("<III", b.s("tgid_x"), 1, 0)
    b.t(0, 5, 2, 4, union)                                                 # 3 anon union
    b.t(b.s("size"), 8, 0, 1)                                              # 4 typedef "size"
    return b.blob(), len(b.strings)


def test_base_struct_offsets_flatten_anonymous_members():
    blob, _ = base_blob()
    t = btf.parse(blob)
    assert t.last_id == 4
    assert t.member_offsets("task_struct") == {"flags": 4, "pid": 1264, "tgid_x": 1264,
                                               "comm": 1752}
    assert t.member_offsets("nope") == {}


def test_split_module_btf_reuses_base_strings_and_ids():
    blob, nstr = base_blob()
    base = btf.parse(blob)
    m = Builder(base_strings=nstr)
    # 5: struct drm_gem_object { size (base string) @ 40, resv @ 256, lru @ 288 } -> base int
    size_off = base.strings.index(b"\0size\0") + 1   # a member name that lives in the base
    members = struct.pack("<III", size_off, 1, 40 * 8) + \
        struct.pack("<III", m.s("resv"), 1, 256 * 8) + struct.pack("<III", m.s("lru"), 1, 288 * 8)
    m.t(m.s("drm_gem_object"), 4, 3, 400, members)
    # 6: proto (lru, nr_to_scan, remaining, shrink); 7: func drm_gem_lru_scan -> 6
    params = b"".join(struct.pack("<II", m.s(n), 1) for n in ("lru", "nr_to_scan", "remaining",
                                                                "shrink"))
    m.t(0, 13, 4, 1, params)
    m.t(m.s("drm_gem_lru_scan"), 12, 0, 6)
    mod = btf.parse(m.blob(), base)
    assert (mod.first_id, mod.last_id) == (5, 7)
    assert mod.member_offsets("drm_gem_object") == {"size": 40, "resv": 256, "lru": 288}
    assert mod.member_offsets("task_struct")["comm"] == 1752       # found in the base
    assert mod.func_params("drm_gem_lru_scan") == ("lru", "nr_to_scan", "remaining", "shrink")


def test_bad_magic_is_an_error():
    with pytest.raises(btf.BtfError):
        btf.parse(b"\0" * 32)


def test_plan_uses_btf_offsets_instead_of_headers():
    ks = Kallsyms.from_text("ffffffc000c10000 t msm_gem_free_object\t[msm]\n"
                            "ffffffc0080f1230 T ww_mutex_lock\n")
    f = Features("6.12.95", kprobes=True, ringbuf=True, tracepoints=frozenset(),
                 headers_match=True,
                 offsets=(("drm_gem_object.lru", 288), ("drm_gem_object.resv", 256),
                          ("drm_gem_object._resv", 264),
                          ("drm_gem_object.size", 40), ("task_struct.comm", 1752),
                          ("task_struct.flags", 44), ("task_struct.pid", 1264)))
    d = make_plan(f, ks).defines
    assert (d["GS_OFF_TASK_FLAGS"], d["GS_OFF_TASK_PID"], d["GS_OFF_TASK_COMM"]) == (44, 1264, 1752)
    assert (d["GS_OFF_OBJ_SIZE"], d["GS_OFF_OBJ_RESV"], d["GS_OFF_OBJ_LRU"]) == (40, 256, 288)
    assert d["GS_OFF_OBJ__RESV"] == 264     # trylocked resv -> its GEM object
    assert "GS_TASK_OFFSETS" not in d and "GS_MSM_HEADERS" not in d
