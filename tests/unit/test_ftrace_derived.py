"""What the tracefs backend derives after mapping (tracer/ftrace/derived.py), on a hand-written
ftrace text trace of gemscope's kprobes: a trylock's shrinker stage from the drm_gem_lru_scan
call around it, the holder of a failed trylock and of a blocking lock from the last acquisition
of that lock, the object's size only where the lock is the object's own resv, the callers (from the return events;
a last put's from a fetch-arg), the context of a last put, and *remaining left unknown."""
from __future__ import annotations

import numpy as np
import pytest

from tracer.ftrace.derived import NO_ROW, enclosing
from tracer.importers import import_file

TRACE = """\
# tracer: nop
#
       gs-holder-500     [000] .....   100.000100: locki: (ww_mutex_lock_interruptible+0x0/0x90) lock=0xffff000060000000 ctx=0x0 owner=0x0 back=0xffff000060000000
       gs-holder-500     [000] .....   100.000110: locki_r: (gs_hold+0x20/0x80 [gs] <- ww_mutex_lock_interruptible) ret=0
     kms-commit-700      [000] .....   100.000120: lock: (ww_mutex_lock+0x0/0x90) lock=0xffff0000c0000000 ctx=0xffff0000c1000000 owner=0x0 back=0x1234
     kms-commit-700      [000] .....   100.000130: contention_begin: 0xffff0000c0000000 (flags=MUTEX)
     kms-commit-700      [000] .....   100.000140: contention_end: 0xffff0000c0000000 (ret=0)
     kms-commit-700      [000] .....   100.000150: lock_r: (drm_modeset_lock+0x30/0x90 [drm] <- ww_mutex_lock) ret=0
     kms-commit-700      [000] .....   100.000160: unlock: (ww_mutex_unlock+0x0/0x40) lock=0xffff0000c0000000
          python-600     [001] .....   100.000200: lock: (ww_mutex_lock+0x0/0x90) lock=0xffff000060000000 ctx=0xffff000099000000 owner=0xffff000070000000 back=0xffff000060000000
          python-600     [001] .....   100.000300: contention_begin: 0xffff000060000000 (flags=MUTEX)
          python-600     [001] .....   100.003900: contention_end: 0xffff000060000000 (ret=0)
         kswapd0-88      [001] .....   100.002900: scan: (msm_gem_shrinker_scan+0x0/0x1a0 [msm]) nr=64 gfp=0xcc0
         kswapd0-88      [001] .....   100.002910: lru: (drm_gem_lru_scan+0x0/0x230 [drm]) lru=0xffff000080000000 nr=64 rem=0xffff800012345678 fn=purge+0x0/0x60 [msm]
         kswapd0-88      [001] .....   100.002950: try: (ww_mutex_trylock+0x0/0x90) lock=0xffff000060000000 ctx=0x0 owner=0xffff000070000001 size=65536 back=0xffff000060000000
         kswapd0-88      [001] .....   100.002951: try_r: (drm_gem_lru_scan+0xa4/0x230 [drm] <- ww_mutex_trylock) ok=0
         kswapd0-88      [001] .....   100.002960: try: (ww_mutex_trylock+0x0/0x90) lock=0xffff000061000000 ctx=0x0 owner=0x0 size=4096 back=0xffff0000aaaa0000
         kswapd0-88      [001] .....   100.002961: try_r: (drm_gem_lru_scan+0xa4/0x230 [drm] <- ww_mutex_trylock) ok=1
         kswapd0-88      [001] .....   100.002970: unlock: (ww_mutex_unlock+0x0/0x40) lock=0xffff000061000000
       gs-holder-500     [000] .....   100.003000: unlock: (ww_mutex_unlock+0x0/0x40) lock=0xffff000060000000
         kswapd0-88      [001] .....   100.002990: lru_r: (msm_gem_shrinker_scan+0x5c/0x1a0 [msm] <- drm_gem_lru_scan) freed=10
         kswapd0-88      [001] .....   100.003000: lru: (drm_gem_lru_scan+0x0/0x230 [drm]) lru=0xffff000081000000 nr=54 rem=0xffff800012345678 fn=evict+0x0/0x60 [msm]
         kswapd0-88      [001] .....   100.003050: try: (ww_mutex_trylock+0x0/0x90) lock=0xffff000061000000 ctx=0x0 owner=0xffff000088000000 size=4096 back=0xffff0000aaaa0000
         kswapd0-88      [001] .....   100.003051: try_r: (drm_gem_lru_scan+0xa4/0x230 [drm] <- ww_mutex_trylock) ok=0
         kswapd0-88      [001] .....   100.003090: lru_r: (msm_gem_shrinker_scan+0x5c/0x1a0 [msm] <- drm_gem_lru_scan) freed=0
         kswapd0-88      [001] .....   100.003100: scan_r: (do_shrink_slab+0x13c/0x3a0 <- msm_gem_shrinker_scan) freed=10
          python-600     [001] .....   100.004000: lock_r: (gs_submit+0x40/0x100 [gs] <- ww_mutex_lock) ret=0
          python-600     [001] .....   100.004500: unlock: (ww_mutex_unlock+0x0/0x40) lock=0xffff000060000000
          python-600     [001] .....   100.004600: unlock: (ww_mutex_unlock+0x0/0x40) lock=0xffff000060000000
         mm-user-800     [000] .....   100.004700: contention_begin: 0xffff000060000000 (flags=READ)
         mm-user-800     [000] .....   100.004800: contention_end: 0xffff000060000000 (ret=0)
      gpu-worker-300     (    300) [001] .....   100.005000: sched_kthread_work_execute_start: work struct 0xffff000040000000: function retire_worker [msm]
      gpu-worker-300     (    300) [001] .....   100.005010: lastput: (drm_gem_object_free+0x0/0x40 [drm]) obj=0xffff000030000000 size=8192 caller=0xffffffffc0004040
      gpu-worker-300     (    300) [001] .....   100.005300: sched_kthread_work_execute_end: work struct 0xffff000040000000: function retire_worker [msm]
"""


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    p = tmp_path_factory.mktemp("derived") / "trace.txt"
    p.write_text(TRACE)
    im = import_file(str(p))
    acc = im.meta["import_accounting"]
    assert acc["balanced"] and acc["bad"] == 0 and acc["generic"] == 0, acc
    # the second unlock of 0x...6000 has no acquisition left to end
    assert acc["unmatched_ends"] == {"resv_hold": 1}
    assert acc["mapped_inputs"] == acc["events_in"] - 1
    return im


