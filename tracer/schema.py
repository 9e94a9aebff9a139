"""The one declared event schema of gemscope.

Every source (live BCC, live tracefs, ftrace text, trace.dat, the simulator) produces events of the
kinds declared here, and every analysis reads them back through `frames.load_frames`.

Conventions (read these before adding a field):
- One clock: ``ts_ns`` is CLOCK_MONOTONIC in nanoseconds (what ``bpf_ktime_get_ns`` and tracefs'
  ``mono`` clock give). The recording's metadata holds ``realtime_offset_ns`` so that
  ``ts_ns + realtime_offset_ns`` is wall-clock time.
- Interval events (a lock wait, a free, a worker run) use ``ts_ns`` for the START and
  ``duration_ns`` for the length; the end is ``ts_ns + duration_ns``.
- Units live in names: ``_ns``, ``_bytes``, ``_pages``. Kernel addresses are uint64 (``_addr``).
- Every event carries ``ts_ns, cpu, pid, tid, comm, kind``. ``pid`` is the tgid, ``tid`` the thread.
- A field a source could not measure is null, never zero: analyses treat null as "unknown".

The on-disk form is one Arrow table whose columns are the union of all kinds' fields (nullable);
in memory each kind becomes its own DataFrame holding only its own columns.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 1

# Where a piece of work ran. Order matters only for display.
CONTEXTS = ("retire_worker", "ioctl", "shrinker", "reclaim", "other")

# The msm shrinker's LRU stages (v6.1+) plus the vmap purge notifier's scan.
SHRINK_STAGES = ("purge", "evict", "active_purge", "active_evict", "vmap")

# How reclaim reached the shrinker.
RECLAIM_KINDS = ("kswapd", "direct", "debugfs", "other")


@dataclass(frozen=True)
class Field:
    name: str
    type: pa.DataType
    doc: str


def _f(name: str, typ: pa.DataType, doc: str) -> Field:
    return Field(name, typ, doc)


COMMON_FIELDS: tuple[Field, ...] = (
    _f("ts_ns", pa.int64(), "CLOCK_MONOTONIC ns; start of the interval for interval events"),
    _f("cpu", pa.int16(), "CPU the event was recorded on"),
    _f("pid", pa.int32(), "process id (tgid) of the current task"),
    _f("tid", pa.int32(), "thread id of the current task"),
    _f("comm", pa.string(), "task name of the current task"),
    _f("kind", pa.string(), "event kind, one of KINDS"),
)

_FIELD_LIST: tuple[Field, ...] = (
    # identity
    _f("obj_addr", pa.uint64(), "struct drm_gem_object * (== msm_gem_object *, == kref *)"),
    _f("lock_addr", pa.uint64(), "lock address; for a dma_resv it is the resv address"),
    _f("ctx_addr", pa.uint64(), "struct ww_acquire_ctx * passed by the caller (0 = none)"),
    _f("lru_addr", pa.uint64(), "struct drm_gem_lru * the object is on / the scan walks"),
    _f("size_bytes", pa.uint64(), "GEM object size in bytes"),
    _f("is_resv", pa.bool_(), "the lock is a dma_resv (registry or caller says so)"),
    # timing
    _f("duration_ns", pa.int64(), "length of the interval (wait, run, free...) in ns"),
    _f("queue_delay_ns", pa.int64(), "time from queueing work to its start, ns"),
    # outcome
    _f("ret", pa.int64(), "return value (ww: 0, -EDEADLK=-35, -EALREADY=-114, -EINTR=-4)"),
    _f("success", pa.bool_(), "trylock won / object reclaimed / call succeeded"),
    _f("flags", pa.uint32(), "lock:contention_begin flags, LCB_F_*"),
    # who
    _f("holder_tid", pa.int32(), "task holding the lock when the wait/trylock began (0 = none)"),
    _f("holder_comm", pa.string(), "name of the holder task"),
    _f("context", pa.string(), "where it ran: one of CONTEXTS"),
    _f("in_reclaim", pa.bool_(), "PF_MEMALLOC/PF_KSWAPD set or inside direct reclaim"),
    _f("caller", pa.string(), "symbolized caller (function+offset) of the probed call"),
    _f("stack_id", pa.int32(), "kernel stack id; its frames are in a 'stack' event"),
    _f("api", pa.string(), "entry point used: ww_mutex_lock, ww_mutex_lock_interruptible, "
                           "drm_exec_lock_obj, ww_mutex_trylock, mutex_trylock ..."),
    # shrinker
    _f("stage", pa.string(), "shrinker stage (SHRINK_STAGES) the event happened in"),
    _f("reclaim_kind", pa.string(), "how reclaim reached the shrinker: RECLAIM_KINDS"),
    _f("gfp_flags", pa.uint32(), "gfp mask of the reclaim/scan"),
    _f("nr_to_scan_pages", pa.int64(), "pages the caller asked to scan"),
    _f("freed_pages", pa.int64(), "pages freed (shrinker return / LRU scan return)"),
    _f("remaining_pages", pa.int64(), "pages skipped because the resv trylock failed"),
    _f("count_pages", pa.int64(), "pages reported by the count callback / cache_items"),
    _f("purged_pages", pa.int64(), "msm_gem_shrink: purged"),
    _f("evicted_pages", pa.int64(), "msm_gem_shrink: evicted"),
    _f("active_purged_pages", pa.int64(), "msm_gem_shrink: active_purged"),
    _f("active_evicted_pages", pa.int64(), "msm_gem_shrink: active_evicted"),
    _f("nr_reclaimed_pages", pa.int64(), "direct reclaim: pages reclaimed"),
    _f("order", pa.int16(), "direct reclaim: allocation order"),
    _f("shrinker", pa.string(), "shrinker name or scan function symbol"),
    # retire / gpu
    _f("submits_retired", pa.int32(), "submits retired by one retire worker run"),
    _f("submit_id", pa.uint32(), "msm submit id"),
    _f("ring_id", pa.uint32(), "GPU ring"),
    _f("seqno", pa.uint32(), "fence seqno"),
    _f("submit_pid", pa.int32(), "pid of the process that made the submit"),
    _f("nr_bos", pa.uint32(), "buffer objects in the submit"),
    _f("nr_cmds", pa.uint32(), "command buffers in the submit"),
    _f("gpu_elapsed_ns", pa.uint64(), "GPU time of the submit"),
    _f("gpu_clock_mhz", pa.uint64(), "GPU clock at retire"),
    _f("start_ticks", pa.uint64(), "always-on counter ticks at submit start"),
    _f("end_ticks", pa.uint64(), "always-on counter ticks at submit end"),
    _f("fence_context", pa.uint64(), "dma_fence context"),
    _f("driver", pa.string(), "dma_fence driver name"),
    _f("timeline", pa.string(), "dma_fence timeline name"),
    _f("timeout_ns", pa.int64(), "timeout given to a fence wait"),
    # bookkeeping
    _f("lost_count", pa.int64(), "events the kernel dropped (per cpu, since the last report)"),
    _f("frames", pa.string(), "newline-separated symbolized kernel stack, innermost first"),
    _f("probe", pa.string(), "probe name in the attach plan"),
    _f("status", pa.string(), "probe status: attached / missing / failed"),
    _f("reason", pa.string(), "why a probe is missing or failed"),
    _f("target_tid", pa.int32(), "taskstats: the task the sample is about"),
    _f("target_comm", pa.string(), "taskstats: name of that task"),
    _f("cpu_delay_ns", pa.int64(), "taskstats: cumulative run-queue delay"),
    _f("freepages_delay_ns", pa.int64(), "taskstats: cumulative direct-reclaim delay"),
    _f("thrashing_delay_ns", pa.int64(), "taskstats: cumulative thrashing delay"),
    _f("compact_delay_ns", pa.int64(), "taskstats: cumulative compaction delay"),
    _f("event_name", pa.string(), "generic: system:event of an event gemscope does not model"),
    _f("payload", pa.string(), "generic: the event's fields as text (never evaluated)"),
)

FIELDS: dict[str, Field] = {f.name: f for f in COMMON_FIELDS + _FIELD_LIST}
COMMON = tuple(f.name for f in COMMON_FIELDS)


@dataclass(frozen=True)
class Kind:
    name: str
    fields: tuple[str, ...]
    doc: str


def _k(name: str, fields: str, doc: str) -> Kind:
    names = tuple(fields.split())
    for n in names:
        if n not in FIELDS:
            raise KeyError(f"kind {name}: unknown field {n}")
    return Kind(name, names, doc)


KINDS: dict[str, Kind] = {k.name: k for k in (
    _k("resv_lock", "lock_addr obj_addr ctx_addr duration_ns ret holder_tid holder_comm context "
                    "in_reclaim caller stack_id api is_resv",
       "a blocking reservation (ww_mutex / drm_exec) acquisition; duration_ns is the time in the call"),
    _k("resv_trylock", "lock_addr obj_addr ctx_addr success holder_tid holder_comm context "
                       "in_reclaim caller stack_id api stage size_bytes is_resv",
       "a reservation trylock and its outcome, with the holder when it failed"),
    _k("resv_hold", "lock_addr obj_addr duration_ns context caller stack_id",
       "a reservation held from acquisition to ww_mutex_unlock (hold time)"),
    _k("lock_contention", "lock_addr flags duration_ns ret holder_tid holder_comm is_resv context "
                          "in_reclaim stack_id",
       "lock:contention_begin..end paired per thread; duration_ns is the wait"),
    _k("free", "obj_addr size_bytes duration_ns context in_reclaim lru_addr lock_addr stack_id",
       "msm_gem_free_object entry..return: the finalizer (lock_addr = obj->resv)"),
    _k("last_put", "obj_addr size_bytes context in_reclaim stack_id caller",
       "drm_gem_object_free: the last reference was dropped here"),
    _k("shrink_count", "count_pages gfp_flags reclaim_kind duration_ns",
       "msm_gem_shrinker_count: pages the shrinker offered"),
    _k("shrink_scan", "nr_to_scan_pages freed_pages gfp_flags reclaim_kind duration_ns in_reclaim",
       "msm_gem_shrinker_scan entry..return; freed_pages is null when it returned SHRINK_STOP"),
    _k("lru_scan", "stage lru_addr nr_to_scan_pages freed_pages remaining_pages duration_ns",
       "drm_gem_lru_scan for one shrinker stage; remaining_pages = pages whose trylock failed"),
    _k("shrink_object", "stage obj_addr size_bytes success duration_ns lock_addr",
       "purge/evict/active_purge/active_evict callback on one object"),
    _k("shrink_tp", "nr_to_scan_pages purged_pages evicted_pages active_purged_pages "
                    "active_evicted_pages",
       "the drm_msm_gpu:msm_gem_shrink tracepoint (emitted only when something was freed)"),
    _k("shrink_slab", "shrinker nr_to_scan_pages freed_pages count_pages gfp_flags duration_ns",
       "vmscan:mm_shrink_slab_start..end for the msm shrinker"),
    _k("fence_wait", "lock_addr duration_ns timeout_ns ret context in_reclaim stack_id",
       "dma_resv_wait_timeout entry..return (active_* stages, close)"),
    _k("retire_run", "duration_ns queue_delay_ns submits_retired",
       "one execution of the msm retire_worker kthread work"),
    _k("fence_signal", "fence_context seqno driver timeline",
       "dma_fence:dma_fence_signaled"),
    _k("gpu_submit", "submit_id ring_id nr_bos nr_cmds submit_pid",
       "drm_msm_gpu:msm_gpu_submit"),
    _k("gpu_retired", "submit_id ring_id seqno submit_pid gpu_elapsed_ns gpu_clock_mhz "
                      "start_ticks end_ticks",
       "drm_msm_gpu:msm_gpu_submit_retired (emitted in retire_submit before the BOs are put)"),
    _k("direct_reclaim", "duration_ns order gfp_flags nr_reclaimed_pages",
       "vmscan:mm_vmscan_direct_reclaim_begin..end"),
    _k("taskstats", "target_tid target_comm cpu_delay_ns freepages_delay_ns thrashing_delay_ns "
                    "compact_delay_ns",
       "a delay-accounting sample over taskstats netlink (cumulative values)"),
    _k("lost", "lost_count", "events dropped by the kernel on this cpu"),
    _k("stack", "stack_id frames", "the symbolized frames of a stack id"),
    _k("probe_status", "probe status reason", "a probe attached, went missing or failed"),
    _k("generic", "event_name payload", "an imported event gemscope does not model"),
)}


# Storage only, never an event kind: `gemscope record` stores the BPF program's records as it
# read them (one row per drain: the bytes, and a JSON context with the record size, the stack id
# offset and the shrinker symbols first seen), and reading the recording turns each such row back
# into events of the kinds above (tracer/raw_records.py). Decoding later instead of while tracing
# took the guest's recorder 1.64 instead of 3.71 CPU-s (benchmarks/guest_overhead.py); no
# analysis ever sees this kind.
RAW_KIND = "bpf_raw"
STORAGE_FIELDS: tuple[Field, ...] = (
    _f("raw_records", pa.large_binary(), "bpf_raw: struct gs_event records, back to back"),
    _f("raw_context", pa.string(), "bpf_raw: JSON {record_size, stack_offset, symbols}"),
)


def arrow_schema(metadata: dict[bytes, bytes] | None = None) -> pa.Schema:
    """The on-disk schema: common columns first, then every field once, all nullable, then the
    storage columns of raw records."""
    return pa.schema([pa.field(f.name, f.type) for f in FIELDS.values()] +
                     [pa.field(f.name, f.type) for f in STORAGE_FIELDS], metadata=metadata)


def kind_columns(kind: str) -> tuple[str, ...]:
    return COMMON + KINDS[kind].fields


def describe() -> str:
    """A human-readable listing of every kind and field (for `gemscope schema`)."""
    out = [f"gemscope event schema v{SCHEMA_VERSION}", ""]
    out.append("common: " + ", ".join(COMMON))
    for k in KINDS.values():
        out.append(f"\n{k.name}: {k.doc}")
        for n in k.fields:
            f = FIELDS[n]
            out.append(f"  {n:22} {str(f.type):8} {f.doc}")
    return "\n".join(out)
