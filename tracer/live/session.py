"""One compiled-and-attached instance of the combined BPF program.

Owns the BCC object: compiles with the plan's -D flags, attaches the plan's entries (marking the
ones that fail, with the kernel's reason), polls the ring buffer (perf buffer where the kernel has
none) with a callback that only appends raw bytes, reads the per-CPU lost counters and symbolizes
stacks. A new session replaces the old one when a module (msm, drm) loads after start.
"""
from __future__ import annotations

import ctypes as ct
import time
from dataclasses import dataclass, field

from probes import program
from probes.events import EVENT_SIZE
from probes.plan import Plan

from . import ringbuf
from .features import compile_bpf, import_bcc


@dataclass
class Timing:
    compile_s: float = 0.0
    attach_s: float = 0.0


@dataclass
class BccSession:
    plan: Plan
    stack_offset: int = 0
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self):
        self.bpf = None
        self.raw = bytearray()
        self.lost_total = 0
        self._lost_prev: list[int] = []
        self.perf_lost = 0
        self._rb: ringbuf.MmapRingBuffer | None = None

    # ---- lifetime: compile (tracepoints load disabled), attach, enable ----
    def open(self) -> None:
        self.compile()
        self.attach()
        self.enable()

    def compile(self) -> None:
        BPF = import_bcc()
        t0 = time.monotonic()
        self.bpf = compile_bpf(BPF, program.source_text(), program.cflags(self.plan.defines))
        self.timing.compile_s = time.monotonic() - t0

    def attach(self) -> None:
        t0 = time.monotonic()
        self._attach()
        self._open_output()
        # BCC loads its kernel symbol cache on the first ksym(): pay that now, not while
        # recording (it costs ~0.3 s of CPU on a 120k-symbol kallsyms)
        self.bpf.ksym(0)
        self.timing.attach_s = time.monotonic() - t0

    def enable(self) -> None:
        """From now on this program's probes emit events (see gs_enabled in the C)."""
        table = self.bpf["gs_enabled"]
        table[table.Key(0)] = table.Leaf(1)

    def _attach(self) -> None:
        b = self.bpf
        for e in self.plan.attachable():
            s = e.spec
            try:
                if e.method in ("fentry", "fexit"):
                    # BCC loaded and attached KFUNC_PROBE/KRETFUNC_PROBE functions in BPF()
                    fds = b.kfunc_entry_fds if e.method == "fentry" else b.kfunc_exit_fds
                    prefix = b"kfunc__" if e.method == "fentry" else b"kretfunc__"
                    if prefix + s.target.encode() not in fds:
                        raise RuntimeError(f"BCC did not attach {e.method} {s.target}")
                elif e.method == "kprobe":
                    b.attach_kprobe(event=e.target, fn_name=s.fn)
                elif e.method == "kretprobe":
                    # maxactive makes BCC use kprobe_events with an event named after the target,
                    # which cannot hold the ':' of MOD:SYM: module targets use the PMU default
                    b.attach_kretprobe(event=e.target, fn_name=s.fn,
                                       maxactive=0 if ":" in e.target else 64)
                elif e.method == "tracepoint" and s.fn:
                    b.attach_tracepoint(tp=e.target, fn_name=s.fn)
                # tracepoint / raw_tracepoint without fn: BCC attached them while loading
            except Exception as ex:
                self.plan.mark_failed(s.name, _first_line(ex))

    def _open_output(self) -> None:
        table = self.bpf["events"]
        # Not epoll: every record wakes a poller, so at a few thousand events/s the reader would
        # wake (and decode) per record. Sleeping a fixed interval and then consuming whatever
        # is there makes each decode a real batch (the program submits with BPF_RB_NO_WAKEUP:
        # no irq_work per record either); the 64 MiB ring buffer holds ~420k records before
        # anything is lost (and losses are counted).
        if "GS_RINGBUF" in self.plan.defines and ringbuf.usable():
            # read from the map's memory, one numpy pass per drain (tracer/live/ringbuf.py)
            self._rb = ringbuf.MmapRingBuffer(table.map_fd, EVENT_SIZE)
        elif "GS_RINGBUF" in self.plan.defines:
            table.open_ring_buffer(self._on_record)
            self._consume = self.bpf.ring_buffer_consume
        else:
            table.open_perf_buffer(self._on_record, page_cnt=1024, lost_cb=self._on_perf_lost)
            self._consume = self.bpf.perf_buffer_consume

    def _on_record(self, _ctx, data, size) -> None:
        # the only per-event Python: copy the bytes; decoding happens per batch. Exactly one
        # record: perf-buffer samples are padded to 8 bytes after their u32 size, so `size`
        # can exceed the record and would shift every later record of the batch.
        if size >= EVENT_SIZE:
            self.raw += ct.string_at(data, EVENT_SIZE)

    def _on_perf_lost(self, lost) -> None:
        self.perf_lost += int(lost)

    def poll(self, timeout_ms: int = 50) -> bytes:
        """Wait timeout_ms, then take every record there is; the raw bytes since last call."""
        if timeout_ms:
            time.sleep(timeout_ms / 1000)
        if self._rb is not None:
            return self._rb.consume()
        self._consume()
        raw, self.raw = self.raw, bytearray()
        return bytes(raw)

    def lost_per_cpu(self) -> dict[int, int]:
        """Events dropped since the last call, per CPU (ring buffer full), never silent."""
        vals = [int(v) for v in self.bpf["lost"][0]]
        prev = self._lost_prev or [0] * len(vals)
        self._lost_prev = vals
        out = {cpu: v - p for cpu, (v, p) in enumerate(zip(vals, prev)) if v > p}
        if self.perf_lost:
            out[-1] = out.get(-1, 0) + self.perf_lost   # perf buffer reports no cpu
            self.perf_lost = 0
        self.lost_total += sum(out.values())
        return out

    def stack_frames(self, stack_id: int) -> list[str]:
        try:
            addrs = self.bpf["stacks"].walk(stack_id)
            return [self.bpf.ksym(a, show_offset=True).decode(errors="replace") for a in addrs]
        except Exception:
            return []   # the id was evicted or reused: frames unknown

    def symbol(self, addr: int) -> str:
        """'func' at a function's start (a shrinker callback), else 'func+0xoff' (a return
        address), as in stacks; the hex address when unknown."""
        name = self.bpf.ksym(addr, show_offset=True).decode(errors="replace")
        if name.startswith("[unknown]"):
            return f"{addr:#x}"
        return name.removesuffix("+0x0")

    def histogram(self, name: str) -> dict[int, int]:
        """An in-kernel log2 histogram: bucket (log2 ns) -> count."""
        return {int(k.value): int(v.value) for k, v in self.bpf[name].items() if v.value}

    def close(self) -> None:
        if self._rb is not None:
            self._rb.close()
            self._rb = None
        if self.bpf is not None:
            try:
                self.bpf.cleanup()
            finally:
                self.bpf = None


def _first_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:200]
