"""Symbol tier: the attach plan's msm/drm symbols exist in the REAL Debian arm64 modules.

No Adreno hardware exists here, so this is how we know the plan would attach on a device: the
real arm64 msm.ko and drm.ko of Debian 6.1 and 6.12 (tests/kernel/rig/setup.sh extracts them)
are read with aarch64-linux-gnu-nm, turned into kallsyms text, and fed to the plan itself
(probes.plan.make_plan). vmlinux symbols come from the arm64 Module.symvers (all the ones the
plan needs are exported; Debian's System.map is a stub). Every kprobe/address entry of the msm
and drm layers must then be "attached", or be one whose absence the plan is built to survive.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import require
from tests.kernel import rig_paths

NM = "aarch64-linux-gnu-nm"
# Static helpers that probe-catalog.md §6/§7 expects to be inlined on these builds; the plan
# must not depend on them (test-rig.md: absent from both Debian msm.ko builds).
INLINED = ("update_fences", "put_iova_spaces")
# msm tracepoints the plan uses (catalog §5.1), seen as __tracepoint_<name> data symbols.
MSM_TRACEPOINTS = ("msm_gpu_submit", "msm_gpu_submit_retired", "msm_gem_shrink")
# Entries the plan may lose without losing a question: they only label a stage / vmap scan.
OPTIONAL = {"address:msm:vmap_shrink"}


def _nm(path) -> list[tuple[str, str]]:
    out = subprocess.run([NM, "--defined-only", str(path)], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.append((parts[1], parts[2]))
    return syms


def _kallsyms_text(series: str) -> str:
    """kallsyms lines for vmlinux (exports), drm and msm, as a device would show them."""
    d = rig_paths.arm64_dir(series)
    lines = []
    addr = 0xffff800008000000
    for line in (d / "Module.symvers").read_text().splitlines():
        f = line.split("\t")
        if len(f) >= 3 and f[2] == "vmlinux":
            addr += 16
            lines.append(f"{addr:016x} T {f[1]}")
    for mod in ("drm", "msm"):
        for typ, name in _nm(d / f"{mod}.ko"):
            addr += 16
            lines.append(f"{addr:016x} {typ} {name}\t[{mod}]")
    return "\n".join(lines)


def _have_rig(series: str) -> None:
    d = rig_paths.arm64_dir(series)
    require(shutil.which(NM) is not None, f"{NM} missing: apt-get install binutils-aarch64-linux-gnu")
    require((d / "msm.ko").exists() and (d / "Module.symvers").exists(),
            f"arm64 msm.ko of {series} missing: {rig_paths.SETUP_HINT}")


def _plan(series: str):
    from probes.catalog import SPECS
    from probes.kallsyms import Kallsyms
    from probes.plan import Features, make_plan

    tps = frozenset(s.target for s in SPECS if s.method in ("tracepoint", "raw_tracepoint"))
    release = (rig_paths.arm64_dir(series) / "version").read_text().strip()
    feats = Features(release=release, kprobes=True, ringbuf=True, tracepoints=tps)
    return make_plan(feats, Kallsyms.from_text(_kallsyms_text(series)))


@pytest.mark.parametrize("series", rig_paths.SERIES)
def test_plan_attaches_every_msm_and_drm_symbol(series):
    _have_rig(series)
    plan = _plan(series)
    checked, bad = 0, []
    for name, e in plan.entries.items():
        spec = e.spec
        if spec.method not in ("kprobe", "kretprobe", "address") or not e.applicable:
            continue
        if spec.layer != "msm" and "drm" not in spec.modules and spec.modules != (None,):
            continue
        checked += 1
        if e.status != "attached" and name not in OPTIONAL:
            bad.append(f"{name}: {e.reason}")
        if e.status == "attached" and "msm" in spec.modules:
            assert e.target.startswith("msm:"), f"{name} must attach module-qualified: {e.target}"
    assert checked >= 20, f"only {checked} kernel-function entries checked: catalog changed?"
    assert not bad, f"arm64 {series}: plan entries that would not attach:\n" + "\n".join(bad)


@pytest.mark.parametrize("series", rig_paths.SERIES)
def test_inlined_helpers_absent_and_unused(series):
    """update_fences/put_iova_spaces are inlined in Debian's builds: the plan must not need them."""
    _have_rig(series)
    from probes.catalog import SPECS

    names = {n for _, n in _nm(rig_paths.arm64_dir(series) / "msm.ko")}
    for fn in INLINED:
        assert not any(n == fn or n.startswith(fn + ".") for n in names), f"{fn} is out of line now"
        assert not any(s.target == fn for s in SPECS), f"the plan relies on inlined {fn}"


