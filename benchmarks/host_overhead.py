"""Host benchmark: gemscope's decoder speed and its probe effect on a lock-contention workload.

Run as root on the host (tracepoint probes only; the guest-side funclatency comparison belongs
to the QEMU rig):

    sudo BCC_KERNEL_SOURCE=$(tests/kernel/rig/headers.sh 6.12) \
        .venv/bin/python benchmarks/host_overhead.py [--seconds 3]

Prints:
  1. recorder cost per record, synthetic records in 10k-record drains written to a recording:
     decoded while recording (Decoder.decode + RecordingWriter.append, GEMSCOPE_LIVE_DECODE=1)
     vs stored raw (Decoder.index + append_raw, what `gemscope record` does), and the decode
     alone (what the TUI's live view and reading a raw recording pay);
  2. the ring-buffer callback's per-record copy cost (records/s);
  3. the pipe-contention workload's throughput with no tracing, with `gemscope record`, and with
     a peer tool on the same tracepoint (bcc's trace-bpfcc 't:lock:contention_begin', which also
     streams every event; klockstat/funclatency need kprobes, absent here), side by side;
  4. events/s recorded and lost events at the highest rate tried.
Figures only; nothing is asserted. The machine is shared, so repeat and compare medians.
"""
from __future__ import annotations

import argparse
import ctypes as ct
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "kernel"))

from probes import events as ev  # noqa: E402
from tracer.live.decode import Decoder  # noqa: E402
from workloads import pipe_contention  # noqa: E402

GEMSCOPE = str(ROOT / ".venv" / "bin" / "gemscope")


def synthetic(n: int, rng: np.random.Generator) -> bytes:
    """n records shaped like a busy msm kernel's: contention, trylocks with stacks, shrinks."""
    arr = np.zeros(n, dtype=ev.EVENT_DTYPE)
    kinds = rng.choice([ev.TYPE_OF["lock_contention"], ev.TYPE_OF["resv_trylock"],
                        ev.TYPE_OF["resv_lock"], ev.TYPE_OF["free"],
                        ev.TYPE_OF["shrink_slab"]], size=n, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    arr["type"] = kinds
    arr["ts_ns"] = np.cumsum(rng.integers(1, 20_000, n))
    arr["cpu"] = rng.integers(0, 8, n)
    arr["tid"] = rng.integers(100, 140, n)
    arr["pid"] = arr["tid"]
    arr["comm"] = rng.choice(np.array([b"gpu-worker", b"kswapd0", b"chrome", b"Xorg"]), n)
    arr["a0"] = rng.integers(0xffff888000000000, 0xffff888000100000, n, dtype=np.uint64)
    arr["duration_ns"] = rng.integers(0, 1_000_000, n)
    arr["stack_id"] = rng.integers(-1, 200, n)
    arr["bits"] = rng.integers(0, 0x2000, n)
    return arr.tobytes()


def bench_decode(total: int = 1_000_000, batch: int = 10_000) -> float:
    raw = synthetic(total, np.random.default_rng(1))
    frames = {i: [f"fn{i}+0x10", f"caller{i % 7}+0x2c"] for i in range(200)}
    d = Decoder(stack_frames=lambda i: frames[i], symbol=lambda a: "super_cache_scan")
    step = batch * ev.EVENT_SIZE
    t0 = time.perf_counter()
    for off in range(0, len(raw), step):
        d.decode(memoryview(raw)[off:off + step])
    return total / (time.perf_counter() - t0)


def bench_store(raw_mode: bool, total: int = 1_000_000, batch: int = 10_000) -> float:
    """Recorder CPU per record (ns): one drain after another through the headless BccSource's
    own store step (_store_raw, or the live decode path _sink(decode)) into a recording on disk;
    the source is not started (no BPF): its writer and decoder are set here."""
    from tracer.recording import RecordingWriter
    from tracer.sources.bcc_source import BccSource
    raw = synthetic(total, np.random.default_rng(1))
    frames = {i: [f"fn{i}+0x10", f"caller{i % 7}+0x2c"] for i in range(200)}
    src = BccSource(keep_events=False)
    src._decoder = Decoder(stack_frames=lambda i: frames[i], symbol=lambda a: "super_cache_scan")
    step = batch * ev.EVENT_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        src._writer = RecordingWriter(f"{tmp}/b.gsrec", {"source": "bench"})
        for off in range(0, len(raw), step):
            drain = raw[off:off + step]
            if raw_mode:
                src._store_raw(drain)
            else:
                src._sink(src._decoder.decode(drain))
        src._writer.close()
        return (time.process_time() - t0) / total * 1e9


def bench_callback(n: int = 1_000_000) -> float:
    """The only per-record Python: what BccSession._on_record does with each ring-buffer record."""
    buf = (ct.c_char * ev.EVENT_SIZE)()
    ptr = ct.cast(buf, ct.c_void_p)
    raw = bytearray()
    t0 = time.perf_counter()
    for _ in range(n):
        raw += ct.string_at(ptr, ev.EVENT_SIZE)
    return n / (time.perf_counter() - t0)


def workload_rate(seconds: float, writers: int) -> float:
    return pipe_contention(seconds, writers=writers) / seconds


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process and its threads (load-independent cost of the tracer)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_tool(cmd: list[str], seconds: float, writers: int, ready: str | None) -> tuple[float, float]:
    # the tool's event output goes to /dev/null: it is produced (cost measured), not kept
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE if ready else subprocess.DEVNULL, text=True)
    if ready:
        while True:  # wait until the tool says its probes are attached
            line = p.stderr.readline()
            if not line or ready in line:
                break
    else:
        time.sleep(5)  # trace-bpfcc says nothing when attached: give it its compile time
    cpu0 = cpu_seconds(p.pid)
    rate = workload_rate(seconds, writers)
    cpu = cpu_seconds(p.pid) - cpu0
    p.send_signal(signal.SIGINT)
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()          # our own child, by pid
        p.communicate()
    return rate, cpu


