"""Vectorized building blocks of the discrete-event model: single-server queues, per-group
offsets and seeded duration distributions. Everything works on whole arrays, so a simulation of
millions of events costs a handful of numpy passes, not one Python call per event.
"""
from __future__ import annotations

import numpy as np


def queue_starts(ready_ns: np.ndarray, service_ns: np.ndarray, gap_ns: int = 0) -> np.ndarray:
    """Start times of jobs served one at a time in order (a FIFO single server).

    Job i may start at ready[i] and occupies the server for service[i] + gap: start[i] =
    max(ready[i], start[i-1] + service[i-1] + gap). Solved without a loop: with S the running sum
    of the previous jobs' occupation, start[i] = S[i] + max over j <= i of (ready[j] - S[j]).
    """
    ready = np.asarray(ready_ns, dtype=np.int64)
    if not len(ready):
        return ready.copy()
    occupy = np.asarray(service_ns, dtype=np.int64) + gap_ns
    before = np.concatenate(([0], np.cumsum(occupy[:-1])))
    return before + np.maximum.accumulate(ready - before)


def group_starts(group: np.ndarray) -> np.ndarray:
    """Index of the first row of each row's group (rows of a group are contiguous)."""
    group = np.asarray(group)
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return np.maximum.accumulate(np.where(first, np.arange(len(group)), 0))


def offsets_in_group(lengths: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Exclusive running sum of `lengths` that restarts at each group (contiguous groups):
    where each row starts relative to the start of its group."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if not len(lengths):
        return lengths.copy()
    excl = np.cumsum(lengths) - lengths
    return excl - excl[group_starts(group)]


def rank_in_group(group: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... within each contiguous group."""
    return np.arange(len(group)) - group_starts(group)


def lognormal_ns(rng: np.random.Generator, median_ns: float, sigma: float, n: int,
                 lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """n lognormal durations (ns, int64) with the given median, clipped to [lo, hi]."""
    v = rng.lognormal(np.log(median_ns), sigma, n)
    if lo is not None or hi is not None:
        v = np.clip(v, lo, hi)
    return np.rint(v).astype(np.int64)


def uniform_ns(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    """n integer durations uniform in [lo, hi]."""
    return rng.integers(lo, hi + 1, n, dtype=np.int64)


def free_duration_ns(rng: np.random.Generator, size_bytes: np.ndarray, per_mib_ns: float,
                     base_ns: float, sigma: float) -> np.ndarray:
    """msm_gem_free_object time: a fixed part plus a part growing with the object's size
    (put_pages and the IOMMU unmap walk every page), with lognormal noise."""
    mib = np.asarray(size_bytes, dtype=np.float64) / (1 << 20)
    median = base_ns + per_mib_ns * mib
    return np.rint(median * rng.lognormal(0.0, sigma, len(mib))).astype(np.int64)


def bo_sizes(rng: np.random.Generator, n: int, big_share: float = 0.15) -> np.ndarray:
    """Buffer object sizes in bytes: mostly 4 KiB..1 MiB, some 2..16 MiB render targets."""
    small = 4096 << rng.integers(0, 9, n)          # 4 KiB .. 1 MiB
    big = (2 << 20) << rng.integers(0, 4, n)       # 2 .. 16 MiB
    return np.where(rng.random(n) < big_share, big, small).astype(np.uint64)


def lru_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sizes of objects the shrinker meets on the LRUs: mostly 4..256 KiB, a few 1..4 MiB."""
    small = 4096 << rng.integers(0, 7, n)
    big = (1 << 20) << rng.integers(0, 3, n)
    return np.where(rng.random(n) < 0.03, big, small).astype(np.uint64)


def pick(rng: np.random.Generator, n: int, probs: dict) -> np.ndarray:
    """n codes drawn with the given {code: probability}."""
    codes = np.array(list(probs))
    p = np.array(list(probs.values()), dtype=np.float64)
    return codes[rng.choice(len(codes), n, p=p / p.sum())]
