"""Where the guest/symbol tiers find what tests/kernel/rig/setup.sh installed (one place to look)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

RIG = Path(__file__).resolve().parent / "rig"
WORK = RIG / "work"
KERNELS_JSON = WORK / "kernels.json"
SERIES = ("6.1", "6.12")
SETUP_HINT = "run tests/kernel/rig/setup.sh (or scripts/setup.sh --test)"


def kernels() -> dict | None:
    """{"6.1": "6.1.0-NN-amd64", "6.12": "...", "arm64": {...}} or None before setup."""
    try:
        return json.loads(KERNELS_JSON.read_text())
    except (OSError, ValueError):
        return None


def arm64_dir(series: str) -> Path:
    return WORK / "arm64" / series


def kernel_root(abi: str) -> Path:
    return WORK / "kernels" / abi


def vng_bin() -> Path:
    return WORK / "vng-venv" / "bin"


def rig_missing() -> str | None:
    """Why the guest tier cannot run here, or None."""
    ks = kernels()
    if ks is None:
        return f"{KERNELS_JSON} missing: {SETUP_HINT}"
    for s in SERIES:
        img = kernel_root(ks[s]) / "boot" / f"vmlinuz-{ks[s]}"
        if not img.exists():
            return f"{img} missing: {SETUP_HINT}"
    if not (vng_bin() / "vng").exists():
        return f"virtme-ng missing in {vng_bin()}: {SETUP_HINT}"
    if not shutil.which("qemu-system-x86_64"):
        return f"qemu-system-x86_64 missing: {SETUP_HINT}"
    return None


def guest_abi(series: str) -> str:
    """The rig's kernel ABI of `series` for a guest test; the test is skipped (failed under
    GEMSCOPE_REQUIRE_KERNEL=1) when the rig is not set up or lacks that kernel."""
    from tests.support import require
    missing = rig_missing()
    require(missing is None, f"QEMU rig not set up ({missing}): tests/kernel/rig/setup.sh")
    abi = (kernels() or {}).get(series)
    require(abi is not None, f"no {series} kernel in the rig")
    return abi
