"""Kernel timeouts given in jiffies (dma_resv_wait_timeout's `timeout`) as nanoseconds.

A jiffy is 1/HZ s, and HZ is a build option (Debian 250, ChromeOS 1000): the live sources read
CONFIG_HZ of the running kernel and record it in the metadata (`kernel_hz`); a recording or
import without it keeps such timeouts null (unknown), never a jiffy count under an `_ns` name.
"""
from __future__ import annotations

import gzip
import os
import re
import time

import numpy as np

MAX_SCHEDULE_TIMEOUT = (1 << 63) - 1      # LONG_MAX: "wait without a timeout"
HZ_RANGE = (24, 10_000)                    # anything else in a file is not a plausible HZ
_HZ_LINE = re.compile(rb"^CONFIG_HZ=(\d+)$", re.M)


def kernel_hz(release: str | None = None, measure: bool = True) -> int | None:
    """CONFIG_HZ of the running kernel: /proc/config.gz, else /boot/config-<release>, else
    (no config on the machine, e.g. a kernel booted from elsewhere) measured from the jiffies
    counter in /proc/timer_list (root) and snapped to a standard HZ."""
    release = release or os.uname().release
    for path, opener in (("/proc/config.gz", gzip.open), (f"/boot/config-{release}", open)):
        try:
            with opener(path, "rb") as f:
                hz = hz_from_config(f.read())
            if hz is not None:
                return hz
        except (OSError, EOFError):
            continue
    return measured_hz() if measure else None


STANDARD_HZ = (100, 250, 300, 1000)
_JIFFIES_LINE = re.compile(rb"^jiffies: (\d+)$", re.M)


def _jiffies_now(path: str) -> tuple[int, int, int] | None:
    """(jiffies, clock before the read, clock after it): reading /proc/timer_list can take tens
    of ms on a loaded machine, so the reading is only known to lie between the two."""
    t0 = time.monotonic_ns()
    try:
        with open(path, "rb") as f:
            m = _JIFFIES_LINE.search(f.read())
    except OSError:
        return None
    return (int(m.group(1)), t0, time.monotonic_ns()) if m else None


def measured_hz(interval_s: float = 0.2, path: str = "/proc/timer_list",
                give_up_s: float = 3.0) -> int | None:
    """HZ from readings of the jiffies counter `interval_s` apart. The rate lies between the
    fewest jiffies that can have passed (one less: the tick) over the longest span the readings
    allow and the most over the shortest; the standard HZ inside those bounds is the answer.
    While two fit (a slow read under load), it reads again later, until `give_up_s`; a rate
    that fits none is not guessed at (None)."""
    first = _jiffies_now(path)
    if first is None:
        return None
    jiffies0, start_lo, start_hi = first
    while True:
        time.sleep(interval_s)
        now = _jiffies_now(path)
        if now is None:
            return None
        passed, end_lo, end_hi = now[0] - jiffies0, now[1], now[2]
        shortest, longest = end_lo - start_hi, end_hi - start_lo
        if shortest <= 0:
            return None
        low, high = (passed - 1) * 1e9 / longest, (passed + 1) * 1e9 / shortest
        fits = [hz for hz in STANDARD_HZ if low <= hz <= high]
        if len(fits) == 1:
            return fits[0]
        if not fits or end_hi - start_lo > give_up_s * 1e9:
            return None


def hz_from_config(text: bytes) -> int | None:
    m = _HZ_LINE.search(text)
    if not m:
        return None
    return valid_hz(int(m.group(1)))


def valid_hz(value) -> int | None:
    """A plausible HZ (an int in HZ_RANGE) or None: metadata is not trusted."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if HZ_RANGE[0] <= value <= HZ_RANGE[1] else None


def jiffies_to_ns(jiffies: np.ndarray, hz: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(ns, valid): a timeout in ns where HZ is known and the value is a real timeout (not
    negative, not MAX_SCHEDULE_TIMEOUT)."""
    j = np.asarray(jiffies).astype(np.int64, copy=False)
    hz = valid_hz(hz)
    if hz is None:
        return np.zeros(len(j), np.int64), np.zeros(len(j), bool)
    # MAX_SCHEDULE_TIMEOUT (no timeout) and anything whose ns would overflow int64 are out
    ok = (j >= 0) & (j <= MAX_SCHEDULE_TIMEOUT // 1_000_000_000)
    jj = np.where(ok, j, 0)
    ns = jj * (1_000_000_000 // hz) + jj * (1_000_000_000 % hz) // hz
    return ns.astype(np.int64), ok
