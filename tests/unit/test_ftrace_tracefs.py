"""tracefs bookkeeping without a kernel: stale-owner cleanup on a fake tracefs tree, and the
kprobe_events lines and probe plan for a given kallsyms."""
from __future__ import annotations

import os
import subprocess

from probes.kallsyms import Kallsyms
from tracer.ftrace.kprobes import definitions, kprobe_line, plan_kprobes
from tracer.ftrace.tracefs import cleanup_stale


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_cleanup_removes_only_dead_owners(tmp_path):
    dead, me = _dead_pid(), os.getpid()
    inst = tmp_path / "instances"
    for name in (f"gemscope-{dead}", f"gemscope-{me}", "someone-else", "gemscope-notapid"):
        (inst / name).mkdir(parents=True)
    (tmp_path / "events").mkdir()
    kp = tmp_path / "kprobe_events"
    kp.write_text(f"p:gemscope_{dead}/free msm:msm_gem_free_object obj=$arg1\n"
                  f"r:gemscope_{dead}/free_r msm:msm_gem_free_object\n"
                  f"p:gemscope_{me}/scan msm:msm_gem_shrinker_scan\n"
                  "p:kprobes/other do_sys_open\n")
    gone = cleanup_stale(str(tmp_path))
    assert gone == [f"instance gemscope-{dead}", f"kprobe group gemscope_{dead}"]
    assert sorted(os.listdir(inst)) == sorted([f"gemscope-{me}", "someone-else",
                                               "gemscope-notapid"])
    # the removal commands appended to kprobe_events, one per event of the dead group only
    assert kp.read_text().splitlines()[4:] == [f"-:gemscope_{dead}/free",
                                               f"-:gemscope_{dead}/free_r"]


KALLSYMS = """\
ffffffc080100000 T ww_mutex_trylock
ffffffc080100100 T ww_mutex_lock
ffffffc080100200 T dma_resv_wait_timeout
ffffffc080200000 T drm_gem_object_free\t[drm]
ffffffc080200100 T drm_gem_lru_scan\t[drm]
ffffffc080300000 t msm_gem_free_object\t[msm]
ffffffc080300100 t msm_gem_shrinker_scan.isra.0\t[msm]
"""


def test_kprobe_plan_module_qualified_and_reasons():
    plan = {d.event: (attach, reason) for d, attach, reason in
            plan_kprobes((6, 12), Kallsyms.from_text(KALLSYMS), True)}
    assert plan["free"] == ("msm:msm_gem_free_object", None)
    assert plan["scan"] == ("msm:msm_gem_shrinker_scan.isra.0", None)
    assert plan["lru"] == ("drm:drm_gem_lru_scan", None)
    assert plan["try"] == ("ww_mutex_trylock", None)
    assert plan["count"][0] is None and "msm_gem_shrinker_count" in plan["count"][1]
    none = plan_kprobes((6, 18), None, False)
    assert all(a is None and "no kprobe_events" in r for _, a, r in none)


def test_kprobe_lines_follow_the_catalog_templates():
    d = {x.event: x for x in definitions((6, 12))}
    assert kprobe_line("gemscope_42", d["scan"], "msm:msm_gem_shrinker_scan") == \
        "p:gemscope_42/scan msm:msm_gem_shrinker_scan nr=+8($arg2):u64 gfp=+0($arg2):x32\n"
    assert kprobe_line("gemscope_42", d["free_r"], "msm:msm_gem_free_object") == \
        "r:gemscope_42/free_r msm:msm_gem_free_object\n"
    g = "gemscope_42"
    assert kprobe_line(g, d["lru"], "drm:drm_gem_lru_scan") == (
        "p:gemscope_42/lru drm:drm_gem_lru_scan lru=$arg1 nr=$arg2:u32 rem=$arg3:x64 "
        "fn=$arg4:symbol\n")
    d61 = {x.event: x for x in definitions((6, 1))}
    assert d61["lru"].fetch == "lru=$arg1 nr=$arg2:u32 fn=$arg3:symbol"
    # BTF parameter names win over the release (Debian's 6.1 backport has `remaining`)
    bt = {x.event: x for x in definitions((6, 1), lru_params=(
        "lru", "nr_to_scan", "remaining", "shrink"))}
    assert bt["lru"].fetch == "lru=$arg1 nr=$arg2:u32 rem=$arg3:x64 fn=$arg4:symbol"
    # without the optional fetch-args (what the live source writes when the kernel refuses them)
    off = {"drm_gem_object.size": 16}
    assert kprobe_line(g, {x.event: x for x in definitions((6, 12), None, off)}["free"],
                       "msm:msm_gem_free_object", extra=False) == \
        "p:gemscope_42/free msm:msm_gem_free_object obj=$arg1\n"
    assert (d["locki"].target, d["locki"].produces) == ("ww_mutex_lock_interruptible", "resv_lock")
    assert kprobe_line(g, d["try"], "ww_mutex_trylock") == \
        "p:gemscope_42/try ww_mutex_trylock lock=$arg1 ctx=$arg2 owner=+0($arg1):x64\n"


