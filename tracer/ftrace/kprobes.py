"""gemscope's kprobe_events for the tracefs backend (probe catalog section 5.3, $argN fetch-args
that work on arm64 and x86-64). Targets are module-qualified (`msm:purge`) through the probes
layer's kallsyms resolution, so ambiguous static names are never refused by the kernel."""
from __future__ import annotations

from dataclasses import dataclass

from probes.kallsyms import Kallsyms


@dataclass(frozen=True)
class KprobeDef:
    event: str            # event name inside the gemscope_<pid> group
    kind: str             # "p" or "r"
    target: str           # symbol base name
    modules: tuple        # where it may live (None = vmlinux)
    fetch: str            # fetch-args
    produces: str         # schema kind
    min_version: tuple = (0, 0)


MSM, DRM, CORE = ("msm",), ("drm", None), (None,)


def definitions(version: tuple[int, int]) -> list[KprobeDef]:
    lru_fetch = ("lru=$arg1 nr=$arg2:u32 fn=$arg3:symbol" if version < (6, 6) else
                 "lru=$arg1 nr=$arg2:u32 rem=$arg3:x64 fn=$arg4:symbol")
    return [
        KprobeDef("free", "p", "msm_gem_free_object", MSM, "obj=$arg1", "free"),
        KprobeDef("free_r", "r", "msm_gem_free_object", MSM, "", "free"),
        KprobeDef("lastput", "p", "drm_gem_object_free", DRM, "obj=$arg1", "last_put"),
        KprobeDef("scan", "p", "msm_gem_shrinker_scan", MSM, "nr=+8($arg2):u64 gfp=+0($arg2):x32",
                  "shrink_scan"),
        KprobeDef("scan_r", "r", "msm_gem_shrinker_scan", MSM, "freed=$retval:s64", "shrink_scan"),
        KprobeDef("count", "p", "msm_gem_shrinker_count", MSM, "", "shrink_count"),
        KprobeDef("count_r", "r", "msm_gem_shrinker_count", MSM, "cnt=$retval:u64", "shrink_count"),
        KprobeDef("lru", "p", "drm_gem_lru_scan", DRM, lru_fetch, "lru_scan", (6, 1)),
        KprobeDef("lru_r", "r", "drm_gem_lru_scan", DRM, "freed=$retval:u64", "lru_scan", (6, 1)),
        KprobeDef("try", "p", "ww_mutex_trylock", CORE, "lock=$arg1 ctx=$arg2 owner=+0($arg1):x64",
                  "resv_trylock", (6, 1)),
        KprobeDef("try_r", "r", "ww_mutex_trylock", CORE, "ok=$retval:s32", "resv_trylock", (6, 1)),
        KprobeDef("lock", "p", "ww_mutex_lock", CORE, "lock=$arg1 ctx=$arg2 owner=+0($arg1):x64",
                  "resv_lock"),
        KprobeDef("lock_r", "r", "ww_mutex_lock", CORE, "ret=$retval:s32", "resv_lock"),
        KprobeDef("wait", "p", "dma_resv_wait_timeout", CORE, "resv=$arg1 tmo=$arg4:s64",
                  "fence_wait"),
        KprobeDef("wait_r", "r", "dma_resv_wait_timeout", CORE, "ret=$retval:s64", "fence_wait"),
    ]


def kprobe_line(group: str, d: KprobeDef, attach_name: str) -> str:
    head = f"{d.kind}:{group}/{d.event} {attach_name}"
    return f"{head} {d.fetch}".rstrip() + "\n"


def plan_kprobes(version: tuple[int, int], kallsyms: Kallsyms | None,
                 has_kprobe_events: bool) -> list[tuple[KprobeDef, str | None, str | None]]:
    """(definition, attach name or None, reason when None) for every kprobe."""
    out = []
    for d in definitions(version):
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
