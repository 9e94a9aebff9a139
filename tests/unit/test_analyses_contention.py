"""contention: waits judged by a paired lock_contention (or, without it, by duration), exact
percentiles,
holders from the lock probe / the contention tracepoint / resv_hold, backoffs, cannot-answer."""
from __future__ import annotations

import pandas as pd
import pytest
from analysis_rows import ev, frames

from tracer.analyses.contention import ANALYSIS as contention
from tracer.analyses.contention import UNCONTENDED_THRESHOLD_NS

A, B, C = 0xFFFFFF8012000110, 0xFFFFFF8012000510, 0xFFFFFF8012000910
SUBMIT, MADV = "submit_lock_objects+0x40", "msm_gem_madvise+0x30"


def _rows():
    return {
        "resv_lock": [
            ev(1000, 10, "submit", lock_addr=A, duration_ns=500, caller=SUBMIT, ret=0),
            ev(2000, 10, "submit", lock_addr=A, duration_ns=4000, caller=SUBMIT, ret=0,
               holder_tid=20, holder_comm="gpu-worker", stack_id=7),
            ev(3000, 11, "compositor", lock_addr=A, duration_ns=2000, caller=MADV, ret=0,
               holder_tid=20, holder_comm="gpu-worker"),
            ev(10000, 11, "compositor", lock_addr=B, duration_ns=800, caller=MADV, ret=0),
            ev(20000, 10, "submit", lock_addr=B, duration_ns=900, caller=SUBMIT, ret=0),
            ev(30000, 10, "submit", lock_addr=A, duration_ns=1000, caller=SUBMIT, ret=0),
            ev(40000, 12, "worker2", lock_addr=A, duration_ns=10000, caller=SUBMIT, ret=-35),
            ev(50000, 12, "worker2", lock_addr=C, duration_ns=None, caller=SUBMIT, ret=-114),
        ],
        "lock_contention": [
            # the slow path of the three long calls on A (no holder seen by the tracepoint)
            ev(2100, 10, "submit", lock_addr=A, duration_ns=3500, is_resv=True, ret=0,
               context="ioctl"),
            ev(3100, 11, "compositor", lock_addr=A, duration_ns=1500, is_resv=True, ret=0,
               context="ioctl"),
            ev(40100, 12, "worker2", lock_addr=A, duration_ns=9000, is_resv=True, ret=0,
               context="ioctl"),
            ev(10100, 11, "compositor", lock_addr=B, duration_ns=600, is_resv=True, ret=0,
               holder_tid=30, holder_comm="kswapd0", context="ioctl"),
            ev(20100, 11, "compositor", lock_addr=B, duration_ns=300, is_resv=True, ret=-35,
               context="ioctl"),
            ev(60000, 11, "compositor", lock_addr=0xD0, duration_ns=5000, is_resv=False),
        ],
        "resv_hold": [
            ev(1500, 20, "gpu-worker", lock_addr=A, duration_ns=5000,
               caller="retire_submits+0x88", stack_id=8),
            ev(6000, 10, "submit", lock_addr=A, duration_ns=100, caller=SUBMIT),
        ],
        "stack": [ev(0, 0, "", stack_id=7, frames="ww_mutex_lock\nsubmit_lock_objects\n"
                                                  "msm_ioctl_gem_submit"),
                  ev(0, 0, "", stack_id=8, frames="ww_mutex_lock\nretire_submits")],
    }


def test_headline_exact():
    r = contention(frames(_rows()))
    h = r.headline
    assert r.answerable and UNCONTENDED_THRESHOLD_NS == 1000
    # waits (each paired with a contention): 4000, 2000, 800 (the quick call on B), 10000; sorted
    # 800, 2000, 4000, 10000 -> linear percentiles at positions 1.5, 2.7, 2.97
    assert h["resv_lock_calls"] == 8
    assert h["resv_waits"] == 4
    assert h["resv_wait_total_ns"] == 16800
    assert h["resv_wait_p50_ns"] == 3000
    assert h["resv_wait_p90_ns"] == 8200
    assert h["resv_wait_p99_ns"] == 9820
    assert h["resv_wait_max_ns"] == 10000
    assert h["edeadlk_backoffs"] == 1 and h["ealready_returns"] == 1
    assert h["waits_by_task"] == {"compositor": 2, "submit": 1, "worker2": 1}
    assert h["waits_by_caller"] == {SUBMIT: 2, MADV: 2}
    assert h["contended_resv_acquisitions"] == 5
    assert h["contention_edeadlk_ends"] == 1
    assert h["waits_seen_only_by_contention"] == 1
    assert h["slow_calls_without_contention"] == 0


def test_with_lock_contention_a_slow_call_that_did_not_contend_is_no_wait():
    # e.g. kprobe overhead under QEMU/TCG: 5 us inside an uncontended ww_mutex_lock
    rows = {"resv_lock": [ev(100, 5, "t", lock_addr=A, duration_ns=5000),
                          ev(9000, 5, "t", lock_addr=A, duration_ns=7000)],
            "lock_contention": [ev(9100, 5, "t", lock_addr=A, duration_ns=6000, is_resv=True)]}
    h = contention(frames(rows)).headline
    assert h["resv_waits"] == 1 and h["resv_wait_total_ns"] == 7000
    assert h["slow_calls_without_contention"] == 1


