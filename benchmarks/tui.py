"""Benchmark of the TUI on a big recording: first frame, view switches, keys under live load.

Runs the real GemscopeApp headless (Textual's run_test) and prints:
- replay of a recording of ~10 million events: time to the first frame with events (the file is
  still loading), time until the whole file is loaded and the Overview's analyses are shown;
- per view switch (keys 1-7): key-to-frame (the key handled and the screen updated, from the
  last snapshot) and key-to-data (the view shows a snapshot computed for it); then the same
  switches again, now served from the snapshot cache;
- window keys (w [ ] 0): key-to-frame and key-to-data;
- J (jump to the worst event of the view) and Enter on an event (the object view: the whole
  lifecycle of one GEM object): key-to-frame and key-to-data (the jumped window's data shown /
  the lifecycle listed);
- a live-like source (capabilities.is_live) that starts with the recording's events and
  appends 100k events/s from a thread (re-stamped copies of the recording's batches): key-to-
  frame and key-to-data for view and window keys while it appends, and how old the shown data
  is. This source is a load generator for the benchmark, not a tracer source.
Goal: first frame < 2 s, every interaction < 100 ms (key-to-frame). The machine is shared, so
the load average is printed too, and the process's CPU time (user+sys, all threads) beside the
wall time of each phase: under load, wall time can be several times the CPU time.
Per replay phase, "snapshot compute" is the snapshot worker's wall and CPU time for the snapshots
the keys ended on (what the data of a key cost, apart from the load and the UI thread).
Per phase, "UI stalls" is the longest time the event loop (the UI thread) went without a turn,
measured by a 5 ms heartbeat: a key pressed then waits at least that long. It catches what
key-to-frame does not, e.g. the frame drawn when a view's data arrives, and a garbage collection;
"full collections" lists the generation-2 collections of the phase, on the UI thread and on
others, by who ran them: CPython ("automatic", the backstop) or the app when idle
(tui/collector.py), with the longest one's wall and CPU time and the objects it freed.
The Events view (every event of the window, time-ordered) gets its own lines: its key-to-data
and snapshot compute in replay and live, and live lists the slowest keys with the view, window
and compute time of the snapshot each ended on (which view's data the wait was for).
The live phase ends with a time without keys (--live-idle-seconds), where the app runs its own
full collections, and prints the process's RSS and tracked objects.

    .venv/bin/python benchmarks/tui.py                     # 10 million events (generated once)
    .venv/bin/python benchmarks/tui.py --events 1e6        # a quick run
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracer.sources.base import Capabilities  # noqa: E402
from tracer.sources.incremental import IncrementalEventBuffer  # noqa: E402
from tracer.sources.recording_source import RecordingSource  # noqa: E402
from tui.app import GemscopeApp  # noqa: E402

SIZE = (160, 50)
VIEW_KEYS = "2345671"
EVENTS_KEY = "7"           # the Events view (every event of the window, time-ordered)
WINDOW_KEYS = ("w", "left_square_bracket", "right_square_bracket", "0")


def recording(events: float, path: str) -> str:
    """The benchmark recording (the workload model at the scale giving ~`events`)."""
    if os.path.exists(path):
        return path
    from tracer.simulate import generate
    t = time.perf_counter()
    generate("sync-free-in-retire", path, seed=1, duration_s=60, scale=24 * events / 1e7)
    print(f"generated {path} in {time.perf_counter() - t:.1f} s")
    return path


def rss_mb() -> float:
    """Resident memory of this process now, MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class GcWatch:
    """Every generation-2 (full) garbage collection: on which thread, by whom, its wall time
    and the collecting thread's CPU time (gc.callbacks). By whom: the app's idle collector
    (tui/collector.py) or CPython itself ("automatic": the backstop while the app runs)."""

    KINDS = ("automatic", "app idle")

    def __init__(self):
        # (on the UI thread, kind, wall, cpu, objects freed)
        self.full: list[tuple[bool, str, float, float, int]] = []
        self._start: dict[int, tuple[float, float, str]] = {}
        self._ui = threading.main_thread().ident
        gc.callbacks.append(self._cb)

    @staticmethod
    def _kind() -> str:
        try:
            caller = sys._getframe(2).f_code.co_filename     # who called gc.collect, if anyone
        except ValueError:                                  # no Python frame: automatic
            return "automatic"
        return "app idle" if Path(caller).name == "collector.py" else "automatic"

    def _cb(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        tid = threading.get_ident()
        if phase == "start":
            self._start[tid] = (time.perf_counter(), time.thread_time(), self._kind())
        elif tid in self._start:
            w, c, kind = self._start.pop(tid)
            self.full.append((tid == self._ui, kind, time.perf_counter() - w,
                              time.thread_time() - c, info["collected"]))

    def since(self, i: int) -> str:
        """The full collections since the i-th, on the UI thread by kind and on other threads:
        how many, the longest (wall and CPU, ms) and the most objects one freed."""
        out = []
        for label, ui in (("UI thread", True), ("other threads", False)):
            parts = []
            for kind in self.KINDS:
                got = [g for g in self.full[i:] if g[0] == ui and g[1] == kind]
                if got:
                    longest = max(got, key=lambda g: g[2])
                    parts.append(f"{len(got)} {kind} (longest {1000 * longest[2]:.0f} ms, cpu "
                                 f"{1000 * longest[3]:.0f} ms; freed up to "
                                 f"{max(g[4] for g in got):,} objects)")
            out.append(f"{label}: " + (", ".join(parts) or "none"))
        return "full collections: " + "; ".join(out)


GC = GcWatch()


def cpu_s() -> float:
    """CPU time of this process so far (every thread), seconds."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Phase:
    """Wall and CPU time of a phase, printed as `(wall W s, cpu C s)`, and the UI stalls in it:
    a heartbeat task on the event loop records each gap between its 5 ms sleeps (wall, and the
    UI thread's CPU in it)."""

    BEAT_S = 0.005

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), cpu_s()
        self.gaps: list[tuple[float, float]] = []
        self.gc_from = len(GC.full)
        self._beat = asyncio.get_running_loop().create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        t, c = time.perf_counter(), time.thread_time()
        while True:
            await asyncio.sleep(self.BEAT_S)
            t2, c2 = time.perf_counter(), time.thread_time()
            self.gaps.append((t2 - t - self.BEAT_S, c2 - c))
            t, c = t2, c2

    def __str__(self) -> str:
        return f"(wall {time.perf_counter() - self.wall:.1f} s, cpu {cpu_s() - self.cpu:.1f} s)"

    def stalls(self) -> str:
        """The longest gap (and the UI-thread CPU in it), the gap with the most UI-thread CPU,
        and how many gaps were over 100 ms; stops the heartbeat."""
        self._beat.cancel()
        wall = max(self.gaps, default=(0.0, 0.0))
        cpu = max(self.gaps, default=(0.0, 0.0), key=lambda g: g[1])
        over = sum(1 for g in self.gaps if g[0] > 0.1)
        return (f"UI stalls: longest {1000 * wall[0]:6.1f} ms (UI-thread cpu "
                f"{1000 * wall[1]:.1f} ms), most UI-thread cpu in one {1000 * cpu[1]:6.1f} ms, "
                f"{over} over 100 ms\n{' ' * 23}{GC.since(self.gc_from)}")


def data_ready(app) -> bool:
    snap = app.snapshot
    return snap is not None and snap.request == app.current_request() and \
        app.active_view.shown_seq == snap.seq


async def until(pilot, cond, timeout_s: float = 600.0, step: float = 0.005) -> float:
    t = time.perf_counter()
    while not cond():
        if time.perf_counter() - t > timeout_s:
            raise TimeoutError("condition not met")
        await pilot.pause(step)
    return time.perf_counter() - t


async def key(app, pilot, k: str, ready=None) -> tuple[float, float, float]:
    """(key-to-frame, key-to-data, UI-thread CPU until the frame) in seconds for one key press
    (a KeyTimes: also the compute time of the snapshot shown then).

    key-to-frame: the key goes in as the terminal driver would send it, every widget of the
    screen handles the messages it causes, and the compositor draws the frame. (Pilot.press is
    not used: it also waits until the whole process is idle, i.e. for the snapshot worker.)
    key-to-data: until the visible view shows a snapshot computed for the new request (or until
    `ready()` when given). A view key is first waited for until the app has switched views: a
    busy live app can take the key after the screen's widgets are idle, and the old view's data
    would then count as this key's (every live key after the first cycles did before).
    UI-thread CPU: what the UI thread itself spent until the frame (this coroutine runs on it);
    on a loaded machine the wall time is this plus waiting for a CPU and for the GIL."""
    import unicodedata

    from textual import events
    from textual.keys import _get_unicode_name_from_key
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(k))
    except KeyError:
        char = k if len(k) == 1 else None
    t, c = time.perf_counter(), time.thread_time()
    event = events.Key(k, char)
    event.set_sender(app)
    app._driver.send_message(event)
    await pilot._wait_for_screen()
    view = view_of_key(k)
    if view is not None:    # a busy app may not have handled the key yet: data_ready would
        await until(pilot, lambda: app.active_view.NAME == view, step=0.001)  # see the old view
    app.screen._on_timer_update()           # compose and write the frame
    frame, frame_cpu = time.perf_counter() - t, time.thread_time() - c
    await until(pilot, ready or (lambda: data_ready(app)))
    snap = app.snapshot
    return KeyTimes(frame, time.perf_counter() - t, frame_cpu,
                    snap.compute_s if snap else 0.0, snap.compute_cpu_s if snap else 0.0)


