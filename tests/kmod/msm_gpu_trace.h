/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The drm_msm_gpu tracepoints gemscope reads, with the field layouts of the real msm
 * (drivers/gpu/drm/msm/msm_gpu_trace.h; offsets checked against
 * shared/docs/formats/drm_msm_gpu-6.12-arm64.txt). Scalar TP_PROTOs because there is no real
 * msm_gem_submit to pass; the recorded fields and their order are msm's.
 */
#if !defined(_MSM_GPU_TRACE_H_) || defined(TRACE_HEADER_MULTI_READ)
#define _MSM_GPU_TRACE_H_

#include <linux/tracepoint.h>

#undef TRACE_SYSTEM
#define TRACE_SYSTEM drm_msm_gpu
#define TRACE_INCLUDE_FILE msm_gpu_trace

TRACE_EVENT(msm_gpu_submit,
	TP_PROTO(pid_t pid, u32 ringid, u32 id, u32 nr_bos, u32 nr_cmds),
	TP_ARGS(pid, ringid, id, nr_bos, nr_cmds),
	TP_STRUCT__entry(
		__field(pid_t, pid)
		__field(u32, id)
		__field(u32, ringid)
		__field(u32, nr_cmds)
		__field(u32, nr_bos)
	),
	TP_fast_assign(
		__entry->pid = pid;
		__entry->id = id;
		__entry->ringid = ringid;
		__entry->nr_bos = nr_bos;
		__entry->nr_cmds = nr_cmds
	),
	TP_printk("id=%d pid=%d ring=%d bos=%d cmds=%d",
		__entry->id, __entry->pid, __entry->ringid, __entry->nr_bos, __entry->nr_cmds)
);

TRACE_EVENT(msm_gpu_submit_retired,
	TP_PROTO(pid_t pid, u32 id, u32 ringid, u32 seqno, u64 elapsed, u64 clock, u64 start, u64 end),
	TP_ARGS(pid, id, ringid, seqno, elapsed, clock, start, end),
	TP_STRUCT__entry(
		__field(pid_t, pid)
		__field(u32, id)
		__field(u32, ringid)
		__field(u32, seqno)
		__field(u64, elapsed)
		__field(u64, clock)
		__field(u64, start_ticks)
		__field(u64, end_ticks)
	),
	TP_fast_assign(
		__entry->pid = pid;
		__entry->id = id;
		__entry->ringid = ringid;
		__entry->seqno = seqno;
		__entry->elapsed = elapsed;
		__entry->clock = clock;
		__entry->start_ticks = start;
		__entry->end_ticks = end;
	),
	TP_printk("id=%d pid=%d ring=%d:%d elapsed=%lld ns mhz=%lld start=%lld end=%lld",
		__entry->id, __entry->pid, __entry->ringid, __entry->seqno,
		__entry->elapsed, __entry->clock, __entry->start_ticks, __entry->end_ticks)
);

TRACE_EVENT(msm_gem_shrink,
	TP_PROTO(u32 nr_to_scan, u32 purged, u32 evicted, u32 active_purged, u32 active_evicted),
	TP_ARGS(nr_to_scan, purged, evicted, active_purged, active_evicted),
	TP_STRUCT__entry(
		__field(u32, nr_to_scan)
		__field(u32, purged)
		__field(u32, evicted)
		__field(u32, active_purged)
		__field(u32, active_evicted)
	),
	TP_fast_assign(
		__entry->nr_to_scan = nr_to_scan;
		__entry->purged = purged;
		__entry->evicted = evicted;
		__entry->active_purged = active_purged;
		__entry->active_evicted = active_evicted;
	),
	TP_printk("nr_to_scan=%u pg, purged=%u pg, evicted=%u pg, active_purged=%u pg, active_evicted=%u pg",
		__entry->nr_to_scan, __entry->purged, __entry->evicted,
		__entry->active_purged, __entry->active_evicted)
);

TRACE_EVENT(msm_gem_purge_vmaps,
	TP_PROTO(u32 unmapped),
	TP_ARGS(unmapped),
	TP_STRUCT__entry(__field(u32, unmapped)),
	TP_fast_assign(__entry->unmapped = unmapped;),
	TP_printk("Purging %u vmaps", __entry->unmapped)
);

#endif

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#include <trace/define_trace.h>
