"""ftrace text import: exact values on a hand-written text that follows the real print fmts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracer.importers import ImportFormatError, import_file, open_any, to_frames
from tracer.ftrace.text import parse_text

DATA = Path(__file__).resolve().parent.parent / "data"
HAND = DATA / "handwritten-ftrace.txt"


@pytest.fixture(scope="module")
def hand():
    return import_file(str(HAND))


def col(imported, kind, name):
    v = imported.mapped.kinds[kind][name]
    return v.tolist() if hasattr(v, "tolist") else v.to_pylist()


def test_accounting_is_balanced(hand):
    acc = hand.meta["import_accounting"]
    assert acc["events_in"] == 30
    assert acc["bad"] == 2 and acc["bad_lines_first"] == [16, 28]
    assert acc["generic"] == 3
    assert acc["unpaired_begins"] == {"lock_contention": 1}
    assert acc["unmatched_ends"] == {"lock_contention": 1}
    assert acc["merged_begins"] == {"lock_contention": 1}
    assert acc["unreadable_payloads"] == {"msm_gpu_submit": 1}
    assert acc["mapped_inputs"] == 23
    assert acc["balanced"] is True
    assert acc["lost_events"] == 17


def test_lock_contention_pairs_spin_then_sleep(hand):
    order = sorted(range(2), key=lambda i: col(hand, "lock_contention", "ts_ns")[i])
    get = lambda n: [col(hand, "lock_contention", n)[i] for i in order]  # noqa: E731
    assert get("ts_ns") == [100_000_100_000, 100_000_500_000]
    assert get("duration_ns") == [300_000, 10_000]
    assert get("flags") == [33, 1]                     # SPIN|MUTEX then MUTEX -> OR
    assert get("ret") == [0, -35]
    assert get("tid") == [2345, 77]
    assert get("comm") == ["GPU Process", "kworker/u8:2-events"]   # spaces and dashes
    assert get("lock_addr") == [0xffff000010000000, 0xffff000020000000]
    assert get("cpu") == [1, 0]


def test_reclaim_shrinker_and_free_context(hand):
    assert col(hand, "direct_reclaim", "duration_ns") == [400_000]
    assert col(hand, "direct_reclaim", "gfp_flags") == [0xCC0 | 1 << 18]   # GFP_KERNEL|__GFP_COMP
    assert col(hand, "direct_reclaim", "order") == [2]
    assert col(hand, "direct_reclaim", "nr_reclaimed_pages") == [150]
    assert col(hand, "direct_reclaim", "comm") == ["app: main-thread"]     # colon and space
    assert col(hand, "shrink_slab", "shrinker") == ["msm_gem_shrinker_scan"]
    assert col(hand, "shrink_slab", "freed_pages") == [96]
    assert col(hand, "shrink_slab", "count_pages") == [512]
    assert col(hand, "shrink_slab", "nr_to_scan_pages") == [128]
    scans = sorted(zip(col(hand, "shrink_scan", "ts_ns"), col(hand, "shrink_scan", "freed_pages"),
                       col(hand, "shrink_scan", "reclaim_kind"),
                       col(hand, "shrink_scan", "nr_to_scan_pages")))
    # the msm shrink_slab is not a second shrink_scan when the scan kprobes recorded scans
    assert scans == [(100_002_900_000, None, "kswapd", 64)]
    assert col(hand, "free", "obj_addr") == [0xffff000030000000]
    assert col(hand, "free", "size_bytes") == [65536]
    assert col(hand, "free", "duration_ns") == [60_000]
    assert col(hand, "free", "context") == ["shrinker"]
    assert col(hand, "free", "in_reclaim") == [True]


def test_kprobes_trylock_and_lru(hand):
    assert col(hand, "resv_trylock", "success") == [False]
    assert col(hand, "resv_trylock", "lock_addr") == [0xffff000060000000]
    assert col(hand, "resv_trylock", "ctx_addr") == [0]
    assert col(hand, "resv_trylock", "context") == ["shrinker"]
    assert col(hand, "resv_trylock", "api") == ["ww_mutex_trylock"]
    assert col(hand, "lru_scan", "stage") == ["purge"]
    assert col(hand, "lru_scan", "freed_pages") == [10]
    assert col(hand, "lru_scan", "duration_ns") == [30_000]
    assert col(hand, "lru_scan", "lru_addr") == [0xffff000080000000]


def test_retire_gpu_and_fences(hand):
    assert col(hand, "retire_run", "duration_ns") == [250_000]
    assert col(hand, "retire_run", "queue_delay_ns") == [50_000]
    assert col(hand, "retire_run", "submits_retired") == [1]
    assert col(hand, "retire_run", "pid") == [300]                 # tgid column
    assert col(hand, "gpu_retired", "seqno") == [42]
    assert col(hand, "gpu_retired", "gpu_elapsed_ns") == [1_500_000]
    assert col(hand, "gpu_retired", "gpu_clock_mhz") == [587]
    assert col(hand, "gpu_retired", "end_ticks") == [29800]
    assert col(hand, "gpu_submit", "nr_bos") == [12] and col(hand, "gpu_submit", "nr_cmds") == [3]
    assert col(hand, "fence_signal", "timeline") == ["gpu-ring-0"]
    assert col(hand, "fence_signal", "fence_context") == [5]
    assert col(hand, "shrink_tp", "evicted_pages") == [20]
    assert col(hand, "shrink_tp", "active_evicted_pages") == [5]


def test_unknown_and_unreadable_events_stay_generic(hand):
    names = col(hand, "generic", "event_name")
    assert sorted(names) == ["msm_gpu_submit", "sched_kthread_work_queue_work", "sched_switch"]
    payload = dict(zip(names, col(hand, "generic", "payload")))
    assert payload["msm_gpu_submit"] == "garbled"
    assert payload["sched_switch"].startswith("prev_comm=swapper/0 prev_pid=0")
    assert col(hand, "lost", "lost_count") == [17]


def test_header_variants_parse_the_same():
    plain = b"   bash-1-2-3  [003]  5.000001: contention_end: 0xff (ret=0)\n"
    tgid = b"   bash-1-2-3  (    77) [003] d.h2.  5.000001: contention_end: 0xff (ret=0)\n"
    inst = b"inst-a:   bash-1-2-3  [003]  5.000001: contention_end: 0xff (ret=0)\n"
    for text, want_tgid in ((plain, None), (tgid, 77), (inst, None)):
        t = parse_text(text)
        g = t.groups["contention_end"]
        assert (g.ts.tolist(), g.cpu.tolist(), g.tid.tolist(), g.comm.to_pylist()) == \
            ([5_000_001_000], [3], [3], ["bash-1-2"])
        assert (None if g.tgid is None else g.tgid.tolist()[0]) == want_tgid


def test_nanosecond_and_counter_timestamps():
    t = parse_text(b"x-1 [000] 12.123456789: contention_end: 0x1 (ret=0)\n"
                   b"x-1 [000] 987654321: contention_end: 0x1 (ret=0)\r\n")
    assert t.groups["contention_end"].ts.tolist() == [12_123_456_789, 987_654_321]


def test_import_cli_writes_recording_and_report_opens_text(tmp_path):
    out = tmp_path / "hand.gsrec"
    r = subprocess.run([sys.executable, "-m", "tracer", "import", str(HAND), "-o", str(out)],
                       capture_output=True, text=True, cwd=DATA.parent.parent)
    if r.returncode and "No module named tracer.__main__" in r.stderr:
        from tracer.cli import main
        assert main(["import", str(HAND), "-o", str(out)]) == 0
    else:
        assert r.returncode == 0, r.stderr
        assert "bad lines  2 (first at lines 16, 28)" in r.stdout
    from tracer.frames import load_frames
    f = load_frames(str(out))
    assert len(f["lock_contention"]) == 2 and len(f["generic"]) == 3
    assert f.meta["import_accounting"]["balanced"] is True
    frames = open_any(HAND)
    assert len(frames["retire_run"]) == 1 and frames.recorded("lock_contention")
    assert open_any(out) == str(out)


def test_errors_are_one_line(tmp_path):
    with pytest.raises(ImportFormatError, match="no such file"):
        import_file(str(tmp_path / "missing.txt"))
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\nworld\n")
    with pytest.raises(ImportFormatError, match="first at line 1"):
        import_file(str(junk))
    binary = tmp_path / "bin"
    binary.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(ImportFormatError, match="binary data"):
        import_file(str(binary))


def test_to_frames_has_declared_columns(hand):
    f = to_frames(hand)
    assert list(f["free"].columns)[:5] == ["ts_ns", "cpu", "pid", "tid", "comm"]
    assert f["free"]["size_bytes"].tolist() == [65536]


# the kernel's "<stack trace>" lines with "=>" frames, and trace-cmd's kernel_stack event
STACK_TEXT = (b"   bash-5 [001] d..1.  1.000001: contention_begin: 0x10 (flags=SPIN)\n"
              b"   init-1 [000] d..1.  1.000001: contention_begin: 0x20 (flags=SPIN)\n"
              b"   bash-5 [001] d..1.  1.000002: <stack trace>\n"
              b" => __pv_queued_spin_lock_slowpath\n"
              b" => _raw_spin_lock+0x3b\n"
              b"   bash-5 [001] d..1.  1.000009: contention_end: 0x10 (ret=0)\n"
              b"   init-1 [000] d..1.  1.000010: contention_end: 0x20 (ret=0)\n"
              b"   init-1 [000] 1.000011: kernel_stack:         <stack trace >\n"
              b"=> foo (ffffffff81000010)\n")


def test_stack_trace_lines_attach_to_the_event_before_them():
    from tracer.ftrace.mapping import map_trace
    text = STACK_TEXT
    t = parse_text(text)
    assert t.bad_count == 0 and t.meta["import_stack_text_lines"] == 3
    assert t.events_in == 6
    m = map_trace(t)
    assert m.accounting["balanced"] and m.accounting["mapped_inputs"] == 6
    lc = m.kinds["lock_contention"]
    by_lock = dict(zip(lc["lock_addr"].to_pylist(), lc["stack_id"].to_pylist()))
    frames = dict(zip(m.kinds["stack"]["stack_id"].to_pylist(),
                      m.kinds["stack"]["frames"].to_pylist()))
    # the kernel's text: the stack follows its event on CPU 1 (another CPU's line in between)
    assert frames[by_lock[0x10]] == "__pv_queued_spin_lock_slowpath\n_raw_spin_lock+0x3b"
    # a trace-cmd kernel_stack line after the end: attached to the end, not to the wait
    assert by_lock[0x20] is None and "foo" in frames.values()


def test_msm_shrink_slab_becomes_shrink_scan_without_kprobes():
    from tracer.ftrace.mapping import map_trace
    lines = [line for line in HAND.read_bytes().splitlines(keepends=True)
             if b"mm_shrink_slab" in line]
    m = map_trace(parse_text(b"".join(lines)))
    sc = m.kinds["shrink_scan"]
    assert sc["ts_ns"].tolist() == [100_001_100_000]
    assert sc["freed_pages"].to_pylist() == [96]
    assert sc["nr_to_scan_pages"].to_pylist() == [128]
    assert sc["reclaim_kind"].to_pylist() == ["direct"]
    assert sc["duration_ns"].tolist() == [200_000]


def test_progress_bar_only_on_a_terminal(capsys):
    from tracer.importers import _Progress
    quiet = _Progress("gemscope import")          # pytest's stderr is not a TTY
    import_file(str(HAND), quiet)
    assert capsys.readouterr().err == ""
    loud = _Progress("gemscope import", enabled=True)
    import_file(str(HAND), loud)
    err = capsys.readouterr().err
    assert err.endswith("[##############################] 100.0%\n")
    assert err.startswith("\rgemscope import [")
