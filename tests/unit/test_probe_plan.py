"""The attach plan on kallsyms fixtures of real-looking kernels (pure, no root, no BPF)."""
from __future__ import annotations

from pathlib import Path


from probes.catalog import SPECS
from probes.kallsyms import Kallsyms, base_name, parse
from probes.plan import KPROBES_UNAVAILABLE, Features, lru_scan_layout, make_plan

FIX = Path(__file__).parent / "fixtures" / "kallsyms"
ALL_TP = frozenset({
    "lock:contention_begin", "lock:contention_end", "vmscan:mm_shrink_slab_start",
    "vmscan:mm_shrink_slab_end", "vmscan:mm_vmscan_direct_reclaim_begin",
    "vmscan:mm_vmscan_direct_reclaim_end", "dma_fence:dma_fence_signaled",
    "sched:sched_kthread_work_queue_work", "sched:sched_kthread_work_execute_start",
    "sched:sched_kthread_work_execute_end"})
MSM_TP = frozenset({"drm_msm_gpu:msm_gpu_submit", "drm_msm_gpu:msm_gpu_submit_retired",
                    "drm_msm_gpu:msm_gem_shrink"})


def ks(name: str) -> Kallsyms:
    return Kallsyms.from_text((FIX / name).read_text())


def test_base_name_strips_compiler_clone_suffixes():
    assert base_name("purge.isra.0") == "purge"
    assert base_name("purge.constprop.0.isra.0") == "purge"
    assert base_name("msm_gem_free_object.llvm.8812771209442312") == "msm_gem_free_object"
    assert base_name("ww_mutex_lock") == "ww_mutex_lock"


def test_parse_reads_module_column():
    syms = parse("ffffffc000c11200 t purge\t[msm]\nffffffc008321000 t evict\nbad line\n")
    assert [(s.name, s.module, s.addr) for s in syms] == [
        ("purge", "msm", 0xffffffc000c11200), ("evict", None, 0xffffffc008321000)]


def test_resolve_is_module_qualified_never_ambiguous():
    k = ks("arm64-6.1-msm.txt")
    r = k.resolve("purge", ("msm",))
    assert r.symbol.attach_name == "msm:purge" and r.symbol.addr == 0xffffffc000c11200
    r = k.resolve("evict", ("msm",))
    assert r.symbol.attach_name == "msm:evict" and r.symbol.addr == 0xffffffc000c11300
    # drm symbol found in the drm module first, vmlinux symbol has no prefix
    assert k.resolve("drm_gem_lru_scan", ("drm", None)).symbol.attach_name == "drm:drm_gem_lru_scan"
    assert k.resolve("ww_mutex_lock", (None,)).symbol.attach_name == "ww_mutex_lock"


def test_resolve_clones_and_lto_suffixes_but_not_cold_parts():
    k = ks("arm64-6.6-lto.txt")
    r = k.resolve("msm_gem_shrinker_scan", ("msm",))
    assert r.symbol.name == "msm_gem_shrinker_scan.llvm.1199"
    assert r.symbol.addr == 0xffffffc07ac11100 and r.candidates == 1
    assert k.resolve("purge", ("msm",)).symbol.attach_name == "msm:purge.llvm.1199"
    assert ks("arm64-6.12-msm.txt").resolve("purge", ("msm",)).symbol.attach_name == \
        "msm:purge.isra.0"


def test_hidden_addresses_are_reported():
    k = Kallsyms.from_text("0000000000000000 T ww_mutex_lock\n")
    assert k.resolve("ww_mutex_lock", (None,)).reason == "kallsyms addresses are hidden (run as root)"


def test_lru_scan_layout_per_version_and_btf():
    assert lru_scan_layout((6, 1)) == {"LRU": 1, "NR": 2, "SHRINK": 3, "REMAINING": 0, "TICKET": 0}
    assert lru_scan_layout((6, 6)) == {"LRU": 1, "NR": 2, "SHRINK": 4, "REMAINING": 3, "TICKET": 0}
    assert lru_scan_layout((6, 12))["SHRINK"] == 4
    assert lru_scan_layout((6, 19)) == {"LRU": 1, "NR": 2, "SHRINK": 4, "REMAINING": 3, "TICKET": 5}
    assert lru_scan_layout((5, 15)) is None
    newest = ("dev", "lru", "nr_to_scan", "remaining", "shrink", "ticket")
    assert lru_scan_layout((6, 19), newest) == {"LRU": 2, "NR": 3, "SHRINK": 5, "REMAINING": 4,
                                                "TICKET": 6}


