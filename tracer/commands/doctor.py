"""`gemscope doctor`: what this machine allows for live tracing, each gap with its fix."""
from __future__ import annotations

import json
import os

from ..live import features as feat
from ..live.features import Check

KPROBE_FIX = ("a kernel built with CONFIG_KPROBES=y CONFIG_KPROBE_EVENTS=y; where the host kernel "
              "cannot change, run the QEMU guest tier: tests/kernel/rig/setup.sh")
MSM_FIX = ("modprobe msm (Qualcomm Snapdragon with an Adreno GPU only); on x86 use the guest "
           "tier's test module: tests/kernel/rig/setup.sh")


def register(sub) -> None:
    p = sub.add_parser(
        "doctor", help="check what this machine allows for live tracing, with fixes",
        description="Checks root, BCC, tracefs, kernel headers, BTF, kprobes (with a test "
                    "attach), fentry (with a test load), the BPF ring buffer, taskstats, the msm "
                    "driver and which msm/drm symbols and probes will attach. Every gap is "
                    "printed with the exact command that fixes it. Exit status 1 when a gap "
                    "exists.",
        epilog="examples:\n  sudo gemscope doctor\n  sudo gemscope doctor --json",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def checks() -> list[Check]:
    out: list[Check] = []
    release = os.uname().release
    root = os.geteuid() == 0
    out.append(Check("root", root, "running as root" if root else "not root",
                     None if root else "run with sudo: sudo .venv/bin/gemscope doctor"))
    bpf = None
    try:
        bpf = feat.import_bcc()
        import bcc
        out.append(Check("bcc", True, f"BCC {getattr(bcc, '__version__', '?')} importable"))
    except feat.SetupError as e:
        out.append(Check("bcc", False, str(e).split(":")[0], feat.BCC_FIX))
    tfs = feat.tracefs_path()
    out.append(Check("tracefs", bool(tfs), f"mounted at {tfs}" if tfs else "not mounted",
                     None if tfs else "mount -t tracefs nodev /sys/kernel/tracing"))
    ok, match, desc = feat.headers_info(release)
    detail = desc + ("" if not ok else " (match the running kernel)" if match else
                     " (NOT this kernel's: fine for tracepoints; struct offsets come from BTF)")
    out.append(Check("kernel headers", ok, detail, None if ok else feat.headers_fix(release)))
    btf = os.path.exists("/sys/kernel/btf/vmlinux")
    detail = "no /sys/kernel/btf/vmlinux (lock holders and object sizes need matching headers)"
    if btf:
        from probes.btf import kernel_offsets
        offs, params = kernel_offsets()
        detail = ("/sys/kernel/btf/vmlinux: task_struct offsets " +
                  ("read (lock holders, PF_MEMALLOC)" if "task_struct.pid" in offs else "MISSING") +
                  ("; drm_gem_object offsets read" if "drm_gem_object.size" in offs else
                   "; no drm BTF (drm not loaded)") +
                  (f"; drm_gem_lru_scan({', '.join(params)})" if params else ""))
    out.append(Check("BTF", btf, detail, None if btf else "a kernel with CONFIG_DEBUG_INFO_BTF=y"))
    kp, kp_detail = feat.kprobes_status(tfs)
    if kp and bpf is not None and root and ok:
        kp, kp_detail = _try_load(bpf, "int p(struct pt_regs *ctx) { return 0; }",
                                  attach=("kprobe", "ww_mutex_unlock"))
    out.append(Check("kprobes", kp, kp_detail, None if kp else KPROBE_FIX))
    # fentry: a do-nothing trampoline program loaded and attached on each lock function the
    # program has an fentry front-end for (raw bpf(2): needs neither BCC nor headers)
    funcs, why = feat.fentry_status(True)
    fe = bool(funcs)
    fe_detail = (f"a test fentry program loads on {', '.join(sorted(funcs))}" if fe else why or
                 "unavailable")
    if bpf is not None and root and ok:
        rb, rb_detail = _try_load(bpf, "BPF_RINGBUF_OUTPUT(rb, 1);")
    else:
        rb, rb_detail = False, "not tested (needs root, BCC and headers)"
    out.append(Check("fentry", fe, fe_detail, None if fe else
                     "optional: gemscope uses kprobes where fentry cannot load (a kernel whose "
                     "BPF trampolines work, CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y)"))
    out.append(Check("ring buffer", rb, rb_detail, None if rb else
                     "a kernel >= 5.8 (gemscope falls back to a perf buffer)"))
    out.append(_taskstats_check(root))
    tps = feat.tracepoints(tfs)
    # every tracepoint the probe catalog uses, so this line and the probe plan's agree
    from probes.catalog import SPECS
    need = [s.target for s in SPECS if s.method in ("tracepoint", "raw_tracepoint")]
    missing = [t for t in need if t not in tps]
    out.append(Check("tracepoints", not missing,
                     f"{len(need) - len(missing)}/{len(need)} present" +
                     (f"; missing {', '.join(missing)}" if missing else ""),
                     None if not missing else (MSM_FIX if all(t.startswith("drm_msm") for t in
                                                               missing) else
                                               "a kernel >= 5.19 with CONFIG_TRACEPOINTS")))
    msm = feat.msm_present()
    out.append(Check("msm driver", msm, "loaded" if msm else "not loaded (/sys/module/msm absent)",
                     None if msm else MSM_FIX))
    out.extend(_symbol_checks(root))
    return out


def _try_load(bpf, text: str, attach: tuple[str, str] | None = None) -> tuple[bool, str]:
    b = None
    try:
        b = feat.compile_bpf(bpf, text)
        if attach:
            b.attach_kprobe(event=attach[1], fn_name="p")
        return True, "test program loaded" + (f" and attached to {attach[1]}" if attach else "")
    except Exception as e:
        msg = [ln for ln in str(e).splitlines() if ln.strip()]
        text = (msg[-1] if msg else type(e).__name__)[:120]
        if "super-user" in text and os.geteuid() == 0:
            # BCC's wording for EPERM; as root it means the kernel refused the program type
            text = "the kernel refused to load or attach it (EPERM although root)"
        return False, f"test failed: {text}"
    finally:
        if b is not None:
            b.cleanup()


def _taskstats_check(root: bool) -> Check:
    from ..live.taskstats import SYSCTL, TaskstatsReader
    if not os.path.exists(SYSCTL):
        return Check("taskstats", False, "no kernel.task_delayacct sysctl",
                     "a kernel with CONFIG_TASKSTATS=y CONFIG_TASK_DELAY_ACCT=y")
    try:
        TaskstatsReader().close()
    except feat.GemscopeError as e:
        return Check("taskstats", False, str(e), "a kernel with CONFIG_TASKSTATS=y")
    return Check("taskstats", True, "netlink family present; kernel.task_delayacct is "
                 "switched on only while recording")


def _symbol_checks(root: bool) -> list[Check]:
    from probes.kallsyms import Kallsyms
    from probes.plan import make_plan
    if not root:
        return [Check("symbols", False, "kallsyms addresses hidden", "run as root")]
    plan = make_plan(feat.gather(), Kallsyms.read())
    syms = Kallsyms.read()
    out = []
    found, absent = [], []
    seen = set()
    for e in plan.entries.values():
        s = e.spec
        if s.method not in ("kprobe", "kretprobe", "address") or not e.applicable \
                or s.target in seen:
            continue
        seen.add(s.target)
        r = syms.resolve(s.target, s.modules)
        (found if r.symbol else absent).append(r.symbol.attach_name if r.symbol else
                                               f"{s.target} ({r.reason})")
    out.append(Check("msm/drm symbols", not absent, f"{len(found)} found: {', '.join(found)}" +
                     (f"; missing: {', '.join(absent)}" if absent else ""),
                     None if not absent else MSM_FIX))
    attached = [e for e in plan.entries.values() if e.status == "attached"]
    att = len(attached)
    rungs: dict[str, int] = {}
    for e in attached:
        rungs[e.method or "?"] = rungs.get(e.method or "?", 0) + 1
    miss = [e for e in plan.entries.values() if e.status != "attached" and e.applicable]
    reasons: dict[str, int] = {}
    for e in miss:
        reasons[e.reason or "?"] = reasons.get(e.reason or "?", 0) + 1
    why = "; ".join(f"{n} x {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
    out.append(Check("probe plan", not miss, f"{att} will attach (" +
                     ", ".join(f"{k} {v}" for k, v in sorted(rungs.items())) +
                     f"), {len(miss)} will not" +
                     (f" ({why})" if why else ""),
                     None if not miss else "see `gemscope probes plan` for each probe"))
    una = plan.unanswerable()
    out.append(Check("questions", not una, "all answerable" if not una else
                     "cannot answer " + "; ".join(f"{q} {w}" for q, w in sorted(una.items())),
                     None if not una else KPROBE_FIX if not plan.defines.get("GS_KPROBES")
                     else MSM_FIX))
    return out


def run(args) -> int:
    cs = checks()
    if args.json:
        print(json.dumps([c.__dict__ for c in cs], indent=2))
    else:
        for c in cs:
            print(f"{'ok' if c.ok else 'MISSING':8} {c.name:16} {c.detail}")
            if c.fix:
                print(f"{'':8} {'':16} fix: {c.fix}")
    return 0 if all(c.ok for c in cs) else 1
