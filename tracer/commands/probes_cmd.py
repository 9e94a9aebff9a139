"""`gemscope probes dump|plan`: the BPF program and the attach plan for THIS kernel."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser(
        "probes", help="show the generated BPF program or the attach plan for this kernel",
        description="`dump` prints the combined BPF C program preceded by the -D flags chosen for "
                    "the running kernel; `plan` lists every probe point with attached/missing and "
                    "why (as root, so kallsyms shows addresses); `kprobe-events` prints the "
                    "kprobe_events lines `record --backend ftrace` writes here (group "
                    "`gemscope`), to set up by hand where gemscope cannot run.",
        epilog="examples:\n  sudo gemscope probes dump > /tmp/gemscope.bpf.c\n"
               "  sudo gemscope probes plan\n  sudo gemscope probes plan --json\n"
               "  gemscope probes kprobe-events >> /sys/kernel/tracing/kprobe_events",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("dump", "plan", "kprobe-events"))
    p.add_argument("--json", action="store_true", help="plan as JSON")
    p.add_argument("--uncontended-ns", type=int, default=0, metavar="NS")
    p.set_defaults(func=run)


def plan_for_this_kernel(uncontended_ns: int = 0):
    from probes.kallsyms import Kallsyms
    from probes.plan import make_plan
    from ..live import features as feat
    return make_plan(feat.gather(), Kallsyms.read(), uncontended_ns=uncontended_ns)


def dump_for_this_kernel(uncontended_ns: int = 0) -> str:
    from probes.program import dump
    return dump(plan_for_this_kernel(uncontended_ns).defines)


def kprobe_events_for_this_kernel() -> str:
    import os
    from probes.btf import kernel_offsets
    from probes.kallsyms import Kallsyms
    from ..ftrace.kprobes import kprobe_events_text
    from ..ftrace.live import _version
    offsets, params = kernel_offsets()
    return kprobe_events_text(_version(), Kallsyms.read(), os.uname().machine, offsets, params)


def run(args) -> int:
    if args.what == "kprobe-events":
        print(kprobe_events_for_this_kernel(), end="")
        return 0
    if args.what == "dump":
        print(dump_for_this_kernel(args.uncontended_ns))
        return 0
    plan = plan_for_this_kernel(args.uncontended_ns)
    if args.json:
        print(json.dumps({"probe_plan": plan.to_meta(), "recorded_kinds": plan.recorded_kinds(),
                          "unanswerable": plan.unanswerable()}, indent=2, sort_keys=True))
        return 0
    for name, e in plan.entries.items():
        where = e.target or ""
        print(f"{e.status:9} {name:50} {where:32} {e.reason or ''}".rstrip())
    print("\nrecorded kinds: " + ", ".join(plan.recorded_kinds()))
    for q, why in sorted(plan.unanswerable().items()):
        print(f"cannot answer {q}: {why}")
    return 0
