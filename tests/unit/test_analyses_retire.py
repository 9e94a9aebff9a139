"""retire: per-run split into finalizers / reservation waits / other, fences delayed behind
finalizers, queue delay, unknown durations, cannot-answer."""
from __future__ import annotations

from analysis_rows import ev, frames

from tracer.analyses.retire import ANALYSIS as retire

W, OTHER = 100, 200     # the retire worker's tid, and another thread


def _w(ts, **kw):
    return ev(ts, W, "gpu-worker", **kw)


def _rows():
    return {
        "retire_run": [_w(10_000, duration_ns=20_000, queue_delay_ns=500, submits_retired=2),
                       _w(50_000, duration_ns=5_000, queue_delay_ns=1_500, submits_retired=1),
                       _w(70_000, duration_ns=None, queue_delay_ns=None)],
        "free": [_w(11_000, duration_ns=4_000, context="retire_worker"),    # ends 15_000
                 _w(16_000, duration_ns=2_000, context="retire_worker"),    # ends 18_000
                 _w(25_000, duration_ns=None, context="retire_worker"),     # length unknown
                 _w(52_000, duration_ns=1_000, context="retire_worker"),    # run 2
                 _w(30_000, duration_ns=700, context="retire_worker"),      # at run 1's end
                 ev(12_000, OTHER, "app", duration_ns=9_000, context="ioctl")],
        "resv_lock": [_w(10_500, duration_ns=300),       # run 1, outside frees
                      _w(12_000, duration_ns=1_000),     # inside free 1
                      _w(20_000, duration_ns=2_500),     # run 1, outside frees
                      _w(25_500, duration_ns=100),       # inside the free of unknown length
                      ev(11_000, OTHER, "app", duration_ns=5_000),
                      _w(60_000, duration_ns=50)],       # in no run
        "fence_signal": [_w(10_800, seqno=1),     # before any free ended: not delayed
                         _w(15_000, seqno=2),     # free 1 ended at 15_000: 4_000
                         _w(19_000, seqno=3),     # frees 1 and 2: 6_000
                         _w(54_000, seqno=4),     # run 2, free 4: 1_000
                         _w(56_000, seqno=5),     # in no run
                         ev(19_000, OTHER, "app", seqno=6)],
    }


def test_split_and_fence_delays_exact():
    r = retire(frames(_rows()))
    h = r.headline
    assert h["retire_runs"] == 3
    assert h["retire_run_total_ns"] == 25_000
    assert h["retire_finalizer_ns"] == 7_000
    assert h["retire_resv_wait_ns"] == 2_800
    assert h["retire_resv_wait_in_finalizers_ns"] == 1_100
    assert h["retire_other_ns"] == 15_200
    assert h["retire_queue_delay_p50_ns"] == 1_000
    assert h["retire_queue_delay_max_ns"] == 1_500
    assert h["fences_delayed_by_finalizers"] == 3
    assert h["fence_delay_by_finalizers_total_ns"] == 11_000
    assert h["fences_signaled_in_retire"] == 4
    assert h["retire_frees"] == 4
    assert any("1 retire runs had an unknown duration" in n for n in r.notes)
    runs = r.tables["runs"].set_index("ts_ns")
    assert runs.loc[10_000, "finalizer_ns"] == 6_000 and runs.loc[10_000, "other_ns"] == 11_200
    assert runs.loc[10_000, "fences_delayed"] == 2 and runs.loc[10_000, "fence_delay_ns"] == 10_000
    assert runs.loc[50_000, "other_ns"] == 4_000 and runs.loc[50_000, "frees"] == 1


def test_optional_kinds_missing_give_none_not_zero():
    rows = _rows()
    del rows["resv_lock"], rows["fence_signal"]
    r = retire(frames(rows))
    h = r.headline
    assert h["retire_resv_wait_ns"] is None
    assert h["retire_other_ns"] == 18_000             # reservation time stays inside "other"
    assert h["fences_delayed_by_finalizers"] is None
    assert h["fence_delay_by_finalizers_total_ns"] is None
    assert len(r.notes) >= 2


def test_cannot_answer_without_free():
    r = retire(frames({"retire_run": _rows()["retire_run"]}))
    assert not r.answerable and r.missing == ("free",) and r.headline == {}


def test_vectorized_split_matches_a_brute_force_loop_on_random_timelines():
    import numpy as np
    rng = np.random.default_rng(11)
    for trial in range(15):
        def seq(n, gap, length):   # non-overlapping intervals on one thread
            starts = np.cumsum(rng.integers(1, gap, n))
            return starts, rng.integers(0, length, n)
        rs, rd = seq(int(rng.integers(1, 8)), 3000, 2500)
        rs = rs + np.cumsum(rd) - rd           # runs one after another on the worker
        # frees nested in runs, one after another (a finalizer ends before its run does),
        # plus a few on the worker outside any run
        fs, fd = [], []
        for r0, d in zip(rs, rd):
            cuts = np.sort(rng.integers(r0, r0 + d + 1, 2 * int(rng.integers(0, 5))))
            fs += list(cuts[0::2])
            fd += list(cuts[1::2] - cuts[0::2])
        fs, fd = np.array(fs + [0], dtype=np.int64), np.array(fd + [5], dtype=np.int64)
        ls, ld = rng.integers(0, int(rs[-1] + 3000), 40), rng.integers(1, 200, 40)
        ss = rng.integers(0, int(rs[-1] + 3000), 25)
        rows = {"retire_run": [_w(int(t), duration_ns=int(d), queue_delay_ns=1)
                               for t, d in zip(rs, rd)],
                "free": [_w(int(t), duration_ns=int(d)) for t, d in zip(fs, fd)],
                "resv_lock": [_w(int(t), duration_ns=int(d)) for t, d in zip(ls, ld)],
                "fence_signal": [_w(int(t)) for t in ss]}
        h = retire(frames(rows)).headline
        fin = resv = delayed = delay = 0
        for r0, r1 in zip(rs, rs + rd):
            in_run = [(f0, f0 + d) for f0, d in zip(fs, fd) if r0 <= f0 < r1]
            fin += sum(b - a for a, b in in_run)
            for l0, d in zip(ls, ld):
                if r0 <= l0 < r1 and not any(a <= l0 < b for a, b in in_run):
                    resv += d
            for s in ss:
                if r0 <= s < r1:
                    before = [b - a for a, b in in_run if b <= s]
                    delayed += bool(before)
                    delay += sum(before)
        assert h["retire_finalizer_ns"] == fin
        assert h["retire_resv_wait_ns"] == resv
        assert h["retire_other_ns"] == int(rd.sum()) - fin - resv
        assert h["fences_delayed_by_finalizers"] == delayed
        assert h["fence_delay_by_finalizers_total_ns"] == delay