@pytest.mark.parametrize("series", rig_paths.SERIES)
def test_msm_tracepoints_exist(series):
    _have_rig(series)
    names = {n for _, n in _nm(rig_paths.arm64_dir(series) / "msm.ko")}
    missing = [tp for tp in MSM_TRACEPOINTS if f"__tracepoint_{tp}" not in names]
    assert not missing, f"arm64 {series} msm.ko lacks tracepoints {missing}"


@pytest.mark.parametrize("series", rig_paths.SERIES)
def test_evict_resolves_to_msm_not_vfs(series):
    """`evict` is also fs/inode.c's: the plan must pick msm's copy (catalog B6)."""
    _have_rig(series)
    plan = _plan(series)
    assert plan.entries["kprobe:msm:evict"].target == "msm:evict"


def _has_btf(ko) -> bool:
    out = subprocess.run(["aarch64-linux-gnu-objdump", "-h", str(ko)], capture_output=True,
                         text=True, check=True).stdout
    return any(line.split()[1:2] == [".BTF"] for line in out.splitlines() if line.strip())


@pytest.mark.parametrize("series", rig_paths.SERIES)
def test_lru_scan_layout_covered_on_debian(series):
    """drm_gem_lru_scan's argument positions must be right for Debian's real prototype.

    Debian's 6.1.192 backported `unsigned long *remaining` (the 6.6 signature), which the
    release-number rule gets wrong; the plan then relies on BTF parameter names, so the arm64
    drm.ko must carry BTF (CONFIG_DEBUG_INFO_BTF_MODULES) for that fallback to cover a device."""
    ks = rig_paths.kernels()
    require(ks is not None, f"kernels missing: {rig_paths.SETUP_HINT}")
    _have_rig(series)
    from probes.plan import kernel_version, lru_scan_layout

    abi = ks[series]
    hdrs = list((rig_paths.kernel_root(abi) / "usr" / "src").glob("linux-headers-*-common"))
    require(bool(hdrs), f"headers of {abi} missing: {rig_paths.SETUP_HINT}")
    text = (hdrs[0] / "include" / "drm" / "drm_gem.h").read_text()
    m = re.search(r"unsigned long drm_gem_lru_scan\(([^;]*)\);", text)
    assert m, "drm_gem_lru_scan prototype not found"
    params = tuple(re.findall(r"(\w+)\s*(?:\)\s*\([^)]*\))?\s*(?:,|$)", m.group(1).replace("\n", " ")))
    params = tuple(p for p in params if p not in ("int", "long"))
    assert params == ("lru", "nr_to_scan", "remaining", "shrink"), params
    with_btf = lru_scan_layout(kernel_version(abi), params)
    assert with_btf == {"LRU": 1, "NR": 2, "SHRINK": 4, "REMAINING": 3, "TICKET": 0}
    if lru_scan_layout(kernel_version(abi)) != with_btf:
        assert _has_btf(rig_paths.arm64_dir(series) / "drm.ko"), (
            f"{abi}: the release rule misreads drm_gem_lru_scan and arm64 drm.ko has no BTF")
