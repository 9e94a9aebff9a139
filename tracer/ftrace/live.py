"""The live tracefs source: gemscope's own instance, trace_pipe_raw per CPU, the same schema.

A page-reader thread empties every CPU's trace_pipe_raw every 50 ms and queues the pages;
another thread decodes them (binary ring-buffer pages, with the instance's format files), keeps
the raw events of the last seconds, and once per flush interval maps
them (mapping.map_trace) and emits the events that START before a watermark: the watermark never
passes a begin still waiting for its end, so each interval is emitted once, complete. Lost events
come from the pages' missed-events flags and from per_cpu/cpuN/stats (overrun, dropped).
Cleanup (instance, kprobe group) runs on stop(), at interpreter exit, and for dead owners at start.
"""
from __future__ import annotations

import atexit
import collections
import errno
import os
import re
import signal
import threading
import time
from typing import Any

import numpy as np
import pyarrow as pa

from .. import schema
from ..jiffies import kernel_hz
from ..meta import host_meta
from ..recording import RecordingWriter, _batch
from ..sources.base import Capabilities
from ..sources.incremental import IncrementalEventBuffer
from .binary_events import decode_records
from .formats import FormatError, PageHeader, parse_event_format
from .kallsyms import Symbols
from .kprobes import kprobe_line, plan_kprobes
from .mapping import PAIRS, SINGLES, map_trace
from .rawevents import EventGroup, RawTrace
from .ringbuf import decode_pages
from .tracefs import Instance, TracefsError, cleanup_stale, has_kprobe_events, read, tracefs_root, write

KEEP_NS = 10_000_000_000          # raw events kept after emission, to pair late ends
COMMIT_MARGIN_NS = 50_000_000     # an event stamped just before a drain may not be committed yet
SETTLE_NS = 2_000_000_000         # without the mono clock: how long another CPU may lag
TRACEPOINTS = (
    ("lock", "contention_begin"), ("lock", "contention_end"),
    ("vmscan", "mm_shrink_slab_start"), ("vmscan", "mm_shrink_slab_end"),
    ("vmscan", "mm_vmscan_direct_reclaim_begin"), ("vmscan", "mm_vmscan_direct_reclaim_end"),
    ("dma_fence", "dma_fence_signaled"),
    ("drm_msm_gpu", "msm_gpu_submit"), ("drm_msm_gpu", "msm_gpu_submit_retired"),
    ("drm_msm_gpu", "msm_gem_shrink"),
)
KTHREAD = (("sched", "sched_kthread_work_queue_work"), ("sched", "sched_kthread_work_execute_start"),
           ("sched", "sched_kthread_work_execute_end"))


def _kind_of(event: str) -> list[str]:
    kinds = [k for k, b, e, *_ in PAIRS if event in (b, e)] + [k for k, n, _ in SINGLES if n == event]
    if event in ("mm_shrink_slab_start", "mm_shrink_slab_end"):
        kinds.append("shrink_scan")
    return kinds


PF_KTHREAD = 0x00200000


def is_kthread(stat: str) -> bool | None:
    """From /proc/<tid>/stat: is the task a kernel thread (flags, the 9th field, has
    PF_KTHREAD)? None when the task is gone or the line is unreadable. A user task's frees and
    locks are in context `ioctl`, as the BPF path (which reads the flags in the kernel) says."""
    _, sep, rest = stat.rpartition(")")
    parts = rest.split()
    if not sep or len(parts) < 7 or not parts[6].isdigit():
        return None
    return bool(int(parts[6]) & PF_KTHREAD)


def _version() -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


