"""What a maintainer needs to know about the machine a bundle was made on.

Everything is read from procfs/sysfs/tracefs with a size cap; anything unreadable is recorded as
such (with the reason), never guessed. Nothing here needs root, but root sees more (debugfs).
"""
from __future__ import annotations

import glob
import gzip
import importlib.metadata
import importlib.util
import os
import platform
import re
import sys
from typing import Any, Iterable

from .. import __version__

_MAX_FILE_BYTES = 64 << 10
_MAX_CONFIG_BYTES = 16 << 20

# Kernel options that change what gemscope can see or how the driver behaves.
CONFIG_PATTERN = re.compile(
    r"^#? ?CONFIG_(DRM\w*|MSM\w*|QCOM\w*|ARM_SMMU\w*|KPROBE\w*|HAVE_KPROBES\w*|KRETPROBES|"
    r"UPROBES|BPF\w*|HAVE_EBPF_JIT|DEBUG_INFO_BTF\w*|FTRACE\w*|FUNCTION_TRACER|DYNAMIC_FTRACE\w*|"
    r"FPROBE\w*|TRACEPOINTS|KALLSYMS\w*|LOCKDEP\w*|PROVE_LOCKING|LOCK_STAT|DEBUG_LOCK_ALLOC|"
    r"DEBUG_MUTEXES|DEBUG_WW_MUTEX_SLOWPATH|WW_MUTEX_SELFTEST|DEBUG_RT_MUTEXES|PREEMPT\w*|"
    r"SHRINKER_DEBUG|MEMCG|TASK_DELAY_ACCT|TASKSTATS|DMA_SHARED_BUFFER|SYNC_FILE|HZ)[= ].*")

# Event kinds that come from a tracepoint, and the tracefs events whose format describes them.
KIND_TRACEPOINTS: dict[str, tuple[str, ...]] = {
    "gpu_submit": ("drm_msm_gpu/msm_gpu_submit",),
    "gpu_retired": ("drm_msm_gpu/msm_gpu_submit_retired",),
    "shrink_tp": ("drm_msm_gpu/msm_gem_shrink",),
    "lock_contention": ("lock/contention_begin", "lock/contention_end"),
    "shrink_slab": ("vmscan/mm_shrink_slab_start", "vmscan/mm_shrink_slab_end"),
    "direct_reclaim": ("vmscan/mm_vmscan_direct_reclaim_begin",
                       "vmscan/mm_vmscan_direct_reclaim_end"),
    "fence_signal": ("dma_fence/dma_fence_signaled",),
}
TRACEFS_ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def read_small(path: str, limit: int = _MAX_FILE_BYTES) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason); reads at most limit bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        return None, e.strerror or type(e).__name__
    if len(data) > limit:
        return None, f"larger than {limit} bytes"
    return data.decode("utf-8", errors="replace"), None


def kernel_config_lines(release: str | None = None) -> dict[str, Any]:
    """The relevant CONFIG_ lines from /proc/config.gz or /boot/config-<release>."""
    release = release or os.uname().release
    tried = []
    try:
        with gzip.open("/proc/config.gz", "rb") as f:
            raw = f.read(_MAX_CONFIG_BYTES)
        return {"source": "/proc/config.gz", "lines": _relevant(raw.decode(errors="replace"))}
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        tried.append(f"/proc/config.gz: {getattr(e, 'strerror', None) or e}")
    path = f"/boot/config-{release}"
    text, why = read_small(path, _MAX_CONFIG_BYTES)
    if text is not None:
        return {"source": path, "lines": _relevant(text)}
    tried.append(f"{path}: {why}")
    return {"source": None, "lines": [], "unavailable": tried}


def _relevant(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if CONFIG_PATTERN.match(ln)]


def msm_parameters(root: str = "/sys/module/msm/parameters") -> dict[str, Any]:
    """msm module parameters (enable_eviction, ...) when the module is present."""
    if not os.path.isdir(root):
        return {"present": False}
    params: dict[str, Any] = {}
    for p in sorted(glob.glob(os.path.join(root, "*"))):
        text, why = read_small(p, 4096)
        params[os.path.basename(p)] = text.strip() if text is not None else f"<unreadable: {why}>"
    return {"present": True, "parameters": params}


