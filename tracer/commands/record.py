"""`gemscope record`: trace this machine headless into a recording (root, BCC)."""
from __future__ import annotations

import signal
import sys
import time

from ..errors import GemscopeError


def register(sub) -> None:
    p = sub.add_parser(
        "record", help="trace this machine with BPF into a recording (root)",
        description="Attach gemscope's BPF probes to the running kernel (what attaches depends on "
                    "the kernel: see `gemscope doctor`) and write every event to a recording "
                    "until the duration ends or Ctrl-C / SIGTERM. Prints a summary at the end.",
        epilog="examples:\n  sudo gemscope record -d 10 -o /tmp/live.gsrec\n"
               "  sudo gemscope record --ebpf          # print the BPF C and flags, then exit\n"
               "  sudo BCC_KERNEL_SOURCE=$(tests/kernel/rig/headers.sh 6.12) gemscope record -d 3",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("-d", "--duration", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("-o", "--output", default="gemscope.gsrec", metavar="FILE",
                   help="recording to write (default: gemscope.gsrec)")
    p.add_argument("--ebpf", action="store_true",
                   help="print the generated BPF program with this kernel's -D flags and exit")
    p.add_argument("--uncontended-ns", type=int, default=0, metavar="NS",
                   help="uncontended resv locks (ret 0, not in reclaim) faster than this go to an "
                        "in-kernel histogram instead of the stream (default 0: stream all)")
    p.add_argument("--all-lock-stacks", action="store_true",
                   help="walk the kernel stack at every reservation lock, not only those that "
                        "wait or run in reclaim: gives the holder's call site of each wait, at "
                        "the price of a stack walk per lock (the costliest part of a probe)")
    p.add_argument("--all-free-stacks", action="store_true",
                   help="walk the kernel stack at every last put and free, not only for the "
                        "slowest frees of each second and frees in reclaim (a last put "
                        "otherwise records only its caller)")
    add_buffer_option(p)
    p.add_argument("--self-cost", action="store_true",
                   help="measure gemscope's own BPF programs with the kernel's run-time "
                        "statistics (BPF_ENABLE_STATS; adds two clock reads to every BPF "
                        "program's run, system-wide, while recording) and print their run time "
                        "per program: runs, ns per run, total (bcc backend, x86_64)")
    p.add_argument("--no-taskstats", action="store_true", help="do not sample delay accounting")
    p.add_argument("--pid", dest="pids", type=int, action="append", metavar="PID",
                   help="also sample taskstats of this task (repeatable)")
    p.add_argument("--backend", choices=("auto", "bcc", "ftrace"), default="auto",
                   help="bcc (BPF), ftrace (tracefs instance + kprobe_events, no BCC needed) or "
                        "auto: bcc when BCC can be imported, else ftrace (default)")
    p.set_defaults(func=run)


def add_buffer_option(p) -> None:
    """--buffer-mib, shared with `gemscope live`."""
    p.add_argument("--buffer-mib", type=buffer_mib, default=None, metavar="MIB",
                   help="BPF ring buffer size, a power of two (default 64): events that arrive "
                        "faster than the reader drains wait here; when it is full they are lost "
                        "(and counted)")


def buffer_mib(text: str) -> int:
    """argparse type of --buffer-mib: a power of two in MiB, else argparse's one-line error."""
    import argparse
    from ..errors import GemscopeError
    from ..sources.bcc_source import check_buffer_mib
    try:
        return check_buffer_mib(int(text))
    except (ValueError, GemscopeError) as e:
        raise argparse.ArgumentTypeError(str(e) if isinstance(e, GemscopeError)
                                         else f"{text!r} is not a whole number of MiB") from None


def _use_ftrace(args) -> bool:
    backend = getattr(args, "backend", "auto")
    if backend != "auto":
        return backend == "ftrace"
    try:
        import bcc  # noqa: F401
    except Exception:
        return True
    return False


class _StopFlag:
    def __init__(self):
        self.stop = False
        self.signal = None

    def __call__(self, signum, _frame):
        self.stop = True
        self.signal = signal.Signals(signum).name


def run(args) -> int:
    if args.ebpf:
        from .probes_cmd import dump_for_this_kernel
        print(dump_for_this_kernel(args.uncontended_ns))
        return 0
    if _use_ftrace(args):
        from ..ftrace.live import open_tracefs_source
        src = open_tracefs_source(args)
    else:
        from ..sources.bcc_source import open_live_source
        try:
            src = open_live_source(args, keep_events=False)   # headless: no TUI buffer
        except GemscopeError as e:
            if getattr(args, "backend", "auto") != "auto":
                raise
            print(f"gemscope: BCC cannot trace here ({e}); using the ftrace backend",
                  file=sys.stderr)
            from ..ftrace.live import open_tracefs_source
            src = open_tracefs_source(args)
    if getattr(args, "self_cost", False) and not hasattr(src, "self_cost"):
        print("gemscope: --self-cost measures BPF programs: the ftrace backend has none "
              "(ignored)", file=sys.stderr)
    flag = _StopFlag()
    old = {s: signal.signal(s, flag) for s in (signal.SIGINT, signal.SIGTERM)}
    t0 = time.monotonic()
    try:
        src.start()
        t0 = time.monotonic()   # the duration counts from the moment probes are attached
        print(f"gemscope: recording to {args.output} "
              f"({'%.0f s' % args.duration if args.duration else 'until Ctrl-C'}); "
              f"compile {src.meta['compile_s']:.2f} s, attach {src.meta['attach_s']:.2f} s",
              file=sys.stderr)
        while not flag.stop and not src.done:
            if args.duration is not None and time.monotonic() - t0 >= args.duration:
                break
            time.sleep(0.05)
    finally:
        src.stop()
        for s, h in old.items():
            signal.signal(s, h)
    print(summary(src, args.output, time.monotonic() - t0, flag.signal))
    # a recording cut short (disk full, write error) still holds every flushed batch, but the
    # run did not do what was asked: say so in the exit status
    return 1 if getattr(src, "failed", None) else 0


def summary(src, output: str, elapsed: float, sig: str | None) -> str:
    plan = src.plan
    lines = [f"gemscope record: {output}, {elapsed:.1f} s" + (f" (stopped by {sig})" if sig else "")]
    total = sum(src.counts.values())
    lines.append(f"  events     {total}")
    for kind, n in sorted(src.counts.items()):
        lines.append(f"    {kind:16} {n}")
    lost = src.lost_total
    lines.append(f"  lost       {lost}" + ("  <-- the kernel dropped events: " +
                 ", ".join(f"cpu{c}: {n}" for c, n in sorted(src.lost_by_cpu.items()))
                 if lost else ""))
    cpu = getattr(src, "reader_cpu_s", None)
    if cpu is not None:
        lines.append(f"  reader cpu {cpu:.2f} s (the thread that drains the ring buffer and writes the recording)")
    if plan is not None:
        att = [n for n, e in plan.entries.items() if e.status == "attached"]
        bad = {n: e for n, e in plan.entries.items() if e.status != "attached" and e.applicable}
        rungs: dict[str, int] = {}
        for n in att:
            m = plan.entries[n].method or "?"
            rungs[m] = rungs.get(m, 0) + 1
        lines.append(f"  probes     {len(att)} attached (" +
                     ", ".join(f"{k} {v}" for k, v in sorted(rungs.items())) +
                     f"), {len(bad)} not (gemscope info FILE lists them)")
        reasons: dict[str, int] = {}
        for e in bad.values():
            reasons[e.reason or "?"] = reasons.get(e.reason or "?", 0) + 1
        for r, n in sorted(reasons.items(), key=lambda x: -x[1])[:6]:
            lines.append(f"    {n:3} x {r}")
        for q, why in sorted(plan.unanswerable().items()):
            lines.append(f"  cannot answer {q}: {why}")
    cost = src.self_cost.by_program() if getattr(src, "self_cost", None) else None
    if cost is not None:
        total = sum(c["total_ns"] for c in cost.values())
        lines.append(f"  self cost  {total / 1e6:.1f} ms of BPF run time over {elapsed:.1f} s "
                     f"({100 * total / 1e9 / max(elapsed, 1e-9):.2f}% of one CPU; the kprobe "
                     "trap or trampoline before each run is not in it)")
        for name, c in list(cost.items())[:12]:
            lines.append(f"    {name:16} {c['runs']:>10} runs  {c['ns_per_run']:>8.0f} ns/run  "
                         f"{c['total_ns'] / 1e6:>8.2f} ms")
    h = src.histograms.get("uncontended_log2_ns")
    if h:
        lines.append(f"  uncontended resv locks (in-kernel histogram only) {sum(h.values())}")
    for n in src.notices()[-5:]:
        lines.append(f"  notice     {n}")
    return "\n".join(lines)


__all__ = ["register", "run", "GemscopeError"]