def _kind(im, kind):
    return im.mapped.kinds[kind]


def test_trylock_stage_holder_size_and_caller(frames):
    tl = _kind(frames, "resv_trylock")
    assert tl["stage"].to_pylist() == ["purge", "purge", "evict"]
    assert tl["success"].to_pylist() == [False, True, False]
    # the failed one on 0x...6000: the interruptible lock of gs-holder ended last before it and
    # its unlock came after; 0x...6100's last acquirer (kswapd0's trylock) had unlocked it
    assert tl["holder_comm"].to_pylist() == ["gs-holder", None, None]
    assert tl["holder_tid"].to_pylist() == [500, None, None]
    # 0x...6000 is its object's own resv (back == lock); 0x...6100's object points elsewhere
    assert tl["size_bytes"].to_pylist() == [65536, None, None]
    # from the return events: "(drm_gem_lru_scan+0xa4/0x230 [drm] <- ww_mutex_trylock)"
    assert tl["caller"].to_pylist() == ["drm_gem_lru_scan+0xa4"] * 3


def test_only_reservations_are_kept(frames):
    """A ww_mutex that is not a GEM object's own resv (a KMS crtc lock: `back` does not point
    at it) is dropped from the lock calls, as the BPF path never records it, and counted; a
    contention is on a reservation when a kept lock call of the same thread on the same lock
    contains it: not when a later lock merely has the address (the guest's recorder contended
    on an rwsem where a freed object's resv had been, 1 run in 7)."""
    lk = _kind(frames, "resv_lock")
    assert 700 not in lk["tid"].to_pylist() and lk["is_resv"].to_pylist() == [True, True]
    # the crtc lock call and its unlock
    assert frames.meta["import_accounting"]["not_reservations"] == 2
    lc = _kind(frames, "lock_contention")
    assert dict(zip(np.asarray(lc["tid"]).tolist(), np.asarray(lc["is_resv"]).tolist())) == \
        {700: False, 600: True, 800: False}
    # in-scan trylocks are reservations whatever `back` says (a shared resv is not an own one)
    assert _kind(frames, "resv_trylock")["is_resv"].to_pylist() == [True, True, True]


