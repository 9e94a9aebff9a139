"""Benchmark of the workload model: how fast `tracer.simulate` produces a big recording.

Prints, for one scenario: events, wall time in the model (actors building columns), in the
ground-truth manifest, in writing the recording (sort + RecordingWriter), the total, events per
second, the process's cpu time (on a shared machine the wall time also counts waiting for a cpu),
file size and bytes per event on disk, and the peak RSS of the process.

    .venv/bin/python benchmarks/simulate.py                       # ~10 million events
    .venv/bin/python benchmarks/simulate.py --duration-s 5 --scale 4    # a quick run
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracer.simulate import meta_for, simulate, truth  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="sync-free-in-retire")
    ap.add_argument("--duration-s", type=float, default=60.0)
    ap.add_argument("--scale", type=float, default=24.0,
                    help="24 x 60 s of sync-free-in-retire is about 10 million events")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", metavar="FILE", help="write here and keep the file")
    a = ap.parse_args()
    path = a.keep or os.path.join(tempfile.mkdtemp(prefix="gs-sim-"), "bench.gsrec")
    c0, t0 = time.process_time(), time.perf_counter()
    world = simulate(a.scenario, a.seed, a.duration_s, a.scale)
    t1 = time.perf_counter()
    manifest = truth.manifest(world.log, a.scenario, a.seed)
    t2 = time.perf_counter()
    events = world.log.write(path, meta_for(world, manifest), world.t0 - 1_000_000)
    t3, c3 = time.perf_counter(), time.process_time()
    size = os.path.getsize(path)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"scenario          {a.scenario} (seed {a.seed}, {a.duration_s:g} s, scale {a.scale:g})")
    print(f"events            {events:,}")
    print(f"model             {t1 - t0:7.2f} s")
    print(f"ground truth      {t2 - t1:7.2f} s")
    print(f"write (sort+IPC)  {t3 - t2:7.2f} s")
    print(f"total             {t3 - t0:7.2f} s  ({events / (t3 - t0):,.0f} events/s)")
    print(f"cpu time          {c3 - c0:7.2f} s  (wall above this = waiting for a cpu: load "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
    print(f"file              {size / 1e6:.1f} MB ({size / max(events, 1):.1f} bytes/event)")
    print(f"peak RSS          {rss / 1e6:.0f} MB ({rss / max(events, 1):.0f} bytes/event)")
    if not a.keep:
        os.remove(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
