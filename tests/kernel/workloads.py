"""Workloads that make the host kernel emit the tracepoints gemscope records (tests, benchmarks),
and the one way a background `gemscope record` (or any recorder) is stopped.

`pipe_contention`: several processes write into ONE pipe while one drains it; every write takes
the pipe's mutex, so writers on different CPUs contend and the kernel emits
lock:contention_begin/end (MUTEX) for the waits. Returns the number of writes done.
`stop_recorder`: SIGINT (the recorder writes its summary and closes the file), wait, kill if it
hangs, close its log; returns the log's tail (guest scenarios and benchmarks/guest_overhead.py).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import time
from pathlib import Path


def stop_recorder(proc: subprocess.Popen, log=None, logpath: Path | None = None, *,
                  timeout: float = 120, tail: int = 3000) -> str:
    """Stop a background recorder; returns the last `tail` characters of `logpath` ('' without)."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finally:
        if log is not None:
            log.close()
    return Path(logpath).read_text()[-tail:] if logpath else ""


def _writer(fd: int, seconds: float, chunk: int, counter) -> None:
    buf = b"x" * chunk
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        os.write(fd, buf)
        n += 1
    with counter.get_lock():
        counter.value += n


def _reader(fd: int, write_end: int) -> None:
    os.close(write_end)   # or the pipe never reports EOF
    while os.read(fd, 1 << 16):
        pass


def pipe_contention(seconds: float = 2.0, writers: int = 4, chunk: int = 512) -> int:
    """Run the workload for `seconds`; returns total writes (the throughput figure)."""
    ctx = mp.get_context("fork")
    r, w = os.pipe()
    counter = ctx.Value("q", 0)
    reader = ctx.Process(target=_reader, args=(r, w), daemon=True)
    reader.start()
    procs = [ctx.Process(target=_writer, args=(w, seconds, chunk, counter), daemon=True)
             for _ in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    os.close(w)
    reader.join(timeout=5)
    os.close(r)
    return int(counter.value)


def drop_caches() -> None:
    """Make every registered shrinker run (vmscan:mm_shrink_slab_start/end)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2")
