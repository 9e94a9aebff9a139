"""The live BCC source: this machine's kernel, probed with the combined BPF program.

Data flow: a reader thread polls the BPF ring buffer (raw bytes only), decodes each batch into
columns (tracer/live/decode.py), appends them to the recording (flushed every second) and to the
EventBuffer the TUI snapshots. Once a second it also reports lost events per CPU, samples taskstats
and checks whether msm/drm loaded since the start (then a new program is attached and the old one
released). `open_live_source(args)` builds one from the command line; `gemscope live` (TUI) and
`gemscope record` (headless) both use it.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import threading
import time
from typing import Any

import pyarrow as pa

from probes.events import EVENT_SIZE
from probes.kallsyms import Kallsyms
from probes.plan import DEFAULT_UNCONTENDED_NS, Plan, make_plan

from .. import schema
from ..errors import GemscopeError
from ..frames import Frames
from ..live import features as feat
from ..jiffies import kernel_hz
from ..live.decode import Decoder
from ..live.session import BccSession
from ..meta import host_meta
from ..raw_records import context_json
from ..recording import RecordingWriter, _to_arrow
from .base import Capabilities
from .incremental import IncrementalEventBuffer

STACK_ID_STRIDE = 1_000_000   # stack ids of the n-th program are offset by n * STRIDE
MAX_TASKSTATS_TIDS = 256
# The reader drains every POLL_MS. Each drain decodes per kind and appends per kind, a fixed
# cost that under QEMU/TCG made 50 ms drains take seconds of CPU per run from the workload; the
# 64 MiB ring buffer holds ~420k records, i.e. 200 ms at 2M events/s.
POLL_MS = 200
# ... but a flood fills it faster (a host lock:contention flood: ~300k events/s, 48 MB/s, lost
# 5-30% of its events with fixed 200 ms drains): after each drain the next one is due before the
# rate just seen could fill a quarter of BUFFER_BYTES, never sooner than MIN_POLL_MS. BUFFER_BYTES
# is the smallest buffer one CPU can fill: a perf buffer's 1024 pages per CPU (the ring buffer's
# 64 MiB is shared by all CPUs).
BUFFER_BYTES = 4 << 20
MIN_POLL_MS = 5
# The BPF ring buffer, MiB: a power of two (the kernel's rule for its size). 64: under QEMU/TCG
# the Python reader falls behind a sustained 150-190k events/s and catches up between bursts
# (benchmarks/guest_overhead.py lost 61,100 events with 16 MiB, none with 64).
DEFAULT_BUFFER_MIB = 64
MAX_BUFFER_MIB = 1024
READER_NICE = -10             # the reader thread's priority (root): see _raise_priority
TASKSTATS_RESCAN_S = 5.0      # which tasks are GPU-related: /proc scanned this often, not per tick


class BccSource:
    capabilities = Capabilities(is_live=True)

    def __init__(self, output: str | None = None, *, uncontended_ns: int = DEFAULT_UNCONTENDED_NS,
                 taskstats: bool = True, extra_pids: tuple[int, ...] = (),
                 poll_ms: int = POLL_MS, all_lock_stacks: bool = False,
                 all_free_stacks: bool = False,
                 buffer_mib: int = DEFAULT_BUFFER_MIB,
                 keep_events: bool = True, self_cost: bool = False):
        self.output = output
        self.uncontended_ns = uncontended_ns
        self.all_lock_stacks = all_lock_stacks
        self.all_free_stacks = all_free_stacks
        self.buffer_mib = check_buffer_mib(buffer_mib)
        # False (headless `gemscope record`): events go to the recording only, not also into
        # the in-memory buffer a TUI snapshots (it costs the reader ~1/4 of its decode time
        # and grows with the recording); snapshot() then has only what the buffer got before
        self.keep_events = keep_events
        # Headless: store the records as the kernel wrote them and decode when the recording is
        # read (tracer/raw_records.py): the reader took 1.64 instead of 3.71 CPU-s from the
        # traced guest in benchmarks/guest_overhead.py. GEMSCOPE_LIVE_DECODE=1 decodes live
        # anyway (to compare the two).
        self.raw_records = not keep_events and os.environ.get("GEMSCOPE_LIVE_DECODE") != "1"
        self.want_taskstats = taskstats
        self.extra_pids = tuple(extra_pids)
        self.poll_ms = poll_ms
        self.meta: dict[str, Any] = {}
        self.buffer = IncrementalEventBuffer()
        self.counts: dict[str, int] = {}
        self.lost_by_cpu: dict[int, int] = {}
        self._notices: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: RecordingWriter | None = None
        self._session: BccSession | None = None
        self._decoder: Decoder | None = None
        self._sessions = 0
        self._taskstats = None
        self._delayacct = None
        self._stopped = False
        self.failed: str | None = None     # why the recording ended early (disk full ...)
        self.plan: Plan | None = None
        self.histograms: dict[str, dict[int, int]] = {}
        self._fentry_refused: str | None = None   # why BCC could not load the fentry program
        self.reader_cpu_s: float | None = None     # CPU time of the reader thread (at stop)
        self._ts_tids: list[tuple[int, str]] | None = None
        self._ts_scanned = 0.0
        self.kernel_hz: int | None = None
        self.want_self_cost = self_cost
        self.self_cost = None          # tracer.live.bpf_stats.SelfCost while recording

    # ---- set-up ----
    def _make_plan(self) -> Plan:
        features = feat.gather()
        if self._fentry_refused:
            features = dataclasses.replace(features, fentry=False, fentry_funcs=frozenset(),
                                           fentry_detail=self._fentry_refused)
        plan = make_plan(features, Kallsyms.read(), uncontended_ns=self.uncontended_ns)
        plan.defines.update(_bench_defines())
        if self.all_lock_stacks:
            plan.defines["GS_ALL_LOCK_STACKS"] = True
        if self.all_free_stacks:
            plan.defines["GS_ALL_FREE_STACKS"] = True
        plan.defines["GS_RINGBUF_PAGES"] = self.buffer_mib * 256     # 4 KiB pages
        return plan

    def start(self) -> None:
        feat.require_root()
        feat.import_bcc()
        feat.ensure_tracefs()
        release = feat.os.uname().release
        ok, _, desc = feat.headers_info(release)
        if not ok:
            raise feat.SetupError(f"no kernel headers for BCC ({desc}): "
                                  f"{feat.headers_fix(release)}")
        self.plan = self._make_plan()
        self.kernel_hz = kernel_hz()          # fence wait timeouts come in jiffies
        if self.want_self_cost:
            from ..live.bpf_stats import SelfCost
            from ..live.bpf_syscall import usable
            if not usable():
                raise feat.SetupError("--self-cost reads bpf(2) program info on x86_64 only")
            self.self_cost = SelfCost()
        try:
            self._open_session(self.plan)
        except feat.GemscopeError as e:
            if not self.plan.fentry_entries():
                raise
            # the ladder's next rung: the same program with those functions on kprobes
            self._fentry_refused = f"the fentry program did not load with BCC ({e})"[:300]
            self._notices.append(self._fentry_refused + "; using kprobes")
            self.plan = self._make_plan()
            self._open_session(self.plan)
        self._start_taskstats()
        recorded = self.plan.recorded_kinds() + ["generic"] + \
            (["taskstats"] if self._taskstats else [])
        self.meta = host_meta(
            "bcc", probe_plan=self.plan.to_meta(), recorded_kinds=sorted(set(recorded)),
            unanswerable=self.plan.unanswerable(), bpf_cflags=_cflags(self.plan),
            lru_scan_layout=self.plan.lru_scan_layout, kernel_hz=self.kernel_hz,
            compile_s=round(self._session.timing.compile_s, 3),
            attach_s=round(self._session.timing.attach_s, 3))
        self.buffer.meta = self.meta
        if self.output:
            self._writer = RecordingWriter(self.output, self.meta)
        self._emit_probe_status(self.plan, initial=True)
        self._thread = threading.Thread(target=self._run, name="gemscope-bcc", daemon=True)
        self._thread.start()

    def _open_session(self, plan: Plan, old: BccSession | None = None) -> BccSession:
        """Compile, then (after draining and closing `old`, so that its kprobes free their
        names and no event is emitted twice) attach and enable the new program."""
        session = BccSession(plan, stack_offset=self._sessions * STACK_ID_STRIDE)
        if self.self_cost:
            self.self_cost.before_load()
        session.compile()
        if self.self_cost:
            self.self_cost.after_load()
        if old is not None:
            self._drain(0)
            if self.self_cost:
                self.self_cost.harvest()      # the old programs' counters go with them
            old.close()
        session.attach()
        session.enable()
        self._sessions += 1
        self._session = session
        self._decoder = Decoder(session.stack_frames, session.symbol, session.stack_offset,
                                hz=self.kernel_hz)
        for e in plan.entries.values():
            if e.status == "failed":
                self._notices.append(f"probe {e.spec.name} failed to attach: {e.reason}")
        return session

    def _start_taskstats(self) -> None:
        if not self.want_taskstats:
            return
        from ..live.taskstats import DelayAcct, TaskstatsReader
        try:
            self._taskstats = TaskstatsReader()
        except feat.GemscopeError as e:
            self._notices.append(f"taskstats not sampled: {e}")
            return
        self._delayacct = DelayAcct()
        try:
            self._delayacct.enable()
        except OSError as e:
            self._notices.append(f"could not enable kernel.task_delayacct: {e}")

    # ---- the reader thread ----
    def _run(self) -> None:
        _raise_priority()
        last_tick = time.monotonic()
        modules = feat.modules_signature()
        cpu0 = time.thread_time()
        try:
            wait_ms, last_drain = self.poll_ms, time.monotonic()
            budget = min(BUFFER_BYTES, self.buffer_mib << 20)   # bytes one CPU can fill
            while not self._stop.is_set():
                got = self._drain(wait_ms)
                now = time.monotonic()
                wait_ms, last_drain = next_wait_ms(got, now - last_drain, self.poll_ms, budget), now
                if now - last_tick >= 1.0:
                    last_tick = now
                    self._tick()
                    sig = feat.modules_signature()
                    if sig != modules:
                        modules = sig
                        self._replan()
        except Exception as e:  # never a traceback from the thread: a notice and a clean stop
            self.failed = _first_line(e)
            self._notices.append(f"recording stopped: {self.failed}")
            self._stop.set()
        finally:
            # the reader's own CPU (drain, decode, write): what it takes from the workload
            self.reader_cpu_s = time.thread_time() - cpu0

    def _drain(self, timeout_ms: int) -> int:
        """Wait, then decode and store every record there is; returns the bytes drained."""
        raw = self._session.poll(timeout_ms)
        if raw and self.raw_records and self._writer is not None:
            self._store_raw(raw)
        elif raw:
            self._sink(self._decoder.decode(raw))
        return len(raw)

    def _store_raw(self, raw: bytes) -> None:
        """The records undecoded, plus what only this machine knows now: the frames of new
        stack ids (as `stack` events, written first) and the names of new shrinker addresses."""
        stacks, symbols, counts = self._decoder.index(raw)
        for kind, n in counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        if stacks is not None:
            self._sink({"stack": stacks})
        ts0 = int.from_bytes(raw[:8], "little")
        context = context_json(EVENT_SIZE, self._decoder.stack_offset, symbols)
        self._writer_call(lambda w: w.append_raw(ts0, raw, context))

    def _tick(self) -> None:
        lost = self._session.lost_per_cpu()
        if lost:
            cpus = sorted(lost)
            for c in cpus:
                self.lost_by_cpu[c] = self.lost_by_cpu.get(c, 0) + lost[c]
            self._notices.append(f"{sum(lost.values())} events lost (ring buffer full)")
            self._append_rows("lost", [{"ts_ns": _mono(), "cpu": max(c, 0), "pid": 0, "tid": 0,
                                        "comm": "", "lost_count": lost[c]} for c in cpus])
        self._sample_taskstats()
        self._writer_call(lambda w: w.flush_if_due())

    def _writer_call(self, op) -> None:
        """Run a writer operation; a failed write (disk full) ends the recording cleanly."""
        if self._writer is None or self._writer.closed:
            return
        try:
            op(self._writer)
        except OSError as e:
            self._disk_failed(e)

    def _sample_taskstats(self) -> None:
        if not self._taskstats:
            return
        from ..live.taskstats import gpu_related_tids
        now = time.monotonic()
        if self._ts_tids is None or now - self._ts_scanned >= TASKSTATS_RESCAN_S:
            # scanning every task's fds is the costly part of a tick; tasks come and go slowly
            self._ts_tids = list(gpu_related_tids(extra_pids=self.extra_pids).items())[
                :MAX_TASKSTATS_TIDS]
            self._ts_scanned = now
        rows = []
        for tid, comm in self._ts_tids:
            s = self._taskstats.sample(tid)
            if s is None:
                continue
            rows.append({"ts_ns": s.ts_ns, "cpu": 0, "pid": 0, "tid": 0, "comm": "gemscope",
                         "target_tid": tid, "target_comm": s.comm or comm,
                         "cpu_delay_ns": s.cpu_delay_ns,
                         "freepages_delay_ns": s.freepages_delay_ns,
                         "thrashing_delay_ns": s.thrashing_delay_ns,
                         "compact_delay_ns": s.compact_delay_ns})
        self._append_rows("taskstats", rows)

    def _replan(self) -> None:
        """A module appeared or went: attach a program built for the new symbol set."""
        old_plan, old = self.plan, self._session
        plan = self._make_plan()
        if plan.defines == old_plan.defines and \
                {n: e.target for n, e in plan.entries.items()} == \
                {n: e.target for n, e in old_plan.entries.items()}:
            return
        self._drain(0)
        try:
            self._open_session(plan, old)
        except feat.GemscopeError as e:
            # compiling failed: the old program is still attached and live
            self._notices.append(f"modules changed but re-attaching failed: {e}")
            return
        self._notices.append(f"probes switched to the new program; events in the "
                             f"{self._session.timing.attach_s:.2f} s of attaching were not "
                             "recorded")
        self.plan = plan
        self._notices.append("modules changed (" + ", ".join(feat.modules_signature()) +
                             "): probes re-attached")
        self._emit_probe_status(plan, initial=False, previous=old_plan)

    # ---- output ----
    def _sink(self, decoded: dict[str, dict[str, object]]) -> None:
        for kind, cols in decoded.items():
            n = len(cols["ts_ns"])
            self.counts[kind] = self.counts.get(kind, 0) + n
            if self.keep_events:
                self.buffer.append(_kind_batch(kind, cols, n))
            self._writer_call(lambda w: w.append(kind, cols))

    def _append_rows(self, kind: str, rows: list[dict]) -> None:
        if not rows:
            return
        names = [c for c in schema.kind_columns(kind) if c != "kind"]
        self._sink({kind: {c: [r.get(c) for r in rows] for c in names}})

    def _disk_failed(self, e: OSError) -> None:
        what = "disk full" if e.errno == errno.ENOSPC else f"write failed ({e.strerror})"
        self.failed = what
        self._notices.append(f"{what}: the recording keeps every event flushed before; "
                             "recording stopped")
        # batches already flushed stay readable (a reader reports the file as truncated);
        # nothing more is written
        try:
            self._writer._file.close()
        except (OSError, ValueError):
            pass
        self._writer.closed = True
        self._stop.set()

    def _emit_probe_status(self, plan: Plan, initial: bool, previous: Plan | None = None) -> None:
        rows = []
        for name, e in plan.entries.items():
            before = previous.entries.get(name) if previous else None
            if not initial and before is not None and before.status == e.status:
                continue
            rows.append({"ts_ns": _mono(), "cpu": 0, "pid": 0, "tid": 0, "comm": "gemscope",
                         "probe": name, "status": e.status, "reason": e.reason})
        self._append_rows("probe_status", rows)

    # ---- Source protocol ----
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        try:
            if self._session and self._session.bpf is not None:
                self._drain(0)
                self._tick()
                self._final_histograms()
                self._final_self_cost()
        except Exception as e:  # stopping must never end in a traceback: keep what we have
            self._notices.append(f"while stopping: {_first_line(e)}")
        finally:
            self._writer_call(lambda w: w.close())
            if self._session:
                self._session.close()
            if self.self_cost:
                self.self_cost.close()
            if self._taskstats:
                self._taskstats.close()
            if self._delayacct:
                self._delayacct.restore()

    def _final_histograms(self) -> None:
        """The in-kernel aggregates, kept as generic events so the recording has them."""
        rows = []
        for name in ("uncontended_log2_ns", "nonresv_ww_log2_ns"):
            h = self._session.histogram(name)
            self.histograms[name] = h
            rows.append({"ts_ns": _mono(), "cpu": 0, "pid": 0, "tid": 0, "comm": "gemscope",
                         "event_name": f"gemscope:{name}",
                         "payload": json.dumps({str(k): v for k, v in sorted(h.items())})})
        self._append_rows("generic", rows)

    def _final_self_cost(self) -> None:
        """--self-cost: gemscope's BPF run time per program, kept as a generic event."""
        if not self.self_cost:
            return
        self.self_cost.harvest()
        rows = [{"ts_ns": _mono(), "cpu": 0, "pid": 0, "tid": 0, "comm": "gemscope",
                 "event_name": "gemscope:self_cost",
                 "payload": json.dumps(self.self_cost.by_program())}]
        self._append_rows("generic", rows)

    def snapshot(self) -> Frames:
        return self.buffer.snapshot()

    def notices(self) -> list[str]:
        return list(self._notices)

    @property
    def done(self) -> bool:
        return self._stopped or self._stop.is_set()

    @property
    def lost_total(self) -> int:
        return sum(self.lost_by_cpu.values())

    @property
    def session(self) -> BccSession | None:
        return self._session