def view_of_key(k: str) -> str | None:
    """The view a digit key switches to (the app's bindings: 1 = the first view ...)."""
    from tui.app import VIEW_CLASSES
    return VIEW_CLASSES[int(k) - 1].NAME if k.isdigit() and 1 <= int(k) <= len(VIEW_CLASSES) \
        else None


class KeyTimes(tuple):
    """(key-to-frame, key-to-data, UI-thread CPU until the frame), and the wall and CPU time
    the snapshot worker spent on the snapshot shown at the end (`compute`, `compute_cpu`;
    on a cached or unchanged request next to nothing): what a key cost, apart from the load."""

    def __new__(cls, frame, data, frame_cpu, compute, compute_cpu):
        out = super().__new__(cls, (frame, data, frame_cpu))
        out.compute, out.compute_cpu = compute, compute_cpu
        return out


def computed(res) -> str:
    """The snapshot worker's wall and CPU time for the snapshots the keys ended on."""
    return (f"snapshot compute wall {ms([r.compute for r in res]).strip()}, cpu "
            f"{ms([r.compute_cpu for r in res]).strip()}")


def ms(xs) -> str:
    xs = [1000 * x for x in xs]
    return f"median {statistics.median(xs):8.1f} ms  max {max(xs):8.1f} ms"