def test_plan_6_1_arm64_msm_attaches_everything_with_6_1_lru_layout():
    f = Features("6.1.0-56-arm64", kprobes=True, ringbuf=True, tracepoints=ALL_TP | MSM_TP)
    plan = make_plan(f, ks("arm64-6.1-msm.txt"))
    e = plan.entries
    assert e["kprobe:msm:purge"].target == "msm:purge"
    assert e["kprobe:msm:evict"].target == "msm:evict"
    assert e["kretprobe:msm:msm_gem_free_object"].status == "attached"
    assert e["kprobe:drm:drm_gem_object_free"].target == "drm:drm_gem_object_free"
    assert e["kprobe:mutex_trylock"].applicable is False   # v5.15 only
    d = plan.defines
    assert (d["GS_LRU_ARG_LRU"], d["GS_LRU_ARG_NR"], d["GS_LRU_ARG_SHRINK"],
            d["GS_LRU_ARG_REMAINING"]) == (1, 2, 3, 0)
    assert d["GS_FN_PURGE"] == 0xffffffc000c11200 and d["GS_FN_EVICT"] == 0xffffffc000c11300
    assert d["GS_FN_RETIRE_WORKER"] == 0xffffffc000c12000
    assert d["GS_FN_SHRINKER_SCAN"] == 0xffffffc000c11100
    assert d["GS_KPROBES"] is True and d["GS_MSM"] is True and d["GS_RINGBUF"] is True
    assert "GS_CONTENTION_ALL" not in d   # the resv registry filters contention
    assert plan.unanswerable() == {}
    assert {"free", "lru_scan", "resv_trylock", "retire_run", "gpu_retired"} <= \
        set(plan.recorded_kinds())


def test_plan_6_12_arm64_uses_remaining_argument():
    f = Features("6.12.95-arm64", kprobes=True, ringbuf=True, tracepoints=ALL_TP | MSM_TP)
    plan = make_plan(f, ks("arm64-6.12-msm.txt"))
    assert plan.defines["GS_LRU_ARG_REMAINING"] == 3 and plan.defines["GS_LRU_ARG_SHRINK"] == 4
    assert plan.entries["kprobe:msm:purge"].target == "msm:purge.isra.0"
    assert plan.entries["kprobe:msm:msm_gpu_retire"].status == "attached"


def test_plan_lto_build_resolves_llvm_names():
    f = Features("6.6.30", kprobes=True, ringbuf=True, tracepoints=ALL_TP | MSM_TP)
    plan = make_plan(f, ks("arm64-6.6-lto.txt"))
    assert plan.entries["kprobe:msm:msm_gem_free_object"].target == \
        "msm:msm_gem_free_object.llvm.8812771209442312"
    assert plan.defines["GS_FN_RETIRE_WORKER"] == 0xffffffc07ac12000
    # vmap_shrink is absent in that build: only its stage name is lost
    assert plan.entries["address:msm:vmap_shrink"].status == "missing"
    assert "lru_scan" in plan.recorded_kinds()