def test_tables_objects_holders_and_worst_waits():
    r = contention(frames(_rows()))
    obj = r.tables["by_object"].set_index("lock_addr")
    assert obj.loc[A, "waits"] == 3 and obj.loc[A, "total_ns"] == 16000
    assert obj.loc[A, "p50_ns"] == 4000 and obj.loc[A, "max_ns"] == 10000
    assert obj.loc[B, "waits"] == 1 and obj.loc[B, "total_ns"] == 800
    holders = {(row.holder_comm, None if row.holder_tid is pd.NA else row.holder_tid):
               (row.waits, row.total_ns) for row in r.tables["holders"].itertuples()}
    # the compositor's wait on B got its holder from the contention tracepoint
    assert holders == {("gpu-worker", 20): (2, 6000), ("kswapd0", 30): (1, 800),
                       ("unknown", None): (1, 10000)}
    sites = dict(zip(r.tables["holder_call_sites"]["hold_caller"],
                     r.tables["holder_call_sites"]["total_ns"]))
    assert sites == {"retire_submits+0x88": 6000, "unknown": 10800}
    worst = r.tables["worst_waits"]
    assert list(worst["wait_ns"]) == [10000, 4000, 2000, 800]
    assert worst.loc[1, "stack"].startswith("ww_mutex_lock\nsubmit_lock_objects")
    assert worst.loc[1, "hold_caller"] == "retire_submits+0x88"
    assert worst.loc[1, "hold_duration_ns"] == 5000
    assert worst.loc[1, "holder_stack"] == "ww_mutex_lock\nretire_submits"
    assert worst.loc[0, "holder_stack"] == ""          # no hold active at 40000
    back = r.tables["backoffs"].set_index("caller")
    assert back.loc[SUBMIT, "edeadlk"] == 1 and back.loc[SUBMIT, "ealready"] == 1


def test_without_lock_contention_waits_are_judged_by_duration():
    rows = _rows()
    del rows["lock_contention"]
    h = contention(frames(rows)).headline
    assert h["resv_waits"] == 3                    # the 800 ns call no longer counts
    assert h["resv_wait_total_ns"] == 16000
    assert "contended_resv_acquisitions" not in h


def test_unknown_call_duration_takes_the_paired_contention_wait():
    rows = {"resv_lock": [ev(100, 5, "t", lock_addr=A, duration_ns=None),
                          ev(900, 5, "t", lock_addr=A, duration_ns=50)],
            "lock_contention": [ev(150, 5, "t", lock_addr=A, duration_ns=250, is_resv=True)]}
    r = contention(frames(rows))
    assert r.headline["resv_waits"] == 1
    assert r.headline["resv_wait_total_ns"] == 250


def test_not_recorded_cannot_answer_and_zero_events_are_zero():
    r = contention(frames({}, recorded=["free"]))
    assert not r.answerable and r.missing == ("resv_lock",)
    assert r.headline == {} and "cannot answer" in r.notes[0]
    z = contention(frames({}, recorded=["resv_lock"]))
    assert z.answerable
    assert z.headline["resv_lock_calls"] == 0 and z.headline["resv_waits"] == 0
    assert z.headline["resv_wait_p50_ns"] is None and z.headline["resv_wait_total_ns"] == 0


@pytest.mark.parametrize("dur,waited", [(1000, 0), (1001, 1)])
def test_threshold_is_strict(dur, waited):
    r = contention(frames({"resv_lock": [ev(1, lock_addr=A, duration_ns=dur)]}))
    assert r.headline["resv_waits"] == waited


def test_waits_agree_with_a_brute_force_loop_on_random_calls():
    import numpy as np
    rng = np.random.default_rng(13)
    for trial in range(15):
        calls, conts = [], []
        for tid in (1, 2, 3):
            t = 0
            for _ in range(int(rng.integers(1, 25))):
                t += int(rng.integers(1, 500))
                lock = int(rng.integers(0, 3))
                dur = None if rng.random() < 0.15 else int(rng.integers(100, 3000))
                calls.append((t, tid, lock, dur))
                if rng.random() < 0.4:     # a contention inside (or just after) the call
                    conts.append((t + int(rng.integers(0, 400)), tid, lock,
                                  int(rng.integers(10, 900))))
                t += dur or 0
        rows = {"resv_lock": [ev(t, tid, f"t{tid}", lock_addr=0xA0 + lk, duration_ns=d)
                              for t, tid, lk, d in calls],
                "lock_contention": [ev(t, tid, f"t{tid}", lock_addr=0xA0 + lk, duration_ns=d,
                                       is_resv=True) for t, tid, lk, d in conts]}
        h = contention(frames(rows)).headline
        waits, total = 0, 0
        for t, tid, lk, d in calls:
            nxt = min([c[0] for c in calls if c[1] == tid and c[0] > t], default=None)
            end = t + d if d is not None else nxt
            paired = [c for c in conts if c[1] == tid and c[2] == lk and c[0] >= t and
                      (end is None or (c[0] <= end if d is not None else c[0] < end))]
            paired.sort()
            if paired:      # lock_contention recorded: only a paired contention is a wait
                waits += 1
                total += d if d is not None else paired[0][3]
        assert h["resv_waits"] == waits, trial
        assert h["resv_wait_total_ns"] == total, trial