def test_blocking_locks_interruptible_api_and_holder(frames):
    lk = _kind(frames, "resv_lock")
    assert sorted(zip(lk["api"].to_pylist(), lk["tid"].to_pylist())) == [
        ("ww_mutex_lock", 600), ("ww_mutex_lock_interruptible", 500)]
    rows = dict(zip(lk["tid"].to_pylist(), lk["holder_comm"].to_pylist()))
    assert rows == {500: None, 600: "gs-holder"}
    dur = dict(zip(lk["tid"].to_pylist(), np.asarray(lk["duration_ns"]).tolist()))
    assert dur == {500: 10_000, 600: 3_800_000}
    assert dict(zip(lk["tid"].to_pylist(), lk["caller"].to_pylist())) == {
        500: "gs_hold+0x20", 600: "gs_submit+0x40"}


def test_hold_times_from_acquisition_to_unlock(frames):
    """resv_hold: from each acquisition (a lock's return with 0, a successful trylock's return)
    to the first ww_mutex_unlock of that lock after it, with the acquirer's caller."""
    h = _kind(frames, "resv_hold")
    rows = {t: (d, c) for t, d, c in zip(np.asarray(h["tid"]).tolist(),
                                         h["duration_ns"].to_pylist(), h["caller"].to_pylist())}
    assert rows == {88: (9_000, "drm_gem_lru_scan+0xa4"), 600: (500_000, "gs_submit+0x40"),
                    500: (2_890_000, "gs_hold+0x20")}
    assert sorted(np.asarray(h["ts_ns"]).tolist()) == [100_000_110_000, 100_002_961_000,
                                                       100_004_000_000]


def test_remaining_is_unknown_not_zero(frames):
    lru = _kind(frames, "lru_scan")
    assert lru["stage"].to_pylist() == ["purge", "evict"]
    assert lru["remaining_pages"].to_pylist() == [None, None]


def test_last_put_context_and_caller(frames):
    lp = _kind(frames, "last_put")
    assert lp["context"].to_pylist() == ["retire_worker"]
    assert lp["size_bytes"].to_pylist() == [8192]
    # a fetch-arg (no kretprobe on drm_gem_object_free); no symbol table in a text import
    assert lp["caller"].to_pylist() == ["0xffffffffc0004040"]


def test_enclosing_interval_per_thread():
    """The interval of the same thread that started last, if it is still open (calls of one
    probed function do not nest on a thread: the outer of two nested ones is not looked at)."""
    tid = np.array([1, 1, 1, 2, 1, 3])
    ts = np.array([5, 11, 15, 3, 30, 5])
    row = enclosing(tid, ts, np.array([1, 2, 1]), np.array([0, 0, 10]), np.array([20, 4, 12]))
    assert row.tolist() == [0, 2, NO_ROW, 1, NO_ROW, NO_ROW]


def test_is_kthread_from_proc_stat():
    from tracer.ftrace.live import is_kthread
    # comm with spaces and a parenthesis; flags (9th field) 0x00200040 has PF_KTHREAD
    assert is_kthread("88 (kswapd0) S 2 0 0 0 -1 2129984 0 0") is True
    assert is_kthread("600 (GPU Process (x)) R 1 600 600 34816 600 4194560 12 0") is False
    assert is_kthread("") is None and is_kthread("600 (python) R 1") is None


def test_user_tasks_are_ioctl_where_the_live_source_knew_them(tmp_path):
    """The live source reads PF_KTHREAD from /proc: a user task's free outside the retire worker,
    shrinker and reclaim is in `ioctl` (the BPF path's word); unknown tasks stay `other`."""
    from tracer.ftrace.mapping import map_trace
    from tracer.ftrace.text import parse_text
    trace = parse_text(TRACE.encode() + (
        "          python-600     [001] .....   100.006000: free: (msm_gem_free_object+0x0/0x1c0 "
        "[msm]) obj=0xffff000030000000 size=8192\n"
        "          python-600     [001] .....   100.006100: free_r: (gs_close+0x10/0x40 [gs] <- "
        "msm_gem_free_object)\n"
        "     kms-commit-700      [000] .....   100.006200: free: (msm_gem_free_object+0x0/0x1c0 "
        "[msm]) obj=0xffff000031000000 size=8192\n"
        "     kms-commit-700      [000] .....   100.006300: free_r: (gs_close+0x10/0x40 [gs] <- "
        "msm_gem_free_object)\n").encode())
    trace.kthreads = {600: False, 300: True}
    m = map_trace(trace)
    fr = m.kinds["free"]
    assert dict(zip(np.asarray(fr["tid"]).tolist(), fr["context"].to_pylist())) == \
        {600: "ioctl", 700: "other"}
    # the retire worker's last put stays retire_worker
    assert m.kinds["last_put"]["context"].to_pylist() == ["retire_worker"]
