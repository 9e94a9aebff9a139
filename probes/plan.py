"""The attach plan: which probes of the catalog attach on THIS kernel, which do not and why, the
-D flags that compile exactly the attachable parts, and which questions stay unanswerable.

Pure: it takes the kernel's facts (`Features`, kallsyms text) and returns a `Plan`; the live source
gathers the facts and does the attaching, then marks entries that failed at attach time.

Fallback ladder per kernel function (`rung_for`): fentry/fexit where the program has a
KFUNC_PROBE front-end for the function, it is a vmlinux function (BCC 0.26 resolves fentry targets
in vmlinux BTF only) and a test fentry program loaded on it (tracer/live/fentry_probe.py), else
kprobe/kretprobe, else the point is missing and only the tracepoint parts run. Each entry records
its rung (`method`) and why it is not on the one above (`method_reason`).
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
    fentry: bool = False                  # a test fentry program loads on some function
    fentry_funcs: frozenset[str] = frozenset()   # vmlinux functions where it loads
    fentry_detail: str | None = None      # why fentry is unavailable, for the plan and doctor
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
    method: str | None = None    # the rung used: fentry | fexit | kprobe | kretprobe | tracepoint...
    method_reason: str | None = None   # why not the rung above (kernel functions only)


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
        """Entries to attach, by the rung they use (`method`: kprobe, fentry, ...)."""
        return [e for e in self.entries.values() if e.status == "attached"
                and e.spec.method != "address" and (method is None or e.method == method)]

    def fentry_entries(self) -> list[Entry]:
        return [e for e in self.entries.values()
                if e.status == "attached" and e.method in ("fentry", "fexit")]

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
                       "target": e.target, "method": e.method,
                       "method_reason": e.method_reason}
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


FENTRY_RUNG = {"kprobe": "fentry", "kretprobe": "fexit"}


def fentry_refusal(spec: ProbeSpec, features: Features, symbol) -> str | None:
    """Why this kernel-function probe cannot use fentry/fexit (None: it can). `symbol` is the
    kallsyms resolution (None when the symbol was not found)."""
    if not spec.fentry:
        return "the program has no fentry front-end for this function"
    if not features.fentry:
        return features.fentry_detail or "fentry unavailable"
    if symbol is None:
        return "symbol not found"
    if symbol.module:
        return (f"{symbol.module} module function: BCC 0.26 attaches fentry to vmlinux "
                "functions only")
    if symbol.name != spec.target:
        return f"only the compiler clone {symbol.name} exists"
    if spec.target not in features.fentry_funcs:
        return features.fentry_detail or f"a test fentry program did not load on {spec.target}"
    return None


def rung_for(spec: ProbeSpec, features: Features, symbol=None) -> tuple[str | None, str | None]:
    """(the rung of the ladder a probe uses or None when none is available, why not higher)."""
    if spec.method not in ("kprobe", "kretprobe"):
        return spec.method, None
    why = fentry_refusal(spec, features, symbol)
    if why is None:
        return FENTRY_RUNG[spec.method], None
    return (spec.method if features.kprobes else None), f"no fentry: {why}"


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
            return Entry(spec, "missing", f"tracepoint {spec.target} absent", target=spec.target,
                         method=spec.method)
        return Entry(spec, "attached", None, target=spec.target, method=spec.method)
    if spec.method == "address":
        res = ks.resolve(spec.target, spec.modules)
        if res.symbol is None:
            return Entry(spec, "missing", res.reason)
        return Entry(spec, "attached", _clones(spec, res), target=res.symbol.attach_name,
                     addr=res.symbol.addr, method="address")
    if not spec.fentry and not features.kprobes:
        return Entry(spec, "missing", KPROBES_UNAVAILABLE,
                     method_reason=f"no fentry: {fentry_refusal(spec, features, None)}")
    res = ks.resolve(spec.target, spec.modules)
    rung, why = rung_for(spec, features, res.symbol)
    if rung is None:
        return Entry(spec, "missing", KPROBES_UNAVAILABLE, method_reason=why)
    if res.symbol is None:
        return Entry(spec, "missing", res.reason, method=rung, method_reason=why)
    return Entry(spec, "attached", _clones(spec, res), target=res.symbol.attach_name,
                 addr=res.symbol.addr, method=rung, method_reason=why)


def _clones(spec: ProbeSpec, res) -> str | None:
    if res.candidates > 1:
        return f"{res.candidates} clones of {spec.target}; using {res.symbol.name}"
    return None


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
        elif e.spec.define and e.spec.define != "GS_KPROBES":   # GS_KPROBES: decided below
            d[e.spec.define] = True
    if any(e.method in ("kprobe", "kretprobe") for e in plan.attachable()):
        d["GS_KPROBES"] = True
    else:
        d.pop("GS_MSM", None)
    for e in plan.fentry_entries():
        d["GS_FENTRY"] = True
        d[f"GS_FENTRY_{e.spec.target}"] = True
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
