"""gemscope's kprobe_events for the tracefs backend (probe catalog section 5.3, $argN fetch-args
that work on arm64 and x86-64). Targets are module-qualified (`msm:purge`) through the probes
layer's kallsyms resolution, so ambiguous static names are never refused by the kernel."""
from __future__ import annotations

from dataclasses import dataclass

from probes.kallsyms import Kallsyms
from probes.plan import lru_scan_layout


@dataclass(frozen=True)
class KprobeDef:
    event: str            # event name inside the gemscope_<pid> group
    kind: str             # "p" or "r"
    target: str           # symbol base name
    modules: tuple        # where it may live (None = vmlinux)
    fetch: str            # fetch-args
    produces: str         # schema kind
    min_version: tuple = (0, 0)
    extra: str = ""       # fetch-args the mapping can do without (caller, sizes): when the
                          # kernel refuses the line with them, it is written without


MSM, DRM, CORE = ("msm",), ("drm", None), (None,)


def caller_fetch(arch: str | None) -> str:
    """The caller's return address at function entry: the word at the stack pointer on x86-64,
    the link register on arm64 (catalog 2.3); nothing elsewhere. Only for a function without a
    kretprobe: a kretprobe's entry handler may already have put its trampoline there (the guest's
    6.12 read `arch_rethook_trampoline`), and its return event carries the real return address
    (mapping.py takes callers from there)."""
    if arch == "x86_64":
        return "caller=$stack0:x64"
    if arch in ("aarch64", "arm64"):
        return "caller=%x30:x64"
    return ""


def _off(n: int) -> str:
    return f"+{n}" if n >= 0 else f"-{-n}"


def definitions(version: tuple[int, int], arch: str | None = None,
                offsets: dict[str, int] | None = None,
                lru_params: tuple[str, ...] | None = None) -> list[KprobeDef]:
    """The kprobes for this kernel. `offsets` are drm_gem_object member offsets from BTF
    (probes.btf.kernel_offsets): with them lock calls tell an object's own reservation from
    other ww_mutexes, and a free, a last put and a trylock read the object's size;
    `lru_params` are drm_gem_lru_scan's parameter names (BTF), which place its arguments
    (probes.plan.lru_scan_layout)."""
    off = offsets or {}
    caller = caller_fetch(arch)
    size = f"size={_off(off['drm_gem_object.size'])}($arg1):u64" \
        if "drm_gem_object.size" in off else ""
    # a ww_mutex that is a GEM object's own reservation is &obj->_resv, and the object's resv
    # pointer (read relative to the lock as `back`) points back at it: the mapping keeps only
    # those (crtc / regulator ww_mutexes are not reservations), and a trylock also reads the size
    own = size_rel = ""
    if {"drm_gem_object.resv", "drm_gem_object._resv"} <= set(off):
        base = off["drm_gem_object._resv"]
        own = f"back={_off(off['drm_gem_object.resv'] - base)}($arg1):x64"
        if "drm_gem_object.size" in off:
            size_rel = f"size={_off(off['drm_gem_object.size'] - base)}($arg1):u64 "
    lay = lru_scan_layout(version, lru_params) or lru_scan_layout(max(version, (6, 1)))
    # *remaining is only written during the call (msm gives each stage its own counter, zero
    # at entry) and a kretprobe cannot read the pointer: the tracefs backend leaves it unknown
    lru_fetch = f"lru=$arg{lay['LRU']} nr=$arg{lay['NR']}:u32"
    if lay["REMAINING"]:
        lru_fetch += f" rem=$arg{lay['REMAINING']}:x64"
    lru_fetch += f" fn=$arg{lay['SHRINK']}:symbol"
    lock_fetch = "lock=$arg1 ctx=$arg2 owner=+0($arg1):x64"
    return [
        KprobeDef("free", "p", "msm_gem_free_object", MSM, "obj=$arg1", "free", extra=size),
        KprobeDef("free_r", "r", "msm_gem_free_object", MSM, "", "free"),
        KprobeDef("lastput", "p", "drm_gem_object_free", DRM, "obj=$arg1", "last_put",
                  extra=f"{size} {caller}".strip()),
        KprobeDef("scan", "p", "msm_gem_shrinker_scan", MSM, "nr=+8($arg2):u64 gfp=+0($arg2):x32",
                  "shrink_scan"),
        KprobeDef("scan_r", "r", "msm_gem_shrinker_scan", MSM, "freed=$retval:s64", "shrink_scan"),
        KprobeDef("count", "p", "msm_gem_shrinker_count", MSM, "", "shrink_count"),
        KprobeDef("count_r", "r", "msm_gem_shrinker_count", MSM, "cnt=$retval:u64", "shrink_count"),
        KprobeDef("lru", "p", "drm_gem_lru_scan", DRM, lru_fetch, "lru_scan", (6, 1)),
        KprobeDef("lru_r", "r", "drm_gem_lru_scan", DRM, "freed=$retval:u64", "lru_scan", (6, 1)),
        KprobeDef("try", "p", "ww_mutex_trylock", CORE, lock_fetch, "resv_trylock", (6, 1),
                  extra=size_rel + own),
        KprobeDef("try_r", "r", "ww_mutex_trylock", CORE, "ok=$retval:s32", "resv_trylock", (6, 1)),
        KprobeDef("lock", "p", "ww_mutex_lock", CORE, lock_fetch, "resv_lock", extra=own),
        KprobeDef("lock_r", "r", "ww_mutex_lock", CORE, "ret=$retval:s32", "resv_lock"),
        KprobeDef("locki", "p", "ww_mutex_lock_interruptible", CORE, lock_fetch, "resv_lock",
                  extra=own),
        KprobeDef("locki_r", "r", "ww_mutex_lock_interruptible", CORE, "ret=$retval:s32",
                  "resv_lock"),
        # hold times: acquisition .. unlock (a ww_mutex_unlock per lock call; those of other
        # ww_mutexes are dropped in the mapping)
        KprobeDef("unlock", "p", "ww_mutex_unlock", CORE, "lock=$arg1", "resv_hold"),
        KprobeDef("wait", "p", "dma_resv_wait_timeout", CORE, "resv=$arg1 tmo=$arg4:s64",
                  "fence_wait"),
        KprobeDef("wait_r", "r", "dma_resv_wait_timeout", CORE, "ret=$retval:s64", "fence_wait"),
    ]


