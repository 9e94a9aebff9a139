"""Per-task delay accounting over taskstats netlink (pyroute2), sampled while recording.

Who is sampled: the GPU clients (processes with a /dev/dri node open), msm's retire worker
(kthread "gpu-worker" / "*-worker" of the GPU), kswapd, and any pids the caller adds. The values
are the kernel's cumulative delay totals (ns): CPU run-queue delay, direct reclaim
(`freepages`), thrashing and compaction; the analyses take differences between samples.

Delay accounting must be on: `kernel.task_delayacct` is switched to 1 for the run and restored
afterwards (`DelayAcct`). pyroute2 0.9 decodes only the oldest struct layout (it stops before the
freepages fields for versions other than 15), so the struct is decoded here for all versions.
"""
from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from typing import Iterable

from ..errors import GemscopeError

SYSCTL = "/proc/sys/kernel/task_delayacct"

# struct taskstats up to compact_delay_total, in its two layouts (include/uapi/linux/taskstats.h):
# version 15 inserted *_delay_max / *_delay_min after each total; version 16 moved them to the end
# again (kernel fix "taskstats: fix struct taskstats breaks backward compatibility"), so every
# version except 15 has the classic prefix.
_HEAD = "=H2xIBB6x"  # version, pad, ac_exitcode, ac_flag, ac_nice, pad: cpu_count is aligned(8)


def _layout(version: int) -> list[tuple[str, str]]:
    mm = version == 15
    def delay(name):  # count, total[, max, min]
        out = [(f"{name}_count", "Q"), (f"{name}_delay_total", "Q")]
        return out + ([(f"{name}_delay_max", "Q"), (f"{name}_delay_min", "Q")] if mm else [])
    f = delay("cpu") + delay("blkio") + delay("swapin")
    f += [("cpu_run_real_total", "Q"), ("cpu_run_virtual_total", "Q"), ("ac_comm", "32s"),
          ("ac_sched", "B"), ("_pad", "7x"), ("ac_uid", "I"), ("ac_gid", "I"), ("ac_pid", "I"),
          ("ac_ppid", "I"), ("ac_btime", "I"), ("_pad2", "4x")]
    f += [(n, "Q") for n in ("ac_etime", "ac_utime", "ac_stime", "ac_minflt", "ac_majflt",
                             "coremem", "virtmem", "hiwater_rss", "hiwater_vm", "read_char",
                             "write_char", "read_syscalls", "write_syscalls", "read_bytes",
                             "write_bytes", "cancelled_write_bytes", "nvcsw", "nivcsw",
                             "ac_utimescaled", "ac_stimescaled", "cpu_scaled_run_real_total")]
    f += delay("freepages") + delay("thrashing") + [("ac_btime64", "Q")] + delay("compact")
    return f


def decode_taskstats(data: bytes) -> dict:
    """Decode a raw struct taskstats (any version >= 8) into a dict of the fields we use."""
    (version,) = struct.unpack_from("=H", data)
    fields = _layout(version)
    fmt = _HEAD + "".join(t for _, t in fields)
    size = struct.calcsize(fmt)
    if len(data) < size:
        # an old kernel without the later fields: decode what is there
        while fields and struct.calcsize(_HEAD + "".join(t for _, t in fields)) > len(data):
            fields.pop()
        fmt = _HEAD + "".join(t for _, t in fields)
    values = struct.unpack_from(fmt, data)
    out = {"version": version}
    names = [n for n, t in fields if not t.endswith("x")]
    out.update(zip(names, values[4:]))  # the first 4 values are the head
    comm = out.get("ac_comm", b"")
    out["ac_comm"] = comm.split(b"\0", 1)[0].decode(errors="replace")
    return out


@dataclass
class Sample:
    ts_ns: int
    tid: int
    comm: str
    cpu_delay_ns: int | None
    freepages_delay_ns: int | None
    thrashing_delay_ns: int | None
    compact_delay_ns: int | None


