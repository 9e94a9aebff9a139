"""A mixed ftrace text for the import benchmark: the real host and guest traces of tests/data plus
the hand-written text's kprobe events (gemscope's free/try/lru/scan probes with fetch-args, a
tgid column, irq flags, a comm with spaces), and a `perf probe`-style kprobe
(`p_msm_gem_free_object_0: (msm_gem_free_object+0x0/0x1c0 [msm]) obj=0x...`) that gemscope keeps
as a generic event. The block is repeated with its timestamps shifted until it has N lines.
(Benchmark tooling: nothing here is part of gemscope.)"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
_TS = re.compile(rb"^(.*?\]\s+(?:\S+\s+)?)(\d+)\.(\d+)(: .*)$", re.S)
PERF_PROBE = (b"     GPU Process-2345    [001] d..1.   100.000800: p_msm_gem_free_object_0: "
              b"(msm_gem_free_object+0x0/0x1c0 [msm]) obj=0xffff0000300%05x\n")


def _event_lines() -> list[bytes]:
    hand = (DATA / "handwritten-ftrace.txt").read_bytes().splitlines(keepends=True)
    host = (DATA / "host-6.18-v7.txt").read_bytes().splitlines(keepends=True)
    guest = subprocess.run(["trace-cmd", "report", str(DATA / "guest-6.12-msm-module-v7.dat")],
                           capture_output=True, check=True).stdout.splitlines(keepends=True)
    lines = [ln for ln in hand + host + guest if not ln.startswith((b"#", b"cpus="))]
    lines += [PERF_PROBE % i for i in range(64)]
    return lines


def write_mixed(out: Path, n_lines: int) -> int:
    """Write about n_lines lines to out; returns the number written."""
    parts = []
    for ln in _event_lines():
        m = _TS.match(ln)
        if m is None:                      # lost-event and garbage lines stay as they are
            parts.append((ln, None, 0, b""))
        else:
            frac = m.group(3)
            ns = int(m.group(2)) * 10 ** len(frac) + int(frac)
            parts.append((m.group(1), ns, len(frac), m.group(4)))
    span = 2 * max(p[1] * 10 ** (9 - p[2]) for p in parts if p[1] is not None)
    written = 0
    with open(out, "wb") as f:
        copy = 0
        while written < n_lines:
            buf = []
            for head, ns, nfrac, tail in parts:
                if ns is None:
                    buf.append(head)
                    continue
                t = ns + copy * span // 10 ** (9 - nfrac)
                buf.append(b"%s%d.%0*d%s" % (head, t // 10 ** nfrac, nfrac, t % 10 ** nfrac, tail))
            take = buf[:n_lines - written]
            f.write(b"".join(take))
            written += len(take)
            copy += 1
    return written
