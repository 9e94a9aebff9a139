"""A gemscope-owned tracefs instance and kprobe group: set-up, tear-down and stale clean-up.

Everything gemscope creates carries its pid: the instance instances/gemscope-<pid> and the kprobe
group gemscope_<pid>. `cleanup_stale()` removes those of pids that no longer run (a recorder killed
with SIGKILL), so a later run leaves the system as it was before the killed one.
"""
from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field

from ..errors import GemscopeError

TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
INSTANCE_PREFIX = "gemscope-"
GROUP_PREFIX = "gemscope_"


class TracefsError(GemscopeError):
    """tracefs is missing, not writable, or refused a setting."""


def tracefs_root() -> str:
    for p in TRACEFS_CANDIDATES:
        if os.path.isfile(os.path.join(p, "trace_pipe")) or os.path.isdir(os.path.join(p, "events")):
            return p
    raise TracefsError("tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)")


def write(path: str, text: str, append: bool = False) -> None:
    """One write(2) (tracefs refuses the lseek that Python's "a" mode does)."""
    try:
        fd = os.open(path, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise TracefsError(f"cannot write {text.strip()[:80]!r} to {path}: "
                           f"{e.strerror or e}") from None


def read(path: str, limit: int = 1 << 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read(limit)
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str, prefix: str) -> int | None:
    m = re.fullmatch(re.escape(prefix) + r"(\d+)", name)
    return int(m.group(1)) if m else None


def has_kprobe_events(root: str) -> bool:
    return os.path.exists(os.path.join(root, "kprobe_events"))


def remove_kprobe_group(root: str, group: str) -> list[str]:
    """Disable and delete every kprobe event of `group`; returns the names removed."""
    if not has_kprobe_events(root):
        return []
    removed = []
    for line in read(os.path.join(root, "kprobe_events")).splitlines():
        m = re.match(r"^[pr]\d*:(?P<grp>[^/\s]+)/(?P<ev>\S+)\s", line)
        if not m or m.group("grp") != group:
            continue
        ev = m.group("ev")
        enable = os.path.join(root, "events", group, ev, "enable")
        if os.path.exists(enable):
            try:
                write(enable, "0")
            except TracefsError:
                pass
        try:
            write(os.path.join(root, "kprobe_events"), f"-:{group}/{ev}\n", append=True)
            removed.append(ev)
        except TracefsError:
            pass
    return removed


def remove_instance(root: str, name: str) -> bool:
    path = os.path.join(root, "instances", name)
    if not os.path.isdir(path):
        return False
    for f in ("tracing_on", "events/enable"):
        try:
            write(os.path.join(path, f), "0")
        except TracefsError:
            pass
    try:
        os.rmdir(path)
        return True
    except OSError as e:
        if e.errno == errno.ENOENT:
            return False
        raise TracefsError(f"cannot remove tracefs instance {path}: {e.strerror}") from None


def cleanup_stale(root: str | None = None) -> list[str]:
    """Remove gemscope instances and kprobe groups whose owning process is gone."""
    root = root or tracefs_root()
    gone = []
    inst_dir = os.path.join(root, "instances")
    for name in sorted(os.listdir(inst_dir)) if os.path.isdir(inst_dir) else []:
        pid = _owner(name, INSTANCE_PREFIX)
        if pid is not None and not pid_alive(pid) and remove_instance(root, name):
            gone.append(f"instance {name}")
    groups = set()
    for line in read(os.path.join(root, "kprobe_events")).splitlines():
        m = re.match(r"^[pr]\d*:(" + GROUP_PREFIX + r"\d+)/", line)
        if m:
            groups.add(m.group(1))
    for g in sorted(groups):
        pid = _owner(g, GROUP_PREFIX)
        if pid is not None and not pid_alive(pid):
            if remove_kprobe_group(root, g):
                gone.append(f"kprobe group {g}")
    return gone


@dataclass
class Instance:
    """Our tracefs instance: events enabled here never disturb the top-level buffer."""
    root: str
    pid: int = field(default_factory=os.getpid)
    path: str = ""
    enabled: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{INSTANCE_PREFIX}{self.pid}"

    @property
    def group(self) -> str:
        return f"{GROUP_PREFIX}{self.pid}"

    def create(self, buffer_kb: int = 4096) -> None:
        self.path = os.path.join(self.root, "instances", self.name)
        if not os.path.isdir(os.path.join(self.root, "instances")):
            raise TracefsError(f"{self.root} has no instances/ directory (kernel too old)")
        try:
            os.mkdir(self.path)
        except FileExistsError:
            remove_instance(self.root, self.name)
            os.mkdir(self.path)
        except OSError as e:
            raise TracefsError(f"cannot create tracefs instance {self.path}: {e.strerror}") from None
        write(os.path.join(self.path, "tracing_on"), "0")
        write(os.path.join(self.path, "buffer_size_kb"), str(buffer_kb))

    def set_clock(self, wanted: str = "mono") -> str:
        clocks = read(os.path.join(self.path, "trace_clock"))
        if wanted in clocks.replace("[", " ").replace("]", " ").split():
            write(os.path.join(self.path, "trace_clock"), wanted)
            return wanted
        m = re.search(r"\[(\w+)\]", clocks)
        return m.group(1) if m else "unknown"

    def event_dir(self, system: str, event: str) -> str:
        return os.path.join(self.path, "events", system, event)

    def enable(self, system: str, event: str, filter_expr: str | None = None,
               trigger: str | None = None) -> None:
        d = self.event_dir(system, event)
        if not os.path.isdir(d):
            raise TracefsError(f"event {system}:{event} does not exist in this kernel")
        if filter_expr:
            write(os.path.join(d, "filter"), filter_expr)
        if trigger:
            write(os.path.join(d, "trigger"), trigger)
        write(os.path.join(d, "enable"), "1")
        self.enabled.append(f"{system}:{event}")

    def destroy(self) -> None:
        """Remove the instance, then our kprobe group (events must be disabled first)."""
        if self.path:
            remove_instance(self.root, self.name)
        remove_kprobe_group(self.root, self.group)