class TaskstatsReader:
    """A taskstats genetlink socket; `sample(tid)` returns one Sample or None if the task is gone."""

    def __init__(self):
        try:
            from pyroute2.netlink.generic import GenericNetlinkSocket  # noqa: F401
            from pyroute2 import TaskStats
        except ImportError:
            raise GemscopeError("pyroute2 is missing: run .venv/bin/pip install pyroute2") from None
        self._ts = TaskStats()
        try:
            self._ts.bind()
        except Exception as e:  # no TASKSTATS genetlink family: kernel built without it
            self._ts.close()
            raise GemscopeError(f"the kernel has no taskstats netlink family ({e}); rebuild with "
                                "CONFIG_TASKSTATS=y CONFIG_TASK_DELAY_ACCT=y") from None

    def sample(self, tid: int) -> Sample | None:
        try:
            msgs = self._ts.get_pid_stat(tid)
        except Exception:
            return None   # ESRCH: the task exited between listing and sampling
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        for m in msgs:
            raw = _raw_stats(m)
            if raw is None:
                continue
            d = decode_taskstats(raw)
            return Sample(now, tid, d["ac_comm"], d.get("cpu_delay_total"),
                          d.get("freepages_delay_total"), d.get("thrashing_delay_total"),
                          d.get("compact_delay_total"))
        return None

    def close(self) -> None:
        self._ts.close()


def _raw_stats(msg) -> bytes | None:
    """The TASKSTATS_TYPE_STATS payload bytes inside TASKSTATS_TYPE_AGGR_PID of one reply."""
    data = msg.data if hasattr(msg, "data") else None
    if not data:
        return None
    # genetlink reply: nlmsghdr(16) + genlmsghdr(4), then NLAs; AGGR_PID (4) nests PID (1) and
    # STATS (3). Walk the attributes by hand: pyroute2 drops the fields we need.
    off = getattr(msg, "offset", 0) or 0
    return _find_stats(data, off + 20, off + msg["header"]["length"])


def _find_stats(data: bytes, start: int, end: int) -> bytes | None:
    off = start
    while off + 4 <= end:
        length, typ = struct.unpack_from("=HH", data, off)
        if length < 4:
            return None
        typ &= 0x3FFF
        if typ == 4 or typ == 5:        # AGGR_PID / AGGR_TGID: nested
            found = _find_stats(data, off + 4, off + length)
            if found is not None:
                return found
        elif typ == 3:                  # STATS
            return bytes(data[off + 4: off + length])
        off += (length + 3) & ~3
    return None


class DelayAcct:
    """Switch kernel.task_delayacct on for the run and restore the previous value after."""

    def __init__(self, path: str = SYSCTL):
        self.path = path
        self.previous: str | None = None
        self.available = os.path.exists(path)

    def enable(self) -> None:
        if not self.available:
            return
        with open(self.path) as f:
            self.previous = f.read().strip()
        if self.previous != "1":
            with open(self.path, "w") as f:
                f.write("1")

    def restore(self) -> None:
        if self.previous is not None and self.previous != "1":
            with open(self.path, "w") as f:
                f.write(self.previous)
        self.previous = None


def gpu_related_tids(proc: str = "/proc", extra_pids: Iterable[int] = ()) -> dict[int, str]:
    """tid -> comm for kswapd*, GPU worker kthreads and processes with a /dev/dri node open."""
    out: dict[int, str] = {}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            with open(f"{proc}/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith("kswapd") or comm == "gpu-worker" or comm.endswith("-worker") \
                and comm.startswith(("a", "msm", "gpu")):
            out[int(pid)] = comm
            continue
        if _has_dri_open(f"{proc}/{pid}/fd"):
            for tid in _tids(f"{proc}/{pid}/task"):
                out[tid] = comm
    for pid in extra_pids:
        out.setdefault(int(pid), _comm(proc, pid))
    return out


def _has_dri_open(fd_dir: str) -> bool:
    try:
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{fd}").startswith("/dev/dri/"):
                    return True
            except OSError:
                continue
    except OSError:
        pass
    return False


def _tids(task_dir: str) -> list[int]:
    try:
        return [int(t) for t in os.listdir(task_dir) if t.isdigit()]
    except OSError:
        return []


def _comm(proc: str, pid: int) -> str:
    try:
        with open(f"{proc}/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"
