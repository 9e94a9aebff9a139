"""The attach plan: which probes of the catalog attach on THIS kernel, which do not and why, the
-D flags that compile exactly the attachable parts, and which questions stay unanswerable.

Pure: it takes the kernel's facts (`Features`, kallsyms text) and returns a `Plan`; the live source
gathers the facts and does the attaching, then marks entries that failed at attach time.

Fallback ladder per kernel function: fentry where a tracing program loads AND the program has an
fentry variant for that point, else kprobe/kretprobe, else the point is missing and only the
tracepoint parts run. (The combined program has no fentry variants yet, so today the ladder ends
at kprobes; see `method_for`.)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .catalog import QUESTIONS, SPECS, ProbeSpec
from .kallsyms import Kallsyms

KPROBES_UNAVAILABLE = "kprobes unavailable"
DEFAULT_UNCONTENDED_NS = 0   # stream every resv lock by default (exact counts); opt in to aggregate


@dataclass(frozen=True)
class Features:
    """Facts about the running kernel that decide the plan (gathered by tracer/live/features)."""
    release: str
    kprobes: bool
    ringbuf: bool
    tracepoints: frozenset[str]           # "category:event" present in tracefs
    fentry: bool = False
    headers_match: bool = False           # BCC compiles against this kernel's own headers
    lru_scan_params: tuple[str, ...] | None = None   # drm_gem_lru_scan parameter names (BTF)
    kprobes_detail: str | None = None     # why kprobes are unavailable, for doctor
    offsets: tuple[tuple[str, int], ...] = ()   # ("task_struct.pid", 1264) ... from BTF


@dataclass
class Entry:
    spec: ProbeSpec
    status: str                  # attached | missing | failed (attached = planned until attach)
    reason: str | None = None
    target: str | None = None    # attach target for kprobes (MOD:SYM), or the event
    addr: int | None = None
    applicable: bool = True      # False: not used on this kernel version at all


@dataclass
class Plan:
    version: tuple[int, int]
    entries: dict[str, Entry]
    defines: dict[str, Any] = field(default_factory=dict)
    lru_scan_layout: dict[str, int] | None = None

    def mark_failed(self, name: str, reason: str) -> None:
        e = self.entries[name]
        e.status, e.reason = "failed", reason

    def attachable(self, method: str | None = None) -> list[Entry]:
        return [e for e in self.entries.values() if e.status == "attached"
                and e.spec.method != "address" and (method is None or e.spec.method == method)]

    def recorded_kinds(self) -> list[str]:
        """A kind is recorded when every applicable probe that produces it is attached."""
        by_kind: dict[str, list[Entry]] = {}
        for e in self.entries.values():
            if not e.applicable:
                continue
            for k in e.spec.kinds:
                by_kind.setdefault(k, []).append(e)
        kinds = [k for k, es in by_kind.items() if all(e.status == "attached" for e in es)]
        kinds += ["lost", "stack", "probe_status"]
        return sorted(set(kinds))

    def to_meta(self) -> dict[str, dict[str, Any]]:
        return {name: {"status": e.status, "reason": e.reason, "kinds": list(e.spec.kinds),
                       "target": e.target}
                for name, e in self.entries.items()}

    def unanswerable(self) -> dict[str, str]:
        """Question id -> why it cannot be answered with this plan."""
        have = set(self.recorded_kinds())
        out = {}
        for q, (title, alternatives) in QUESTIONS.items():
            if not any(set(alt) <= have for alt in alternatives):
                need = " or ".join("+".join(a) for a in alternatives)
                out[q] = f"{title}: needs {need}"
        return out


def kernel_version(release: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def lru_scan_layout(version: tuple[int, int],
                    params: tuple[str, ...] | None = None) -> dict[str, int] | None:
    """1-based argument positions of drm_gem_lru_scan (catalog 3.B B5); 0 = no such argument.

    BTF parameter names win when known: they catch the 2026 `dev`-first signature, and stable
    backports: Debian's 6.1.0-56 (6.1.192) already has `remaining` (seen in its drm BTF in the
    QEMU guest), which the release rule gets wrong. Without BTF: 6.1-6.5 (lru, nr, shrink);
    6.6-6.18 (lru, nr, remaining, shrink); 6.19+ (lru, nr, remaining, shrink, ticket)."""
    if params:
        pos = {name: i + 1 for i, name in enumerate(params)}
        if "lru" not in pos or "shrink" not in pos:
            return None
        return {"LRU": pos["lru"], "NR": pos.get("nr_to_scan", pos["lru"] + 1),
                "SHRINK": pos["shrink"], "REMAINING": pos.get("remaining", 0),
                "TICKET": pos.get("ticket", 0)}
    if version < (6, 1):
        return None
    if version < (6, 6):
        return {"LRU": 1, "NR": 2, "SHRINK": 3, "REMAINING": 0, "TICKET": 0}
    if version < (6, 19):
        return {"LRU": 1, "NR": 2, "SHRINK": 4, "REMAINING": 3, "TICKET": 0}
    return {"LRU": 1, "NR": 2, "SHRINK": 4, "REMAINING": 3, "TICKET": 5}


def method_for(spec: ProbeSpec, features: Features) -> str | None:
    """The rung of the ladder a kernel-function probe uses, or None when none is available."""
    if spec.method not in ("kprobe", "kretprobe"):
        return spec.method
    # fentry would go here (features.fentry and an fentry variant of spec.fn); none exist yet.
    return spec.method if features.kprobes else None


def make_plan(features: Features, kallsyms: Kallsyms, *,
              uncontended_ns: int = DEFAULT_UNCONTENDED_NS) -> Plan:
    version = kernel_version(features.release)
    entries: dict[str, Entry] = {}
    for spec in SPECS:
        entries[spec.name] = _plan_one(spec, version, features, kallsyms)
    _pair_tracepoints(entries)
    plan = Plan(version, entries)
    _needs_retire_address(plan)
    plan.defines = _defines(plan, features, uncontended_ns)
    return plan


def _plan_one(spec: ProbeSpec, version, features: Features, ks: Kallsyms) -> Entry:
    if not (spec.min_version <= version <= spec.max_version):
        rng = f">= {spec.min_version[0]}.{spec.min_version[1]}" if version < spec.min_version \
            else f"<= {spec.max_version[0]}.{spec.max_version[1]}"
        return Entry(spec, "missing", f"not used on {version[0]}.{version[1]} (only {rng})",
                     applicable=False)
    if spec.method in ("tracepoint", "raw_tracepoint"):
        if spec.target not in features.tracepoints:
            return Entry(spec, "missing", f"tracepoint {spec.target} absent", target=spec.target)
        return Entry(spec, "attached", None, target=spec.target)
    if spec.method in ("kprobe", "kretprobe") and method_for(spec, features) is None:
        return Entry(spec, "missing", KPROBES_UNAVAILABLE)
    res = ks.resolve(spec.target, spec.modules)
    if res.symbol is None:
        return Entry(spec, "missing", res.reason)
    reason = None
    if res.candidates > 1:
        reason = f"{res.candidates} clones of {spec.target}; using {res.symbol.name}"
    return Entry(spec, "attached", reason, target=res.symbol.attach_name, addr=res.symbol.addr)


def _pair_tracepoints(entries: dict[str, Entry]) -> None:
    """begin/end pairs compile and attach together: if one half is absent, so is the other."""
    groups: dict[str, list[Entry]] = {}
    for e in entries.values():
        if e.spec.method in ("tracepoint", "raw_tracepoint") and e.spec.fn is None and e.applicable:
            groups.setdefault(e.spec.define, []).append(e)
    for es in groups.values():
        absent = [e for e in es if e.status != "attached"]
        if absent:
            for e in es:
                if e.status == "attached":
                    e.status = "missing"
                    e.reason = f"its pair {absent[0].spec.target} is absent"


def _needs_retire_address(plan: Plan) -> None:
    """The kthread_work tracepoints are useful only to time msm's retire_worker."""
    addr = plan.entries["address:msm:retire_worker"]
    if addr.status != "attached":
        for e in plan.entries.values():
            if e.spec.define == "GS_TP_KTHREAD_WORK" and e.status == "attached":
                e.status = "missing"
                e.reason = f"needs the address of msm:retire_worker ({addr.reason})"