def _kind_batch(kind: str, cols: dict, n: int) -> pa.RecordBatch:
    """A batch with only this kind's columns (the live buffer would otherwise hold ~70 mostly
    null columns per event); frames_from_batches reads whatever columns a batch has."""
    names = schema.kind_columns(kind)
    arrays = []
    for c in names:
        typ = schema.FIELDS[c].type
        if c == "kind":
            arrays.append(pa.array([kind] * n, typ))
        elif c in cols:
            arrays.append(_to_arrow(cols[c], typ))
        else:
            arrays.append(pa.nulls(n, typ))
    return pa.RecordBatch.from_arrays(arrays, names=list(names))


def _bench_defines() -> dict[str, bool]:
    """GEMSCOPE_BPF_BENCH=GS_BENCH_NO_STACKS,GS_BENCH_NO_EMIT: the cost-splitting switches of
    benchmarks/guest_overhead.py (they drop data: never for a real recording). Only GS_BENCH_*
    names are accepted."""
    raw = os.environ.get("GEMSCOPE_BPF_BENCH", "")
    return {n.strip(): True for n in raw.split(",") if n.strip().startswith("GS_BENCH_")}


def _mono() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def _cflags(plan: Plan) -> list[str]:
    from probes.program import cflags
    return cflags(plan.defines)