def frame_ms(res) -> str:
    """Key-to-frame wall times, and the UI thread's own CPU time in them."""
    return f"{ms([r[0] for r in res])}  (UI-thread cpu {ms([r[2] for r in res]).strip()})"


async def replay(path: str) -> list:
    t0 = time.perf_counter()
    load = Phase()
    src = RecordingSource(path)
    app = GemscopeApp(src)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.health.events > 0
                    and app.active_view.shown_seq == app.snapshot.seq)
        first = time.perf_counter() - t0
        print(f"first frame             {first:8.2f} s  ({app.snapshot.health.events:,} events "
              f"loaded of the file so far) {load}")
        await until(pilot, lambda: src.done and not app.snapshot.health.loading
                    and data_ready(app))
        print(f"loaded + analysed       {time.perf_counter() - t0:8.2f} s  "
              f"({src.events_loaded:,} events; last snapshot {app.snapshot.compute_s:.2f} s) "
              f"{load}")
        print(f"                       {load.stalls()}")
        for label in ("first", "cached"):
            phase = Phase()
            res = [await key(app, pilot, k) for k in VIEW_KEYS]
            print(f"view switch ({label:6}) key-to-frame {frame_ms(res)}")
            print(f"                       key-to-data  {ms([r[1] for r in res])}  {phase}")
            print(f"                       {computed(res)}")
            ev = res[VIEW_KEYS.index(EVENTS_KEY)]
            print(f"                       Events view: key-to-data {1000 * ev[1]:.1f} ms, "
                  f"snapshot compute wall {1000 * ev.compute:.1f} ms, cpu "
                  f"{1000 * ev.compute_cpu:.1f} ms")
            print(f"                       {phase.stalls()}")
        phase = Phase()
        res = [await key(app, pilot, k) for k in WINDOW_KEYS]
        print(f"window keys w [ ] 0     key-to-frame {frame_ms(res)}")
        print(f"                       key-to-data  {ms([r[1] for r in res])}  {phase}")
        print(f"                       {computed(res)}")
        print(f"                       {phase.stalls()}")
        phase = Phase()
        res = []
        for view in "2415":                     # contention, overview, finalizers, retire
            await key(app, pilot, view)
            app.jumped_to = None
            res.append(await key(app, pilot, "J", lambda: app.jumped_to is not None
                                 and data_ready(app)))
            await key(app, pilot, "0")
        print(f"J (worst event)         key-to-frame {frame_ms(res)}")
        print(f"                       key-to-data  {ms([r[1] for r in res])}  {phase}")
        print(f"                       {computed(res)}")
        print(f"                       {phase.stalls()}")
        res = await object_views(app, pilot)
        print(f"Enter (object view)     key-to-frame {frame_ms(res[0])}")
        print(f"                       key-to-data  {ms([r[1] for r in res[0]])}  {res[1]}")
        print(f"                       {res[1].stalls()}")
        return src.snapshot()