def _defines(plan: Plan, features: Features, uncontended_ns: int) -> dict[str, Any]:
    d: dict[str, Any] = {}
    ok = {name for name, e in plan.entries.items() if e.status == "attached"}
    if features.ringbuf:
        d["GS_RINGBUF"] = True
    off = dict(features.offsets)
    task = [off.get(f"task_struct.{m}") for m in ("flags", "pid", "comm")]
    if None not in task:
        d["GS_OFF_TASK_FLAGS"], d["GS_OFF_TASK_PID"], d["GS_OFF_TASK_COMM"] = task
    elif features.headers_match:
        d["GS_TASK_OFFSETS"] = True
    for e in plan.entries.values():
        if e.status != "attached":
            continue
        if e.spec.method == "address":
            d[e.spec.define] = e.addr
        elif e.spec.define:
            d[e.spec.define] = True
    if any(e.spec.method in ("kprobe", "kretprobe") for e in plan.attachable()):
        d["GS_KPROBES"] = True
    else:
        d.pop("GS_MSM", None)
    if "GS_MSM" in d and "drm_gem_object.size" in off and "drm_gem_object.resv" in off:
        d["GS_OFF_OBJ_SIZE"] = off["drm_gem_object.size"]
        d["GS_OFF_OBJ_RESV"] = off["drm_gem_object.resv"]
        if "drm_gem_object.lru" in off:
            d["GS_OFF_OBJ_LRU"] = off["drm_gem_object.lru"]
        if "drm_gem_object._resv" in off:   # resv -> object for trylock failures (catalog 2.2)
            d["GS_OFF_OBJ__RESV"] = off["drm_gem_object._resv"]
    elif "GS_MSM" in d and features.headers_match:
        d["GS_MSM_HEADERS"] = True
        if plan.version >= (6, 1):
            d["GS_OBJ_HAS_LRU"] = True
    if "kretprobe:drm:drm_gem_lru_scan" in ok or "kprobe:drm:drm_gem_lru_scan" in ok:
        layout = lru_scan_layout(plan.version, features.lru_scan_params)
        plan.lru_scan_layout = layout
        if layout:
            for k, v in layout.items():
                d[f"GS_LRU_ARG_{k}"] = v
        else:
            for name in ("kprobe:drm:drm_gem_lru_scan", "kretprobe:drm:drm_gem_lru_scan"):
                plan.entries[name].status = "missing"
                plan.entries[name].reason = "unknown drm_gem_lru_scan signature on this kernel"
    if "kprobe:dma_resv_init" not in ok:
        d["GS_CONTENTION_ALL"] = True   # no registry to tell reservations apart: stream all
    d["GS_UNCONTENDED_NS"] = uncontended_ns
    return d
