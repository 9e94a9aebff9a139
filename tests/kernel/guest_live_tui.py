"""Run INSIDE the QEMU guest (by test_guest_live_tui.py): the real `gemscope live` TUI in tmux.

A user's session, key by key: `gemscope live -o live.gsrec` opens in a tmux pane (its BPF program
compiled and attached before the first frame); `0` widens the window to the whole session; the
ground-truth module runs its workload; then each view (keys 2-6) is shown until its headline
numbers equal the module's counters (or a timeout), and its screen is saved; `q` quits. The host
side test compares the saved screens with the counters and checks the recording and that no
probe was left behind.

Writes live.json (screens per view, counters, exit status, kprobes left) into the results dir.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.kernel import guest_scenario as gs  # noqa: E402

SOCKET = "gemscope-live"
SESSION = "live"
KPROBES_LIST = Path("/sys/kernel/debug/kprobes/list")
# view key -> (view, {headline key: module counter}) : what each view must come to show
VIEWS = {
    "2": ("contention", {"resv_lock_calls": "resv_lock_calls", "resv_waits": "resv_waits"}),
    "3": ("trylock", {"trylocks": "trylocks", "trylock_failures": "trylock_failures"}),
    "4": ("finalizers", {"frees": "frees"}),
    "5": ("retire", {"retire_runs": "retire_runs"}),
    "6": ("shrinker", {"scans": "scans", "counts": "counts", "freed_pages": "freed_pages"}),
}
_ROW = re.compile(r"^\s+([a-z][a-z0-9_]*)\s{2,}(\S.*?)\s*$")


def headline_rows(screen: str) -> dict[str, str]:
    """`  key    value` rows of a screen (the first row per key: headlines come before tables)."""
    rows: dict[str, str] = {}
    for line in screen.splitlines():
        m = _ROW.match(line)
        if m and m.group(1) not in rows:
            rows[m.group(1)] = m.group(2)
    return rows


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args], capture_output=True,
                          text=True, timeout=30).stdout


def screen() -> str:
    return tmux("capture-pane", "-t", SESSION, "-p")


def key(k: str) -> None:
    tmux("send-keys", "-t", SESSION, k)
    time.sleep(0.5)


def wait_screen(pred, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    s = screen()
    while not pred(s) and time.monotonic() < deadline:
        time.sleep(0.5)
        s = screen()
    return s


def main() -> int:
    res, kmod, params, hold = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    out: dict = {"views": {}}
    gs.sh("modprobe drm")
    gs.sh(f"insmod {kmod} " + " ".join(f"{k}={v}" for k, v in params.items()))
    rec, exitf = res / "live.gsrec", res / "live.exit"
    cmd = (f"cd {ROOT} && env -u COLUMNS -u LINES {ROOT}/.venv/bin/gemscope live "
           f"-o {rec}; echo $? > {exitf}; sleep 600")   # the pane stays for a failure's text
    tmux("new-session", "-d", "-s", SESSION, "-x", "200", "-y", "120", cmd)
    t0 = time.monotonic()
    s = wait_screen(lambda s: "contention.resv_lock_calls" in s or exitf.exists(), 900)  # BCC compiles
    out["first_frame_s"] = time.monotonic() - t0
    out["first_screen"] = s
    listing = KPROBES_LIST.read_text() if KPROBES_LIST.exists() else ""
    out["attached_before_workload"] = "msm_gem_free_object" in listing
    if "contention.resv_lock_calls" not in s:
        out["error"] = "the TUI never showed its overview"
        out["exit"] = exitf.read_text().strip() if exitf.exists() else None
        (res / "live.json").write_text(json.dumps(out, indent=1))
        tmux("kill-server")
        return 0
    key("0")                                     # the whole session, not the last 10 s
    gs.ctl("reset")
    gs.workload(hold)
    c = gs.counters()
    out["counters"] = c
    for k, (view, want) in VIEWS.items():
        key(k)
        t1 = time.monotonic()
        s = wait_screen(lambda s: all(headline_rows(s).get(h) == str(c[f]) for h, f in want.items()),
                        90)
        out["views"][view] = {"screen": s, "seconds_to_match": time.monotonic() - t1}
    key("q")
    deadline = time.monotonic() + 120
    while not exitf.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    out["exit"] = exitf.read_text().strip() if exitf.exists() else None
    out["last_screen"] = screen()       # after `q`: what the command printed on its way out
    time.sleep(1)
    left = KPROBES_LIST.read_text() if KPROBES_LIST.exists() else ""
    out["kprobes_left"] = [ln for ln in left.splitlines() if "msm" in ln or "ww_mutex" in ln]
    tmux("kill-server")
    (res / "live.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TERM", "xterm-256color")
    sys.exit(main())