async def object_views(app, pilot, n: int = 3) -> tuple[list, Phase]:
    """Enter on n events of the Events view (whole trace), each opening the object view."""
    from tui.screens.object import ObjectScreen
    from tui.widgets.event_list import EventList
    await key(app, pilot, "7")
    lst = app.views["events"].query_one(EventList)
    lst.focus()
    await pilot.pause(0.05)
    phase, res = Phase(), []
    for i in range(n):
        row = (i + 1) * len(lst) // (n + 1)
        while lst.index.locate(int(lst.positions[row]))[0] not in ("free", "resv_lock"):
            row += 1                            # an event that names a GEM object
        lst.cursor = row
        await pilot.pause(0.05)
        res.append(await key(app, pilot, "enter", lambda: isinstance(app.screen, ObjectScreen)
                             and app.screen.index is not None))
        await key(app, pilot, "escape", lambda: not isinstance(app.screen, ObjectScreen))
    return res, phase


WINDOW_KINDS = ("last N s", "whole trace", "fixed range")


def window_kind(spec) -> str:
    """A request's (width_ns, end_ns) as what a person asked for."""
    width, end = spec
    if end is None:
        return "whole trace" if width is None else "last N s"
    return "fixed range"


def first_batches(path: str, n: int = 64) -> list:
    """The recording's first n batches: the pool the live-like source re-stamps and appends."""
    from tracer.recording import open_recording
    out = []
    with open_recording(path) as rec:
        for b in rec.iter_batches():
            if b.num_rows:
                out.append(b)
            if len(out) >= n:
                break
    return out