def test_plan_x86_host_without_kprobes_or_msm():
    f = Features("6.18.44", kprobes=False, ringbuf=True,
                 tracepoints=ALL_TP, kprobes_detail="no kprobe_events")
    plan = make_plan(f, ks("x86-6.18-host.txt"))
    e = plan.entries
    for name, entry in e.items():
        if entry.spec.method in ("kprobe", "kretprobe") and entry.applicable:
            assert (entry.status, entry.reason) == ("missing", KPROBES_UNAVAILABLE), name
    assert e["raw_tracepoint:lock:contention_begin"].status == "attached"
    assert e["tracepoint:vmscan:mm_shrink_slab_start"].status == "attached"
    assert e["address:msm:retire_worker"].reason == "module msm not loaded"
    assert e["tracepoint:sched:sched_kthread_work_execute_start"].status == "missing"
    assert e["tracepoint:drm_msm_gpu:msm_gpu_submit"].reason == \
        "tracepoint drm_msm_gpu:msm_gpu_submit absent"
    assert plan.recorded_kinds() == ["direct_reclaim", "fence_signal", "lock_contention", "lost",
                                     "probe_status", "shrink_slab", "stack"]
    d = plan.defines
    assert d["GS_CONTENTION_ALL"] is True and "GS_KPROBES" not in d and "GS_MSM" not in d
    assert {"GS_TP_CONTENTION", "GS_TP_SHRINK_SLAB", "GS_TP_DIRECT_RECLAIM",
            "GS_TP_FENCE_SIGNALED"} <= set(d)
    assert sorted(plan.unanswerable()) == ["Q2", "Q3", "Q4", "Q5", "Q6"]
    meta = plan.to_meta()
    assert meta["kprobe:ww_mutex_lock"] == {"status": "missing", "reason": KPROBES_UNAVAILABLE,
                                            "kinds": ["resv_lock", "resv_hold"], "target": None,
                                            "method": None,
                                            "method_reason": "no fentry: fentry unavailable"}


def test_plan_pairs_tracepoints():
    f = Features("6.1.0", kprobes=False, ringbuf=True,
                 tracepoints=ALL_TP - {"lock:contention_end"})
    plan = make_plan(f, ks("x86-6.18-host.txt"))
    b = plan.entries["raw_tracepoint:lock:contention_begin"]
    assert (b.status, b.reason) == ("missing", "its pair lock:contention_end is absent")
    assert "GS_TP_CONTENTION" not in plan.defines


def test_every_spec_function_exists_in_the_program():
    from probes.program import source_text
    text = source_text()
    for s in SPECS:
        if s.fn:
            assert f"int {s.fn}(" in text, s.fn


# ---- the attach ladder: fentry where it loads, else kprobes, else missing ----
LOCK_FNS = ("ww_mutex_lock", "ww_mutex_lock_interruptible", "ww_mutex_trylock", "ww_mutex_unlock",
            "dma_resv_init", "dma_resv_fini")


def test_plan_puts_vmlinux_lock_functions_on_fentry_and_module_functions_on_kprobes():
    # the test load worked on every lock function except ww_mutex_trylock
    f = Features("6.12.95", kprobes=True, ringbuf=True, tracepoints=ALL_TP | MSM_TP, fentry=True,
                 fentry_funcs=frozenset(LOCK_FNS) - {"ww_mutex_trylock"})
    plan = make_plan(f, ks("arm64-6.12-msm.txt"))
    e = plan.entries
    rungs = {n: (x.method, x.method_reason) for n, x in e.items()
             if x.spec.method in ("kprobe", "kretprobe") and x.status == "attached"}
    assert rungs["kprobe:ww_mutex_lock"] == ("fentry", None)
    assert rungs["kretprobe:ww_mutex_lock"] == ("fexit", None)
    assert rungs["kprobe:ww_mutex_lock_interruptible"] == ("fentry", None)
    assert rungs["kretprobe:ww_mutex_lock_interruptible"] == ("fexit", None)
    assert rungs["kprobe:ww_mutex_unlock"] == ("fentry", None)
    assert rungs["kprobe:dma_resv_init"] == ("fentry", None)
    assert rungs["kprobe:ww_mutex_trylock"] == (
        "kprobe", "no fentry: a test fentry program did not load on ww_mutex_trylock")
    assert rungs["kretprobe:ww_mutex_trylock"][0] == "kretprobe"
    assert rungs["kprobe:drm:drm_gem_object_free"] == (
        "kprobe", "no fentry: the program has no fentry front-end for this function")
    assert rungs["kretprobe:msm:msm_gem_free_object"][0] == "kretprobe"
    fentry = sorted(n for n, (m, _) in rungs.items() if m in ("fentry", "fexit"))
    assert fentry == ["kprobe:dma_resv_fini", "kprobe:dma_resv_init", "kprobe:ww_mutex_lock",
                      "kprobe:ww_mutex_lock_interruptible", "kprobe:ww_mutex_unlock",
                      "kretprobe:ww_mutex_lock", "kretprobe:ww_mutex_lock_interruptible"]
    d = plan.defines
    assert {k for k in d if k.startswith("GS_FENTRY")} == {
        "GS_FENTRY", "GS_FENTRY_ww_mutex_lock", "GS_FENTRY_ww_mutex_lock_interruptible",
        "GS_FENTRY_ww_mutex_unlock", "GS_FENTRY_dma_resv_init", "GS_FENTRY_dma_resv_fini"}
    assert d["GS_KPROBES"] is True and d["GS_MSM"] is True   # trylock and msm stay on kprobes
    assert [x.spec.name for x in plan.attachable("fexit")] == [
        "kretprobe:ww_mutex_lock", "kretprobe:ww_mutex_lock_interruptible"]
    meta = plan.to_meta()["kretprobe:ww_mutex_lock"]
    assert (meta["status"], meta["method"], meta["method_reason"]) == ("attached", "fexit", None)
    assert "resv_lock" in plan.recorded_kinds() and "free" in plan.recorded_kinds()


