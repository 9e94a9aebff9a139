"""Run a Python script inside a Debian kernel under QEMU/TCG (virtme-ng) and collect its results.

The guest sees the host's root file system read-only over 9p (so the project, its venv, BCC and
the extracted kernel trees are all there) and one read/write directory, mounted at the same path,
where the script leaves its results. vng's output is piped, never redirected to a file (QEMU
reopens and truncates a regular file), and kept so that a failure can show the console's tail.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.kernel import rig_paths

ROOT = Path(__file__).resolve().parents[2]
KMOD = ROOT / "tests" / "kmod"


class GuestError(RuntimeError):
    """The guest could not be run or its script failed; the message carries the console tail."""


@dataclass
class GuestRun:
    abi: str
    returncode: int
    console: str
    seconds: float
    results: Path

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.console.splitlines()[-n:])


def build_module(abi: str) -> Path:
    """Build tests/kmod for this kernel (cached); returns the msm.ko path."""
    p = subprocess.run([str(KMOD / "build.sh"), abi], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise GuestError(f"module build for {abi} failed:\n{p.stderr[-3000:]}")
    return Path(p.stdout.strip().splitlines()[-1])


def vng_command(abi: str, script: str, rwdir: Path, *, cpus: int = 2, memory: str = "2G") -> list[str]:
    kimg = rig_paths.kernel_root(abi) / "boot" / f"vmlinuz-{abi}"
    return [str(rig_paths.vng_bin() / "vng"), "--run", str(kimg), "--disable-kvm", "--force-9p",
            "--cpus", str(cpus), "--memory", memory, "--rwdir", str(rwdir),
            "--exec", script]


def run_guest_script(abi: str, script: Path, args: list[str], results: Path, *,
                     timeout: float = 600) -> GuestRun:
    """Boot `abi`, run `<venv python> script args...` as root in the guest, power off.

    `results` (created, host path) is the guest's writable directory at the same path. Raises
    GuestError on timeout or when the script's exit status is not 0, with the console tail."""
    missing = rig_paths.rig_missing()
    if missing:
        raise GuestError(missing)
    results.mkdir(parents=True, exist_ok=True)
    py = ROOT / ".venv" / "bin" / "python"
    inner = " ".join([f"PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={shlex.quote(str(ROOT))}",
                      shlex.quote(str(py)), shlex.quote(str(script)),
                      *(shlex.quote(a) for a in args), "; echo GS_GUEST_EXIT=$?"])
    env = dict(os.environ)
    env["PATH"] = f"{rig_paths.vng_bin()}:{env.get('PATH', '/usr/bin:/bin')}"
    cmd = vng_command(abi, inner, results)
    for attempt in (1, 2):
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", env=env, cwd=str(ROOT), start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, _ = proc.communicate()
            run = GuestRun(abi, -9, out, time.monotonic() - t0, results)
            raise GuestError(f"guest {abi} timed out after {timeout:.0f} s; console tail:\n"
                             f"{run.tail()}")
        # vng exited without a line of output (seen once in CI: exit 255 for 6.12 right after
        # the 6.1 boot, empty console; not reproduced): not even the script's first output
        # came back, so boot it once more; the retry is written at the top of console.txt
        if out.strip() or proc.returncode == 0 or attempt == 2:
            break
        note = (f"guest {abi}: vng exited {proc.returncode} after "
                f"{time.monotonic() - t0:.1f} s without output; booting again\n")
        print(note, end="", file=sys.stderr)
    if attempt == 2:
        out = note + out      # the retry stays visible in console.txt and in any error
    run = GuestRun(abi, proc.returncode, out, time.monotonic() - t0, results)
    (results / "console.txt").write_text(out)
    status = None
    for line in out.splitlines():
        if line.startswith("GS_GUEST_EXIT="):
            status = int(line.split("=", 1)[1].strip() or -1)
    if status is None:
        raise GuestError(f"guest {abi} never finished the script (vng exit {proc.returncode}); "
                         f"console tail:\n{run.tail()}")
    if status != 0:
        raise GuestError(f"guest script failed in {abi} (exit {status}); console tail:\n{run.tail()}")
    return run


if __name__ == "__main__":
    # manual use: python -m tests.kernel.guest <abi> <script> [args]; the guest may write only
    # under /tmp/gs-guest (the rwdir; vng's /tmp overlay in the guest is discarded at exit)
    r = run_guest_script(sys.argv[1], Path(sys.argv[2]), sys.argv[3:], Path("/tmp/gs-guest"))
    print(r.tail(80))