def test_kprobe_callers_per_arch_and_sizes_from_btf_offsets():
    """A last put's caller is the return address at entry (x86-64: the word at the stack
    pointer; arm64: the link register); object sizes at BTF offsets, a trylock's relative to the lock
    (&obj->_resv), with the object's resv pointer to check it is the object's own."""
    off = {"drm_gem_object.size": 16, "drm_gem_object.resv": 272, "drm_gem_object._resv": 280}
    x86 = {x.event: x for x in definitions((6, 12), "x86_64", off)}
    arm = {x.event: x for x in definitions((6, 12), "aarch64", off)}
    assert kprobe_line("g", x86["try"], "ww_mutex_trylock") == (
        "p:g/try ww_mutex_trylock lock=$arg1 ctx=$arg2 owner=+0($arg1):x64"
        " size=-264($arg1):u64 back=-8($arg1):x64\n")
    # functions with a kretprobe: the caller comes from the return event, not a fetch-arg;
    # `back` (the object's resv pointer if the lock is an object's _resv) tells reservations
    assert kprobe_line("g", arm["lock"], "ww_mutex_lock") == \
        "p:g/lock ww_mutex_lock lock=$arg1 ctx=$arg2 owner=+0($arg1):x64 back=-8($arg1):x64\n"
    assert kprobe_line("g", x86["locki"], "ww_mutex_lock_interruptible") == (
        "p:g/locki ww_mutex_lock_interruptible lock=$arg1 ctx=$arg2 owner=+0($arg1):x64 "
        "back=-8($arg1):x64\n")
    assert kprobe_line("g", x86["free"], "msm:msm_gem_free_object") == \
        "p:g/free msm:msm_gem_free_object obj=$arg1 size=+16($arg1):u64\n"
    assert kprobe_line("g", arm["lastput"], "drm:drm_gem_object_free") == \
        "p:g/lastput drm:drm_gem_object_free obj=$arg1 size=+16($arg1):u64 caller=%x30:x64\n"
    riscv = {x.event: x for x in definitions((6, 12), "riscv64")}
    assert kprobe_line("g", riscv["lastput"], "drm_gem_object_free") == \
        "p:g/lastput drm_gem_object_free obj=$arg1\n"


def test_kprobe_events_text_for_writing_by_hand():
    """`gemscope probes kprobe-events`: the lines record --backend ftrace writes, group
    `gemscope`, a probe this kernel lacks as a comment with the reason."""
    from tracer.ftrace.kprobes import kprobe_events_text
    off = {"drm_gem_object.size": 16, "drm_gem_object.resv": 272, "drm_gem_object._resv": 280}
    text = kprobe_events_text((6, 12), Kallsyms.from_text(KALLSYMS), "x86_64", off, None)
    lines = text.splitlines()
    assert "p:gemscope/free msm:msm_gem_free_object obj=$arg1 size=+16($arg1):u64" in lines
    assert "p:gemscope/lock ww_mutex_lock lock=$arg1 ctx=$arg2 owner=+0($arg1):x64 " \
        "back=-8($arg1):x64" in lines
    missing = [x for x in lines if x.startswith("#")]
    assert [x.split()[1] for x in missing] == ["p:gemscope/count", "r:gemscope/count_r",
                                               "p:gemscope/locki", "r:gemscope/locki_r",
                                               "p:gemscope/unlock"]
    assert all("not on this kernel" in x for x in missing)
    assert len(lines) == 18      # one per kprobe definition


def test_probes_kprobe_events_command_runs_here(capsys):
    from tracer.cli import main
    assert main(["probes", "kprobe-events"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all(x.startswith(("p:gemscope/", "r:gemscope/", "# ")) for x in out)