def check_buffer_mib(mib: int) -> int:
    """mib, or a one-line GemscopeError when it is not a power of two in 1..MAX_BUFFER_MIB."""
    if not isinstance(mib, int) or mib < 1 or mib > MAX_BUFFER_MIB or mib & (mib - 1):
        raise GemscopeError(f"--buffer-mib {mib}: the ring buffer must be a power of two "
                            f"from 1 to {MAX_BUFFER_MIB} MiB")
    return mib


def _raise_priority() -> None:
    """The reader thread runs at nice READER_NICE (root only; silently kept otherwise): when the
    traced workload keeps every CPU busy, a reader at the workload's priority gets too little
    CPU to drain, and the kernel drops events. Waking every few ms, it takes little."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICE)
    except (OSError, AttributeError):
        pass


def next_wait_ms(got_bytes: int, elapsed_s: float, poll_ms: int,
                 buffer_bytes: int = BUFFER_BYTES) -> int:
    """How long the reader sleeps before its next drain: poll_ms, or less when the rate just seen
    (got_bytes over elapsed_s) would fill a quarter of buffer_bytes sooner."""
    if got_bytes <= 0 or elapsed_s <= 0:
        return poll_ms
    quarter_ms = 1000 * (buffer_bytes / 4) / (got_bytes / elapsed_s)
    return int(max(MIN_POLL_MS, min(poll_ms, quarter_ms)))


def _first_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:200]


def open_live_source(args, *, keep_events: bool = True) -> BccSource:
    """A BccSource from parsed command-line arguments (`output`, `uncontended_ns`, `no_taskstats`,
    `pids`, `all_lock_stacks`, `all_free_stacks`, `buffer_mib`; all optional). keep_events=False
    for a headless recorder (no TUI snapshots). The caller calls start() and, at the end,
    stop()."""
    return BccSource(getattr(args, "output", None),
                     uncontended_ns=getattr(args, "uncontended_ns", DEFAULT_UNCONTENDED_NS),
                     taskstats=not getattr(args, "no_taskstats", False),
                     extra_pids=tuple(getattr(args, "pids", None) or ()),
                     all_lock_stacks=getattr(args, "all_lock_stacks", False),
                     all_free_stacks=getattr(args, "all_free_stacks", False),
                     buffer_mib=getattr(args, "buffer_mib", None) or DEFAULT_BUFFER_MIB,
                     keep_events=keep_events, self_cost=getattr(args, "self_cost", False))


__all__ = ["BccSource", "open_live_source"]
