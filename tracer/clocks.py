"""Which clock a recording's ts_ns are in, and the one line that says so when it is not
CLOCK_MONOTONIC (the report prints it; `clock_warning(meta)` is there for every view).

Live recordings write meta["clock"] = "CLOCK_MONOTONIC". Imports keep the trace's own clock and
never convert it: ftrace's `mono` is CLOCK_MONOTONIC; `local` (the default) is the CPU-local
sched_clock, which on x86 runs close to CLOCK_MONOTONIC but is not it (no NTP slew, its own
zero); `global`, `boot`, `x86-tsc` and the counters are other clocks again. A trace.dat OFFSET
(host/guest synchronisation) or TSC2NSEC option shifts or scales the values as trace-cmd does.
Text files do not say which clock they used.
"""
from __future__ import annotations

from typing import Any, Mapping

MONOTONIC = "CLOCK_MONOTONIC"
_ABOUT = {
    "local": "the trace's 'local' clock (per-CPU sched_clock): close to CLOCK_MONOTONIC on x86 "
             "but not it",
    "global": "the trace's 'global' clock (sched_clock made monotonic across CPUs), not "
              "CLOCK_MONOTONIC",
    "boot": "the trace's 'boot' clock (CLOCK_BOOTTIME: CLOCK_MONOTONIC plus time suspended)",
    "x86-tsc": "the trace's 'x86-tsc' clock (TSC cycles, or ns when the file has TSC2NSEC)",
    "counter": "the trace's 'counter' clock (an event count, not time)",
    "uptime": "the trace's 'uptime' clock (jiffies)",
    "perf": "the trace's 'perf' clock",
    "tai": "the trace's 'tai' clock (CLOCK_TAI: wall time, not CLOCK_MONOTONIC)",
}


def import_clock(trace_clock: str | None, shifted: bool) -> tuple[str, str]:
    """(meta["clock"], meta["clock_note"]) of an import whose file used trace_clock (None = the
    file does not say); shifted = a trace.dat OFFSET or TSC2NSEC option was applied."""
    if trace_clock is None:
        return "ftrace:unknown", ("the file does not say which trace clock it used (ftrace text "
                                  "carries no clock): ts_ns are that clock's, CLOCK_MONOTONIC "
                                  "only if it was 'mono'")
    if trace_clock == "mono" and not shifted:
        return MONOTONIC, "the trace's 'mono' clock, which is CLOCK_MONOTONIC"
    about = _ABOUT.get(trace_clock, f"the trace's {trace_clock!r} clock, not CLOCK_MONOTONIC")
    if shifted:
        about += "; shifted/scaled by the file's OFFSET or TSC2NSEC option as trace-cmd does"
    return f"ftrace:{trace_clock}" + ("+offset" if shifted else ""), about


def clock_warning(meta: Mapping[str, Any]) -> str | None:
    """One line when the timestamps are not CLOCK_MONOTONIC (None when they are, or when the
    meta does not name a clock at all)."""
    clock = meta.get("clock")
    if clock is None or clock in (MONOTONIC, "ftrace:mono"):
        return None
    note = meta.get("clock_note") or f"{clock}, not CLOCK_MONOTONIC"
    return f"CLOCK: timestamps are not CLOCK_MONOTONIC: {note}"