class TracefsSource:
    """A live Source over tracefs (no BCC needed). Root only."""

    capabilities = Capabilities(is_live=True, can_pause=False, can_seek=False)

    def __init__(self, output: str | None = None, *, buffer_kb: int = 4096,
                 flush_interval_s: float = 1.0, kprobes: bool = True, stacks: bool = True):
        self.want_stacks = stacks
        t0 = time.monotonic()
        self.root = tracefs_root()
        if not os.access(self.root, os.W_OK):
            raise TracefsError(f"{self.root} is not writable: run as root (sudo gemscope record "
                               "--backend ftrace)")
        self._notices: list[str] = []
        self.stale_removed = cleanup_stale(self.root)
        for s in self.stale_removed:
            self._notices.append(f"removed {s} left by a recorder that no longer runs")
        self.inst = Instance(self.root)
        self._stopped = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        # (cpu, read start ns, emptied, pages) from the page reader to the decoding thread
        self._chunks: collections.deque = collections.deque()
        self._fds: dict[int, int] = {}
        self.writer = None
        atexit.register(self.stop)
        self.inst.create(buffer_kb)
        try:
            self._setup(kprobes)
        except BaseException:
            self.inst.destroy()
            raise
        self.meta: dict[str, Any] = host_meta(
            "tracefs", recorded_kinds=sorted(self.recorded_kinds), probe_plan=self.plan_meta,
            trace_clock=self.clock, tracefs_instance=self.inst.name, kernel_hz=kernel_hz(),
            compile_s=0.0, attach_s=round(time.monotonic() - t0, 3))
        if self.clock != "mono":
            from ..clocks import import_clock
            self.meta["clock"], self.meta["clock_note"] = import_clock(self.clock, False)
            self._notices.append(f"trace clock {self.clock}: timestamps are not CLOCK_MONOTONIC")
        self.buffer = IncrementalEventBuffer(self.meta)
        self.writer = RecordingWriter(output, self.meta, flush_interval_s=flush_interval_s) \
            if output else None
        self.flush_interval_s = flush_interval_s
        self.raw = RawTrace(clock=self.clock, meta={"kernel_hz": self.meta["kernel_hz"]})
        self.raw.kallsyms = self.symbols
        self.counts: dict[str, int] = {}
        self.lost_by_cpu: dict[int, int] = {}
        self.histograms: dict = {}
        self.plan = None
        self._watermark = np.iinfo(np.int64).min
        self._seq = 0
        self._drained_at: dict[int, int] = {}
        self.late_events = 0

    # ---- set-up -------------------------------------------------------------------------

    def _setup(self, want_kprobes: bool) -> None:
        from probes.kallsyms import Kallsyms
        self.clock = self.inst.set_clock("mono")
        text = read("/proc/kallsyms", 64 << 20)
        self.symbols = Symbols(text)
        ks = Kallsyms.from_text(text) if text else None
        self.plan_meta: dict[str, dict] = {}
        self.recorded_kinds: set[str] = {"generic", "lost"}
        # with msm loaded, shrink_slab is about its shrinker only (the schema's shrink_slab);
        # without it (a test host) every shrinker is recorded so reclaim stays visible
        msm_scan = self.symbols.address_of("msm_gem_shrinker_scan")
        for system, event in TRACEPOINTS:
            trig = "stacktrace" if self.want_stacks and event == "contention_begin" else None
            filt = f"shrink == {hex(msm_scan)}" if msm_scan and event.startswith(
                "mm_shrink_slab_") else None
            self._enable_tp(system, event, filt, trigger=trig)
        retire = self.symbols.address_of("retire_worker")
        for system, event in KTHREAD:
            if retire is None:
                self._plan(f"tracepoint:{system}:{event}", "missing",
                           "retire_worker is not in kallsyms (msm not loaded): kthread work events "
                           "would only record other drivers' work", ["retire_run"])
            else:
                self._enable_tp(system, event, f"function == {hex(retire)}")
        if want_kprobes:
            from probes.btf import kernel_offsets
            offsets, lru_params = kernel_offsets()
            for d, attach, reason in plan_kprobes(_version(), ks, has_kprobe_events(self.root),
                                                  os.uname().machine, offsets, lru_params):
                name = f"kprobe:{self.inst.group}/{d.event}"
                if attach is None:
                    self._plan(name, "missing", reason, [d.produces])
                    continue
                try:
                    note = self._add_kprobe(d, attach)
                    self.inst.enable(self.inst.group, d.event)
                    self._plan(name, "attached", note, [d.produces])
                    self.recorded_kinds.add(d.produces)
                except TracefsError as e:
                    self._plan(name, "failed", self._kprobe_error(e), [d.produces])
        self._read_formats()
        reasons: dict[str, int] = {}
        for e in self.plan_meta.values():
            if e["status"] != "attached":
                reasons[e["reason"] or "?"] = reasons.get(e["reason"] or "?", 0) + 1
        for reason, n in sorted(reasons.items(), key=lambda x: -x[1])[:4]:
            self._notices.append(f"{n} probe(s) not attached: {reason}")

    def _add_kprobe(self, d, attach: str) -> str | None:
        """Write the kprobe; when the kernel refuses its optional fetch-args (caller, sizes,
        `back`), write it without them and say so (the event still pairs and counts)."""
        path = os.path.join(self.root, "kprobe_events")
        try:
            write(path, kprobe_line(self.inst.group, d, attach), append=True)
            return None
        except TracefsError as e:
            if not d.extra:
                raise
            refused = self._kprobe_error(e)
        write(path, kprobe_line(self.inst.group, d, attach, extra=False), append=True)
        return f"attached without {d.extra} ({refused})"

    def _kprobe_error(self, e: Exception) -> str:
        log = read(os.path.join(self.root, "error_log")).strip().splitlines()[-1:]
        return f"{e}" + (f" ({log[0][:120]})" if log else "")

    def _plan(self, name, status, reason, kinds) -> None:
        self.plan_meta[name] = {"status": status, "reason": reason, "kinds": kinds}

    def _enable_tp(self, system: str, event: str, filter_expr: str | None = None,
                   trigger: str | None = None) -> None:
        name = f"tracepoint:{system}:{event}"
        kinds = _kind_of(event)
        try:
            self.inst.enable(system, event, filter_expr)
        except TracefsError as e:
            self._plan(name, "missing", str(e), kinds)
            return
        self._plan(name, "attached", None, kinds)
        self.recorded_kinds.update(kinds)
        if trigger:
            try:
                write(os.path.join(self.inst.event_dir(system, event), "trigger"), trigger)
                self._plan(f"trigger:{system}:{event}:stacktrace", "attached", None, ["stack"])
                self.recorded_kinds.add("stack")
            except TracefsError as e:
                self._plan(f"trigger:{system}:{event}:stacktrace", "failed", str(e), ["stack"])

    def _read_formats(self) -> None:
        self.formats = {}
        for ev in self.inst.enabled + (["ftrace:kernel_stack"] if self.want_stacks else []):
            system, event = ev.split(":", 1)
            path = os.path.join(self.inst.event_dir(system, event), "format")
            if not os.path.exists(path):
                path = os.path.join(self.root, "events", system, event, "format")
            try:
                fmt = parse_event_format(read(path), system)
            except FormatError as e:
                self._notices.append(f"format of {ev} unreadable: {e}")
                continue
            self.formats[fmt.id] = fmt
        self.page_header = PageHeader.parse(read(os.path.join(self.root, "events", "header_page")))
        sub = read(os.path.join(self.inst.path, "buffer_subbuf_size_kb")).strip()
        self.page_size = int(sub) * 1024 if sub.isdigit() else os.sysconf("SC_PAGE_SIZE")

    # ---- Source interface ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        cpu_dir = os.path.join(self.inst.path, "per_cpu")
        for name in sorted(os.listdir(cpu_dir)):
            if name.startswith("cpu") and name[3:].isdigit():
                try:
                    self._fds[int(name[3:])] = os.open(os.path.join(cpu_dir, name, "trace_pipe_raw"),
                                                       os.O_RDONLY | os.O_NONBLOCK)
                except OSError as e:
                    self._notices.append(f"cannot open {name}/trace_pipe_raw: {e.strerror}")
        write(os.path.join(self.inst.path, "tracing_on"), "1")
        self._guard_sigterm()
        self._thread = threading.Thread(target=self._run, name="gemscope-tracefs", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="gemscope-tracefs-pages",
                                        daemon=True)
        self._reader.start()
        self._thread.start()

    def _guard_sigterm(self) -> None:
        """When nobody handles SIGTERM (a TUI, a script), clean up before dying of it."""
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_term(signum, _frame):
            self.stop()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        signal.signal(signal.SIGTERM, on_term)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop.set()
        for t in (self._reader, self._thread):
            if t is not None:
                t.join(timeout=10)
        try:
            if self.inst.path and os.path.isdir(self.inst.path):
                write(os.path.join(self.inst.path, "tracing_on"), "0")
                if self._thread is not None:
                    self._drain()
                    self._read_lost()
                    self._emit(final=True)
        except Exception as e:  # never leave the instance behind because of a late error
            self._notices.append(f"final read failed: {e}")
        finally:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
            try:
                self.inst.destroy()
            finally:
                if getattr(self, "writer", None) is not None:
                    self.writer.close()

    def snapshot(self):
        return self.buffer.snapshot()

    def notices(self) -> list[str]:
        return list(self._notices)

    @property
    def done(self) -> bool:
        return self._stopped

    @property
    def lost_total(self) -> int:
        return sum(self.lost_by_cpu.values())

    # ---- reading ---------------------------------------------------------------------------

    def _run(self) -> None:
        """Decode what the page reader queued, and map and emit once per flush interval."""
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                self._decode_queued()
                if time.monotonic() - last >= self.flush_interval_s:
                    self._emit(final=False)
                    last = time.monotonic()
            except Exception as e:  # a reader crash becomes a notice, the recorder keeps running
                self._notices.append(f"tracefs reader: {type(e).__name__}: {e}")
            self._stop.wait(0.1)

    def _read_loop(self) -> None:
        """Empty the kernel's per-CPU buffers every 50 ms, doing nothing else, so that mapping
        (slow under QEMU/TCG: a guest at ~300k events/s lost 14% of them when one thread read,
        decoded and mapped) never keeps the buffers from being drained."""
        while not self._stop.is_set():
            try:
                self._read_pages()
            except Exception as e:
                self._notices.append(f"tracefs page reader: {type(e).__name__}: {e}")
            self._stop.wait(0.05)

    def _drain(self) -> None:
        """Read every CPU until it is empty and decode it all (the final read at stop)."""
        self._read_pages()
        self._decode_queued()

    def _read_pages(self) -> None:
        """Read every CPU until it is empty; queue (cpu, read start, emptied, pages). The read
        start is the CLOCK_MONOTONIC time before the read: once decoded, every event of that
        CPU stamped before it (minus a commit margin) is in."""
        for cpu, fd in list(self._fds.items()):
            pages = []
            started = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            emptied = False
            for _ in range(4096):
                try:
                    chunk = os.read(fd, self.page_size)
                except BlockingIOError:
                    emptied = True
                    break
                except OSError as e:
                    if e.errno in (errno.EAGAIN, errno.EINTR):
                        emptied = e.errno == errno.EAGAIN
                        break
                    raise
                if not chunk:
                    emptied = True
                    break
                pages.append(chunk + b"\0" * (self.page_size - len(chunk)))
            if pages or emptied:
                self._chunks.append((cpu, started, emptied, pages))

    def _decode_queued(self) -> None:
        while self._chunks:
            cpu, started, emptied, pages = self._chunks.popleft()
            if pages:
                self._decode(cpu, pages)
            if emptied:
                self._drained_at[cpu] = started

    def _decode(self, cpu: int, pages: list[bytes]) -> None:
        buf = np.frombuffer(b"".join(pages), np.uint8)
        recs = decode_pages(buf, self.page_size, self.page_header)
        late = int((recs.ts.astype(np.int64) < self._watermark).sum())
        if late:   # should not happen: the watermark waits for every CPU's drain
            self.late_events += late
            self.lost_by_cpu[cpu] = self.lost_by_cpu.get(cpu, 0) + late
        if recs.lost:
            self.lost_by_cpu[cpu] = self.lost_by_cpu.get(cpu, 0) + recs.lost
        self._seq = decode_records(buf, recs, self.formats, cpu, self.raw, self._seq)

    def _read_lost(self) -> None:
        for cpu in self._fds:
            text = read(os.path.join(self.inst.path, "per_cpu", f"cpu{cpu}", "stats"))
            n = sum(int(m.group(2)) for m in re.finditer(
                r"^(overrun|commit overrun|dropped events):\s*(\d+)", text, re.M))
            if n:
                self.lost_by_cpu[cpu] = max(self.lost_by_cpu.get(cpu, 0), n)

    def _refresh_comms(self) -> None:
        saved = read(os.path.join(self.root, "saved_cmdlines"))
        for line in saved.splitlines():
            pid, _, comm = line.partition(" ")
            if pid.isdigit():
                self.raw.cmdlines[int(pid)] = comm
        tids = set()
        for g in self.raw.groups.values():
            tids.update(int(t) for t in np.unique(g.tid)[:4096])
        for t in tids - set(self.raw.cmdlines):
            comm = read(f"/proc/{t}/comm", 64).strip()
            if comm:
                self.raw.cmdlines[t] = comm
        for t in tids - set(self.raw.kthreads):
            k = is_kthread(read(f"/proc/{t}/stat", 1024))
            if k is not None:
                self.raw.kthreads[t] = k

    def _emit(self, final: bool) -> None:
        # groups emptied by the trimming below stay (they carry their names and fields)
        if not any(len(g) for g in self.raw.groups.values()):
            self._write_lost(final)
            return
        self._refresh_comms()
        self.raw.events_in = sum(len(g) for g in self.raw.groups.values())
        m = map_trace(self.raw)
        latest = max(int(g.ts.max()) for g in self.raw.groups.values() if len(g))
        if self.clock == "mono" and len(self._drained_at) == len(self._fds):
            safe = min(self._drained_at.values()) - COMMIT_MARGIN_NS
        else:
            safe = latest - SETTLE_NS
        wm = np.iinfo(np.int64).max if final else min(m.accounting.get("open_since_ns", safe),
                                                      safe)
        lo = self._watermark
        if wm <= lo:
            return
        for kind, cols in m.kinds.items():
            if kind == "lost":
                continue
            ts = np.asarray(cols["ts_ns"])
            sel = (ts >= lo) & (ts < wm)
            if not sel.any():
                continue
            mask = pa.array(sel)
            out = {k: (v[sel] if isinstance(v, np.ndarray) else v.filter(mask))
                   for k, v in cols.items() if k in schema.kind_columns(kind)}
            self._append(kind, out)
        self._watermark = wm
        if not final:
            cut = wm - KEEP_NS
            for name, g in list(self.raw.groups.items()):
                keep = np.flatnonzero(g.ts >= cut)
                if len(keep) < len(g):
                    self.raw.groups[name] = g.take(keep) if len(keep) else EventGroup(
                        g.name, g.system, g.ts[:0], g.cpu[:0], g.tid[:0], g.seq[:0])
        self._write_lost(final)
        if final and self.late_events:
            self._notices.append(f"{self.late_events} events arrived after their time window "
                                 "had been written; counted as lost")

    def _write_lost(self, final: bool) -> None:
        if not final or not self.lost_by_cpu:
            return
        cpus = sorted(self.lost_by_cpu)
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        self._append("lost", {"ts_ns": np.full(len(cpus), now, np.int64),
                              "cpu": np.array(cpus, np.int16), "tid": np.zeros(len(cpus), np.int32),
                              "pid": pa.nulls(len(cpus), pa.int32()),
                              "comm": pa.nulls(len(cpus), pa.string()),
                              "lost_count": np.array([self.lost_by_cpu[c] for c in cpus])})

    def _append(self, kind: str, cols: dict) -> None:
        n = len(cols["ts_ns"])
        if n == 0:
            return
        self.counts[kind] = self.counts.get(kind, 0) + n
        if self.writer is not None:
            self.writer.append(kind, cols)
            self.writer.flush()
        self.buffer.append(_batch(kind, [cols], schema.arrow_schema()))


def open_tracefs_source(args) -> TracefsSource:
    """For `gemscope record --backend ftrace`."""
    return TracefsSource(getattr(args, "output", None))
