"""What this machine allows: the facts the attach plan and `gemscope doctor` are built on.

Each check returns a `Check(ok, what, fix)`; `fix` is the exact command that closes the gap.
Nothing here imports BCC at module level (doctor must work when BCC is missing).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from probes.plan import Features, kernel_version

from ..errors import GemscopeError

TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
BCC_FIX = ("apt-get install python3-bpfcc bpfcc-tools, then make the venv see it: "
           "python3 -m venv --system-site-packages .venv (or scripts/setup.sh --test)")
HEADERS_FIX_HINT = "export BCC_KERNEL_SOURCE=$(tests/kernel/rig/headers.sh 6.12)"


class SetupError(GemscopeError):
    """This machine cannot trace yet; the message names the fix."""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def require_root() -> None:
    if os.geteuid() != 0:
        raise SetupError("live tracing needs root (BPF, tracefs): run it with sudo, e.g. "
                         "sudo .venv/bin/gemscope record -d 10")


def import_bcc():
    """Import BCC or raise one actionable line."""
    try:
        import bcc  # noqa: F401
        from bcc import BPF
    except ImportError:
        raise SetupError(f"BCC (python3-bpfcc) is not importable: {BCC_FIX}") from None
    if not hasattr(bcc, "BPF"):
        raise SetupError("the 'bcc' module found is not BCC (PyPI's unrelated 'bcc' package?): "
                         f"pip uninstall bcc; {BCC_FIX}")
    return BPF


def tracefs_path() -> str | None:
    for p in TRACEFS_CANDIDATES:
        if os.path.isdir(os.path.join(p, "events")):
            return p
    return None


def ensure_tracefs() -> str:
    """The tracefs mount, mounting it at /sys/kernel/tracing when it is not (root only)."""
    p = tracefs_path()
    if p:
        return p
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"nodev", b"/sys/kernel/tracing", b"tracefs", 0, None) == 0:
            return "/sys/kernel/tracing"
    except OSError:
        pass
    raise SetupError("tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing")


def tracepoints(tracefs: str | None) -> frozenset[str]:
    if not tracefs:
        return frozenset()
    out = set()
    events = os.path.join(tracefs, "events")
    for cat in os.listdir(events):
        d = os.path.join(events, cat)
        if not os.path.isdir(d):
            continue
        for ev in os.listdir(d):
            if os.path.isdir(os.path.join(d, ev)):
                out.add(f"{cat}:{ev}")
    return frozenset(out)


def kprobes_status(tracefs: str | None) -> tuple[bool, str]:
    pmu = os.path.isdir("/sys/bus/event_source/devices/kprobe")
    events = bool(tracefs) and os.path.exists(os.path.join(tracefs, "kprobe_events"))
    if pmu or events:
        return True, "kprobe PMU" if pmu else "kprobe_events"
    return False, ("no kprobe PMU (/sys/bus/event_source/devices/kprobe) and no kprobe_events: "
                   "the kernel is built without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS")


def headers_info(release: str) -> tuple[bool, bool, str]:
    """(available, match the running kernel, description) for the headers BCC will use."""
    src = os.environ.get("BCC_KERNEL_SOURCE")
    if src:
        rel = _read(os.path.join(src, "include/config/kernel.release"))
        if not os.path.isdir(os.path.join(src, "include")):
            return False, False, f"BCC_KERNEL_SOURCE={src} has no include/ directory"
        return True, rel == release, f"BCC_KERNEL_SOURCE={src} (headers of {rel or '?'})"
    build = f"/lib/modules/{release}/build"
    if os.path.isdir(os.path.join(build, "include")):
        return True, True, f"{build}"
    if os.path.exists("/sys/kernel/kheaders.tar.xz"):
        return True, True, "/sys/kernel/kheaders.tar.xz (CONFIG_IKHEADERS)"
    return False, False, f"no headers for {release} (/lib/modules/{release}/build missing)"


def headers_fix(release: str) -> str:
    return (f"apt-get install linux-headers-{release}, or for tracepoint-only tracing with "
            f"Debian's headers: {HEADERS_FIX_HINT}")


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def gather() -> Features:
    """The running kernel's features, for the plan (tracefs must be mounted already)."""
    release = os.uname().release
    tfs = tracefs_path()
    kp, detail = kprobes_status(tfs)
    _, match, _ = headers_info(release)
    from probes.btf import kernel_offsets
    offsets, lru_params = kernel_offsets()
    # GEMSCOPE_PERF_BUFFER=1 forces the perf-buffer path (kernels < 5.8 use it; tests use this)
    ringbuf = kernel_version(release) >= (5, 8) and not os.environ.get("GEMSCOPE_PERF_BUFFER")
    fentry_funcs, fentry_detail = fentry_status(ringbuf)
    return Features(release=release, kprobes=kp, ringbuf=ringbuf,
                    tracepoints=tracepoints(tfs), fentry=bool(fentry_funcs),
                    fentry_funcs=fentry_funcs, fentry_detail=fentry_detail,
                    headers_match=match, kprobes_detail=None if kp else detail,
                    offsets=tuple(sorted(offsets.items())), lru_scan_params=lru_params)


def fentry_status(ringbuf: bool) -> tuple[frozenset[str], str | None]:
    """The catalog's fentry-capable functions where a test fentry program loads here, or why
    none. GEMSCOPE_NO_FENTRY=1 keeps every kernel function on kprobes (tests, comparisons)."""
    if os.environ.get("GEMSCOPE_NO_FENTRY"):
        return frozenset(), "disabled by GEMSCOPE_NO_FENTRY"
    if not ringbuf:
        return frozenset(), "fentry is used only with the BPF ring buffer (kernel >= 5.8)"
    if os.geteuid() != 0:
        return frozenset(), "not tested (needs root)"
    from probes.catalog import SPECS
    from .fentry_probe import fentry_functions
    names = list(dict.fromkeys(s.target for s in SPECS if s.fentry))
    return fentry_functions(names)


def msm_present() -> bool:
    return os.path.isdir("/sys/module/msm")


def modules_signature() -> tuple[str, ...]:
    """The loaded modules that matter to the plan (to notice msm/drm loading after start)."""
    return tuple(m for m in ("drm", "msm") if os.path.isdir(f"/sys/module/{m}"))


_RELEASE = re.compile(r"^\d+\.\d+")


def compile_bpf(BPF, text: str, cflags: list[str] | None = None):
    """BPF(text=...) with clang's diagnostics captured instead of spilled on the terminal.

    BCC's clang writes straight to fd 2; a failure becomes one SetupError line that quotes the
    first `error:` line of that output."""
    import tempfile
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            return BPF(text=text, cflags=["-w", *(cflags or [])])
        except Exception as e:
            os.dup2(saved, 2)
            log.seek(0)
            lines = log.read().decode(errors="replace").splitlines()
            # clang's diagnostics, else the kernel's refusal as libbpf/BCC printed it
            errs = [ln for ln in lines if "error:" in ln] or \
                [ln for ln in lines if ln.startswith("bpf: Failed to load program")]
            first = errs[0].strip() if errs else str(e).strip().splitlines()[0]
            raise SetupError(f"BCC could not build the BPF program: {first[:200]}") from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
