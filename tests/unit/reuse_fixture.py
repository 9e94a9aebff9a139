"""Random but seeded events for the reuse tests: few threads, locks and times, so that joins
cross window edges, times tie, durations are unknown and keys are null now and then."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis_rows import ev
from tracer.analyses.base import Result
from tracer.frames import Frames, frames_from_rows

LOCKS = [0xFFFF888000001000 + 0x100 * i for i in range(5)]
TIDS = [(10, "submit"), (11, "compositor"), (12, "worker2"), (40, "retire_worker")]
CALLERS = ["submit_lock_objects+0x40", "msm_gem_madvise+0x30", None]


def _maybe(rng, value, p_null=0.1):
    return None if rng.random() < p_null else value


def rows(seed: int, n: int = 300) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    shortest = -300 if seed % 3 == 0 else 0      # negative free durations: broken data
    t = lambda: int(rng.integers(0, 200)) * 100          # noqa: E731 - many ties
    who = lambda: TIDS[int(rng.integers(0, len(TIDS)))]  # noqa: E731
    out: dict[str, list[dict]] = {k: [] for k in (
        "resv_lock", "lock_contention", "resv_hold", "retire_run", "free", "fence_signal",
        "gpu_retired", "stack")}
    for _ in range(n):
        tid, comm = who()
        out["resv_lock"].append(ev(
            t(), tid, comm, lock_addr=_maybe(rng, LOCKS[int(rng.integers(0, 5))], 0.05),
            duration_ns=_maybe(rng, int(rng.integers(0, 3000)), 0.15),
            caller=CALLERS[int(rng.integers(0, 3))], ret=int(rng.choice([0, 0, 0, -35, -114])),
            holder_tid=_maybe(rng, 20, 0.6), holder_comm=_maybe(rng, "gpu-worker", 0.6),
            stack_id=_maybe(rng, 7, 0.5), context=_maybe(rng, "ioctl"),
            in_reclaim=_maybe(rng, bool(rng.random() < 0.1))))
    for _ in range(n // 3):
        tid, comm = who()
        out["lock_contention"].append(ev(
            t(), tid, comm, lock_addr=LOCKS[int(rng.integers(0, 5))],
            duration_ns=_maybe(rng, int(rng.integers(0, 2000))), is_resv=bool(rng.random() < .9),
            ret=int(rng.choice([0, -35])), holder_tid=_maybe(rng, 30, 0.5),
            holder_comm=_maybe(rng, "kswapd0", 0.5), context="ioctl"))
    for _ in range(n // 2):
        tid, comm = who()
        out["resv_hold"].append(ev(
            t(), tid, comm, lock_addr=_maybe(rng, LOCKS[int(rng.integers(0, 5))], 0.05),
            duration_ns=_maybe(rng, int(rng.integers(0, 4000))),
            caller=CALLERS[int(rng.integers(0, 3))], stack_id=_maybe(rng, 8, 0.5)))
    for _ in range(n // 10):
        out["retire_run"].append(ev(t(), 40, "retire_worker",
                                    duration_ns=_maybe(rng, int(rng.integers(0, 3000))),
                                    queue_delay_ns=_maybe(rng, int(rng.integers(0, 500))),
                                    submits_retired=int(rng.integers(0, 3))))
    for _ in range(n // 2):
        tid, comm = TIDS[3] if rng.random() < 0.6 else who()
        out["free"].append(ev(t(), tid, comm, obj_addr=0xFFFF0000 + int(rng.integers(0, 40)),
                              size_bytes=_maybe(rng, 4096 * int(rng.integers(1, 100))),
                              duration_ns=_maybe(rng, int(rng.integers(shortest, 800))),
                              context=_maybe(rng, "retire_worker"), stack_id=_maybe(rng, 7)))
    for kind in ("fence_signal", "gpu_retired"):
        for _ in range(n // 5):
            tid, comm = TIDS[3] if rng.random() < 0.8 else who()
            out[kind].append(ev(t(), tid, comm, seqno=int(rng.integers(0, 100))))
    out["stack"] = [ev(0, 0, "", stack_id=7, frames="ww_mutex_lock\nsubmit_lock_objects"),
                    ev(0, 0, "", stack_id=8, frames="ww_mutex_lock\nretire_submits")]
    return out


def frames_of(seed: int, n: int = 300, recorded: list[str] | None = None) -> Frames:
    r = rows(seed, n)
    return frames_from_rows(r, {"recorded_kinds": list(r) if recorded is None else recorded})


def windows(seed: int, count: int = 12) -> list[tuple[int | None, int | None]]:
    """Windows of every shape: open ends, empty, one instant, edges on event times and not."""
    rng = np.random.default_rng(seed)
    out = [(None, None), (None, 10_000), (5_000, None), (7_000, 7_000), (7_000, 7_100)]
    while len(out) < count:
        a, b = sorted(int(x) for x in rng.integers(-500, 21_000, 2))
        out.append((a + int(rng.integers(0, 2)) * 50, b))
    return out


def assert_same(got: Result, want: Result) -> None:
    """Two results hold exactly the same numbers, tables (values, dtypes, order) and notes."""
    assert (got.name, got.missing, got.notes) == (want.name, want.missing, want.notes)
    assert got.headline == want.headline
    assert list(got.tables) == list(want.tables)
    for name in want.tables:
        pd.testing.assert_frame_equal(got.tables[name], want.tables[name], check_exact=True,
                                      obj=f"{want.name}.{name}")