def gpu_names(pattern: str = "/sys/kernel/debug/dri/*/name") -> dict[str, str]:
    """debugfs dri/<minor>/name of each DRM device, when readable (usually root only)."""
    out = {}
    for p in sorted(glob.glob(pattern)):
        text, why = read_small(p, 4096)
        out[p] = text.strip() if text is not None else f"<unreadable: {why}>"
    return out


def tool_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"gemscope": __version__, "python": platform.python_version()}
    for dist in ("pandas", "pyarrow", "numpy", "scipy", "perfetto", "matplotlib", "textual"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    out["bcc"] = "present" if importlib.util.find_spec("bcc") is not None else None
    return out


def attach_plan(meta: dict[str, Any]) -> dict[str, Any]:
    """The recording's probe plan, with the probes that did not attach listed apart."""
    plan = meta.get("probe_plan") or {}
    if not isinstance(plan, dict):
        return {"plan": None, "missing": {}, "note": "probe_plan in the recording is malformed"}
    missing = {p: (v or {}).get("reason") for p, v in plan.items()
               if not isinstance(v, dict) or v.get("status") != "attached"}
    return {"plan": plan, "missing": missing, "recorded_kinds": meta.get("recorded_kinds")}


def tracepoint_formats(kinds: Iterable[str], plan: dict[str, Any] | None = None,
                       roots: Iterable[str] = TRACEFS_ROOTS) -> dict[str, Any]:
    """{"system/event": format text} for the recorded tracepoint kinds, plus what was unreadable."""
    wanted = sorted({tp for k in kinds for tp in KIND_TRACEPOINTS.get(k, ())} |
                    {tp for p in (plan or {}) for tp in plan_tracepoints(p)})
    root = next((r for r in roots if os.path.isdir(os.path.join(r, "events"))), None)
    if root is None:
        return {"root": None, "formats": {}, "unreadable": {w: "no tracefs mounted" for w in wanted}}
    formats, unreadable = {}, {}
    for tp in wanted:
        text, why = read_small(os.path.join(root, "events", tp, "format"))
        if text is None:
            unreadable[tp] = why
        else:
            formats[tp] = text
    return {"root": root, "formats": formats, "unreadable": unreadable}


def plan_tracepoints(probe: str) -> list[str]:
    """'tracepoint:lock:contention_begin+contention_end' or 'lock:contention_begin' ->
    ['lock/contention_begin', ...]; anything else (kprobes, maps) -> []."""
    name = re.sub(r"\(.*\)$", "", probe.removeprefix("tracepoint:"))
    m = re.fullmatch(r"([a-z0-9_]+):([a-z0-9_+]+)", name)
    if not m or probe.startswith(("kprobe:", "kretprobe:", "fentry:", "fexit:")):
        return []
    events = [ev for ev in m.group(2).split("+") if ev]
    # 'x_start+end' is shorthand for x_start and x_end
    events = events[:1] + [ev if "_" in ev or "_" not in events[0] else
                           f"{events[0].rsplit('_', 1)[0]}_{ev}" for ev in events[1:]]
    return [f"{m.group(1)}/{ev}" for ev in events]


def collect(meta: dict[str, Any], recorded: Iterable[str]) -> dict[str, Any]:
    """The environment part of a bundle (the formats are stored as separate parts)."""
    u = os.uname()
    return {
        "bundled_on": {"kernel_release": u.release, "kernel_version": u.version,
                       "machine": u.machine, "hostname": platform.node()},
        "recorded_on": {k: meta.get(k) for k in ("kernel_release", "kernel_version", "machine",
                                                 "hostname", "driver", "source", "synthetic",
                                                 "scenario", "tool_version", "command")},
        "same_machine": meta.get("kernel_release") == u.release and
        meta.get("hostname") == platform.node(),
        "kernel_config": kernel_config_lines(u.release),
        "msm_parameters": msm_parameters(),
        "gpu_names": gpu_names(),
        "attach_plan": attach_plan(meta),
        "recorded_kinds": sorted(recorded),
        "tool_versions": tool_versions(),
        "command_line": sys.argv,
    }