class LiveLoadSource:
    """A live-like Source for the benchmark: starts with the events of `preload` (Frames of a
    long session), then a thread appends `rate` events/s, 10 times a second, as copies of
    `pool`'s batches re-stamped to continue after the last event."""

    capabilities = Capabilities(is_live=True)

    def __init__(self, preload, pool: list, rate: int):
        self.meta = dict(preload.meta)
        self.buffer = IncrementalEventBuffer.holding(preload)
        self.pool = pool
        self.t_end = preload.time_range_ns[1]
        self.rate = rate
        self.appended = 0
        self.started = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True, name="bench-live-feed")

    name = "live-load"
    done = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self):
        return self.buffer.snapshot()

    def notices(self) -> list[str]:
        return []

    def _feed(self) -> None:
        per_tick, i, tick = self.rate // 10, 0, 0
        t0 = self.started = time.perf_counter()
        while not self._stop.is_set():
            tick += 1
            need = per_tick
            while need > 0:
                b = self.pool[i % len(self.pool)]
                i += 1
                part = b.slice(0, min(need, b.num_rows))
                ts = part.column(0).to_numpy()
                now = self.t_end + int((time.perf_counter() - t0) * 1e9)
                shifted = pa.array(now + (ts - ts.min()), pa.int64())
                self.buffer.append(part.set_column(0, part.schema.field(0), shifted))
                need -= part.num_rows
                self.appended += part.num_rows
            time.sleep(max(0.0, t0 + tick * 0.1 - time.perf_counter()))