def recorded(path: str) -> tuple[int, int, float]:
    from tracer.recording import open_recording
    with open_recording(path) as rec:
        s = rec.summary()
    return s.by_kind.get("lock_contention", 0), s.lost_events, \
        ((s.last_ts_ns or 0) - (s.first_ts_ns or 0)) / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine: "
          "figures are noisy)")
    bench_decode(20_000)   # warm-up: imports, first-call caches
    print(f"decode   {statistics.median(bench_decode() for _ in range(3)) / 1e6:.2f} M events/s "
          "(synthetic records, 10k per batch, median of 3)")
    for label, mode in (("decoded while recording", False), ("stored raw (record)", True)):
        print(f"recorder {label:24} {statistics.median(bench_store(mode) for _ in range(3)):6.0f}"
              " ns CPU per record (median of 3)")
    print(f"callback {bench_callback() / 1e6:.2f} M records/s (ring-buffer copy, per record)")
    if os.geteuid() != 0:
        print("live part skipped: needs root")
        return 0
    rows: dict[str, list[float]] = {"no tracing": [], "gemscope record": [],
                                    "trace-bpfcc t:lock:contention_begin": []}
    cpu: dict[str, list[float]] = {k: [] for k in rows}
    events = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            rows["no tracing"].append(workload_rate(args.seconds, args.writers))
            out = f"{tmp}/g{i}.gsrec"
            rate, c = with_tool([GEMSCOPE, "record", "-o", out, "--no-taskstats"],
                                args.seconds, args.writers, ready="recording to")
            rows["gemscope record"].append(rate)
            cpu["gemscope record"].append(c)
            events.append(recorded(out))
            rate, c = with_tool(["trace-bpfcc", "t:lock:contention_begin \"%llx\", "
                                 "args->lock_addr"], args.seconds, args.writers, ready=None)
            rows["trace-bpfcc t:lock:contention_begin"].append(rate)
            cpu["trace-bpfcc t:lock:contention_begin"].append(c)
        base = statistics.median(rows["no tracing"])
        print(f"\nworkload: {args.writers} processes writing 512 B into one pipe, "
              f"{args.seconds:.0f} s, median of {args.repeat}")
        for name, vals in rows.items():
            med = statistics.median(vals)
            tool_cpu = f"  tool CPU {statistics.median(cpu[name]):.2f} s" if cpu[name] else ""
            print(f"  {name:38} {med / 1e3:8.1f} k writes/s  slowdown "
                  f"{100 * (1 - med / base):6.1f} %{tool_cpu}")
        n, lost, span = events[-1]
        print(f"  gemscope recorded {n} lock_contention events "
              f"({n / max(span, 1e-9):.0f} events/s), lost {lost}")
        # the highest rate tried: twice the writers
        out = f"{tmp}/high.gsrec"
        with_tool([GEMSCOPE, "record", "-o", out, "--no-taskstats"], args.seconds,
                  args.writers * 2, ready="recording to")
        n, lost, span = recorded(out)
        print(f"highest rate tried ({args.writers * 2} writers): {n / max(span, 1e-9):.0f} "
              f"events/s recorded, lost {lost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
