"""Run time of loaded BPF programs, from the kernel's own accounting.

While run-time statistics are on (BPF_ENABLE_STATS, or the kernel.bpf_stats_enabled sysctl),
the kernel adds each run of every BPF program to its `run_time_ns` and `run_cnt` (struct
bpf_prog_info). Summed over a tool's programs around a workload, that is the CPU time its
probes' BPF code took, and per run the "ns per probe hit": a figure far less disturbed by a
shared host's load than the workload's throughput. It leaves out what the kernel spends getting
into the program (kprobe trap, fentry trampoline), which the throughput keeps.

    with BpfStats() as s:            # statistics on (BPF_ENABLE_STATS fd) until the block ends
        before = s.snapshot()
        ...workload...
        delta = s.since(before)      # {(prog id, name): (run_time_ns, run_cnt)}

`gemscope record --self-cost` and benchmarks/guest_overhead.py use it. x86_64 only (the bpf(2)
syscall number); raw bpf(2) through ctypes, no bpftool needed.
"""
from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

from .bpf_syscall import bpf, obj_info

BPF_PROG_GET_NEXT_ID, BPF_PROG_GET_FD_BY_ID = 11, 13
BPF_ENABLE_STATS, BPF_STATS_RUN_TIME = 32, 0
INFO_LEN = 216                     # up to and including recursion_misses
OFF_NAME, OFF_RUN_TIME, OFF_RUN_CNT = 64, 192, 200
SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")

def _prog_ids() -> list[int]:
    ids, cur = [], 0
    while True:
        attr = ctypes.create_string_buffer(struct.pack("<III", cur, 0, 0), 16)
        if bpf(BPF_PROG_GET_NEXT_ID, attr) < 0:
            return ids
        cur = struct.unpack_from("<I", attr, 4)[0]
        ids.append(cur)


def _info(prog_id: int) -> tuple[str, int, int] | None:
    attr = ctypes.create_string_buffer(struct.pack("<III", prog_id, 0, 0), 16)
    fd = bpf(BPF_PROG_GET_FD_BY_ID, attr)
    if fd < 0:
        return None      # unloaded in between
    try:
        info = obj_info(fd, INFO_LEN)
        if info is None:
            return None
        name = info.raw[OFF_NAME:OFF_NAME + 16].split(b"\0", 1)[0].decode("ascii", "replace")
        run_time, run_cnt = struct.unpack_from("<QQ", info, OFF_RUN_TIME)
        return name, run_time, run_cnt
    finally:
        os.close(fd)


class BpfStats:
    """Run-time statistics on while the object is entered: through a BPF_ENABLE_STATS fd (the
    kernel counts its holders and stops when the last one closes, also when this process dies),
    else (older kernels) through the sysctl, restored on exit."""

    def __enter__(self) -> "BpfStats":
        self._fd, self._old = -1, None
        attr = ctypes.create_string_buffer(struct.pack("<I", BPF_STATS_RUN_TIME), 16)
        fd = bpf(BPF_ENABLE_STATS, attr)
        if fd >= 0:
            self._fd = fd
        else:
            self._old = SYSCTL.read_text().strip()
            SYSCTL.write_text("1")
        return self

    def __exit__(self, *exc) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        elif self._old is not None:
            SYSCTL.write_text(self._old)
            self._old = None

    @staticmethod
    def snapshot() -> dict[tuple[int, str], tuple[int, int]]:
        out = {}
        for pid in _prog_ids():
            got = _info(pid)
            if got is not None:
                out[(pid, got[0])] = got[1:]
        return out

    def since(self, before: dict) -> dict[tuple[int, str], tuple[int, int]]:
        now = self.snapshot()
        return {k: (t - before.get(k, (0, 0))[0], c - before.get(k, (0, 0))[1])
                for k, (t, c) in now.items() if c - before.get(k, (0, 0))[1] > 0}


def totals(delta: dict, names=None) -> tuple[int, int]:
    """(run_time_ns, run_cnt) summed over the programs whose name starts with one of `names`
    (all when None)."""
    t = c = 0
    for (_, name), (rt, rc) in delta.items():
        if names is None or name.startswith(tuple(names)):
            t, c = t + rt, c + rc
    return t, c


class SelfCost:
    """`gemscope record --self-cost`: the run time of gemscope's own BPF programs, per program,
    over the recording (statistics on from start to stop; programs of replaced sessions are
    read before they are unloaded)."""

    def __init__(self):
        self._stats = BpfStats().__enter__()
        self._ids: set[int] = set()
        self._before: set[int] = set()
        self._seen: dict[int, tuple[str, int, int]] = {}   # prog id -> (name, ns, runs)

    def before_load(self) -> None:
        self._before = {pid for pid, _ in BpfStats.snapshot()}

    def after_load(self) -> None:
        self._ids |= {pid for pid, _ in BpfStats.snapshot()} - self._before

    def harvest(self) -> None:
        """Read our programs' counters now (call before a program is unloaded)."""
        for (pid, name), (ns, runs) in BpfStats.snapshot().items():
            if pid in self._ids:
                self._seen[pid] = (name, ns, runs)

    def close(self) -> None:
        self._stats.__exit__(None, None, None)

    def by_program(self) -> dict[str, dict[str, float]]:
        """{program name: {runs, total_ns, ns_per_run}}, programs that ran, most costly first."""
        out: dict[str, list[int]] = {}
        for name, ns, runs in self._seen.values():
            acc = out.setdefault(name, [0, 0])
            acc[0] += ns
            acc[1] += runs
        return {n: {"runs": r, "total_ns": t, "ns_per_run": t / r}
                for n, (t, r) in sorted(out.items(), key=lambda kv: -kv[1][0]) if r}