async def live(preload, pool: list, rate: int, seconds: float, idle_seconds: float) -> None:
    src = LiveLoadSource(preload, pool, rate)
    app = GemscopeApp(src)
    async with app.run_test(size=SIZE) as pilot:
        t = time.perf_counter()
        await until(pilot, lambda: data_ready(app))
        print(f"live: first frame       {time.perf_counter() - t:8.2f} s  "
              f"({app.snapshot.health.events_loaded:,} events in the buffer)")
        frames, datas, ages, res, lags, pressed, windows = [], [], [], [], [], [], []
        rss, tracked0 = [rss_mb()], len(gc.get_objects())

        async def sample_lag():
            """Every 100 ms: how far behind the source the data on screen is (events the
            source appended that the shown snapshot does not hold, in seconds of appends)."""
            while True:
                snap = app.snapshot
                lags.append(((src.buffer.events - snap.health.events_loaded) / rate,
                             window_kind(app.current_request().window)))
                # not the Snapshot itself: keeping every one would keep its frames and tables
                computed[snap.seq] = (snap.request.window, snap.compute_s, snap.compute_cpu_s,
                                      snap.request.view)
                rss.append(rss_mb())
                await asyncio.sleep(0.1)
        computed = {}
        sampler = asyncio.create_task(sample_lag())
        phase = Phase()
        end = time.perf_counter() + seconds
        keys = list(VIEW_KEYS) + ["w", "w", "left_square_bracket", "J", "0"]
        i = 0
        while time.perf_counter() < end:
            k = keys[i % len(keys)]
            f, d, c = r = await key(app, pilot, k, (lambda: not app.finding_worst
                                                    and data_ready(app)) if k == "J" else None)
            res.append(r)
            pressed.append(k)
            snap = app.snapshot          # the snapshot the key ended on (the sampler may miss it)
            windows.append((snap.request.view, window_kind(snap.request.window)))
            computed[snap.seq] = (snap.request.window, snap.compute_s, snap.compute_cpu_s,
                                  snap.request.view)
            frames.append(f)
            datas.append(d)
            ages.append(src.buffer.events - app.snapshot.health.events_loaded)
            i += 1
        sampler.cancel()
        elapsed = time.perf_counter() - src.started
        stalls, keys_phase, keys_rss, appended = phase.stalls(), str(phase), rss_mb(), src.appended
        idle = Phase()
        app_collections = getattr(getattr(app, "collector", None), "collections", 0)
        tracked1 = len(gc.get_objects())
        for _ in range(int(idle_seconds * 10)):  # nobody presses a key; the source appends
            await asyncio.sleep(0.1)
            rss.append(rss_mb())
        print(f"live: RSS {rss[0]:,.0f} MB at the start, {keys_rss:,.0f} MB after the keys, "
              f"{rss[-1]:,.0f} MB after the idle time, {max(rss):,.0f} MB at most; tracked "
              f"objects {tracked0:,} -> {tracked1:,} -> {len(gc.get_objects()):,} (+"
              f"{gc.get_freeze_count():,} frozen); load average {os.getloadavg()[0]:.1f}")
        print(f"live: {len(frames)} keys over {elapsed:.0f} s while appending "
              f"{appended / elapsed:,.0f} events/s {keys_phase}")
        print(f"live: key-to-frame      {frame_ms(res)}")
        print(f"live: key-to-data       {ms(datas)}")
        print(f"live: {stalls}")
        print(f"live: then {idle_seconds:.0f} s without a key {idle}: {idle.stalls()}")
        if hasattr(app, "collector"):
            print(f"live: full collections the app ran itself: {app_collections} during the "
                  f"keys, {app.collector.collections - app_collections} after")
        print(f"live: events not yet shown when the data arrived: median "
              f"{statistics.median(ages):,.0f} (= {statistics.median(ages) / rate:.2f} s of "
              f"appends)")
        ls = [lag for lag, _ in lags]
        print(f"live: data on screen behind the source (sampled every 100 ms): median "
              f"{statistics.median(ls):.2f} s  max {max(ls):.2f} s")
        for label in WINDOW_KINDS:
            got = [lag for lag, k in lags if k == label]
            if got:
                print(f"      while the window asked was {label:13}: median "
                      f"{statistics.median(got):.2f} s  max {max(got):.2f} s  "
                      f"({len(got)} samples)")
        for label in WINDOW_KINDS:
            snaps = [s for s in computed.values() if window_kind(s[0]) == label]
            if snaps:
                print(f"live: snapshots of {label:13} windows: {len(snaps)}, compute wall "
                      f"{ms([s[1] for s in snaps])}, cpu {ms([s[2] for s in snaps])}")
        for label in WINDOW_KINDS:
            snaps = [s for s in computed.values() if window_kind(s[0]) == label
                     and s[3] == "events"]
            if snaps:
                print(f"live: of which Events view {label:13}: {len(snaps)}, compute wall "
                      f"{ms([s[1] for s in snaps])}, cpu {ms([s[2] for s in snaps])}")
        events_data = [d for d, k in zip(datas, pressed) if k == EVENTS_KEY]
        if events_data:
            shown = [w for (v, w), k in zip(windows, pressed) if k == EVENTS_KEY]
            print(f"live: key-to-data of the Events key: {ms(events_data)}  ({len(shown)} "
                  f"presses; windows: " + ", ".join(f"{w} {shown.count(w)}"
                                                    for w in WINDOW_KINDS if w in shown) + ")")
        worst = sorted(zip(res, pressed, windows), key=lambda x: -x[0][1])[:5]
        print("live: slowest keys (key-to-data; the shown snapshot's view, window, compute wall "
              "and cpu): " + "; ".join(
                  f"{k} {1000 * r[1]:.0f} ms ({v}, {w}, {1000 * r.compute:.0f} / "
                  f"{1000 * r.compute_cpu:.0f} ms)" for r, k, (v, w) in worst))
        src.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=float, default=1e7)
    ap.add_argument("--file", help="recording to use (default: generated in /tmp once)")
    ap.add_argument("--live-rate", type=int, default=100_000)
    ap.add_argument("--live-seconds", type=float, default=20.0)
    ap.add_argument("--live-idle-seconds", type=float, default=10.0,
                    help="after the keys, how long the live source runs with no key pressed")
    a = ap.parse_args()
    path = recording(a.events, a.file or f"/tmp/gs-tui-bench-{a.events:.0e}.gsrec")
    print(f"recording {path} ({os.path.getsize(path) / 1e6:.0f} MB); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    frames = asyncio.run(replay(path))
    asyncio.run(live(frames, first_batches(path), a.live_rate, a.live_seconds,
                     a.live_idle_seconds))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