def test_fentry_without_kprobes_keeps_the_lock_probes_and_loses_the_rest():
    f = Features("6.12.95", kprobes=False, ringbuf=True, tracepoints=ALL_TP, fentry=True,
                 fentry_funcs=frozenset(LOCK_FNS), kprobes_detail="no kprobe_events")
    plan = make_plan(f, ks("arm64-6.12-msm.txt"))
    e = plan.entries
    assert (e["kprobe:ww_mutex_trylock"].status, e["kprobe:ww_mutex_trylock"].method) == \
        ("attached", "fentry")
    assert (e["kprobe:msm:msm_gem_free_object"].status, e["kprobe:msm:msm_gem_free_object"].reason,
            e["kprobe:msm:msm_gem_free_object"].method_reason) == \
        ("missing", KPROBES_UNAVAILABLE,
         "no fentry: the program has no fentry front-end for this function")
    d = plan.defines
    assert "GS_KPROBES" not in d and "GS_MSM" not in d and d["GS_FENTRY_ww_mutex_trylock"]
    assert d["GS_FENTRY"] is True and "GS_CONTENTION_ALL" not in d   # the registry is there
    assert {"resv_lock", "resv_trylock", "resv_hold"} <= set(plan.recorded_kinds())
    assert "free" not in plan.recorded_kinds()


def test_fentry_refused_for_module_functions_clones_and_an_unavailable_kernel():
    from probes.catalog import SPECS as ALL
    from probes.kallsyms import Symbol
    from probes.plan import fentry_refusal
    spec = next(s for s in ALL if s.name == "kprobe:ww_mutex_lock")
    on = Features("6.12.95", kprobes=True, ringbuf=True, tracepoints=ALL_TP, fentry=True,
                  fentry_funcs=frozenset(LOCK_FNS))
    assert fentry_refusal(spec, on, Symbol(1, "T", "ww_mutex_lock", None)) is None
    assert fentry_refusal(spec, on, Symbol(1, "t", "ww_mutex_lock", "drm")) == \
        "drm module function: BCC 0.26 attaches fentry to vmlinux functions only"
    assert fentry_refusal(spec, on, Symbol(1, "t", "ww_mutex_lock.isra.0", None)) == \
        "only the compiler clone ww_mutex_lock.isra.0 exists"
    off = Features("6.12.95", kprobes=True, ringbuf=True, tracepoints=ALL_TP,
                   fentry_detail="a test fentry program did not load: ww_mutex_lock: load: "
                                 "EPERM (Operation not permitted)")
    assert fentry_refusal(spec, off, Symbol(1, "T", "ww_mutex_lock", None)) == off.fentry_detail
    plan = make_plan(off, ks("arm64-6.12-msm.txt"))
    x = plan.entries["kprobe:ww_mutex_lock"]
    assert (x.status, x.method, x.method_reason) == \
        ("attached", "kprobe", "no fentry: " + off.fentry_detail)
    assert not any(k.startswith("GS_FENTRY") for k in plan.defines)
