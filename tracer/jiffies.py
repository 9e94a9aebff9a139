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


def _jiffies_now(path: str) -> tuple[int, int] | None:
    try:
        with open(path, "rb") as f:
            m = _JIFFIES_LINE.search(f.read())
    except OSError:
        return None
    return (int(m.group(1)), time.monotonic_ns()) if m else None


def measured_hz(interval_s: float = 0.2, path: str = "/proc/timer_list") -> int | None:
    """HZ from two readings of the jiffies counter `interval_s` apart: the standard HZ within
    10% of the rate seen, else None (a rate that is none of them is not guessed at)."""
    a = _jiffies_now(path)
    if a is None:
        return None
    time.sleep(interval_s)
    b = _jiffies_now(path)
    if b is None or b[1] <= a[1]:
        return None
    rate = (b[0] - a[0]) * 1e9 / (b[1] - a[1])
    best = min(STANDARD_HZ, key=lambda h: abs(rate - h))
    return best if abs(rate - best) <= 0.1 * best else None


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