def kprobe_line(group: str, d: KprobeDef, attach_name: str, extra: bool = True) -> str:
    head = f"{d.kind}:{group}/{d.event} {attach_name}"
    return " ".join(x for x in (head, d.fetch, d.extra if extra else "") if x) + "\n"


def plan_kprobes(version: tuple[int, int], kallsyms: Kallsyms | None,
                 has_kprobe_events: bool, arch: str | None = None,
                 offsets: dict[str, int] | None = None, lru_params: tuple[str, ...] | None = None
                 ) -> list[tuple[KprobeDef, str | None, str | None]]:
    """(definition, attach name or None, reason when None) for every kprobe."""
    out = []
    for d in definitions(version, arch, offsets, lru_params):
        if not has_kprobe_events:
            out.append((d, None, "no kprobe_events in tracefs (CONFIG_KPROBE_EVENTS off or "
                                 "dynamic events unavailable on this kernel)"))
            continue
        if version < d.min_version:
            out.append((d, None, f"{d.target} is not probed before v{d.min_version[0]}."
                                 f"{d.min_version[1]}"))
            continue
        if kallsyms is None:
            out.append((d, None, "/proc/kallsyms unreadable"))
            continue
        res = kallsyms.resolve(d.target, d.modules)
        if res.symbol is None:
            out.append((d, None, res.reason))
        else:
            out.append((d, res.symbol.attach_name, None))
    return out


def kprobe_events_text(version: tuple[int, int], kallsyms: Kallsyms | None, arch: str | None,
                       offsets: dict[str, int] | None, lru_params: tuple[str, ...] | None,
                       group: str = "gemscope") -> str:
    """The kprobe_events lines `record --backend ftrace` writes on this kernel, for a maintainer
    to write by hand (`>> /sys/kernel/tracing/kprobe_events`); a missing probe is a comment."""
    out = []
    for d, attach, reason in plan_kprobes(version, kallsyms, True, arch, offsets, lru_params):
        out.append(kprobe_line(group, d, attach) if attach else
                   f"# {d.kind}:{group}/{d.event} {d.target}: not on this kernel ({reason})\n")
    return "".join(out)
