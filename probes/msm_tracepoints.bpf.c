/* gemscope: the drm_msm_gpu tracepoints (submit, submit_retired, msm_gem_shrink). */

#ifdef GS_MSM_TRACEPOINTS
/* drm_msm_gpu tracepoints: layouts from the tracefs format files of msm (identical in 6.1 and
 * 6.12; ../shared/docs/formats). Plain functions attached by the plan, because BCC's
 * TRACEPOINT_PROBE needs the format file at compile time and the verifier gate compiles them on
 * hosts without msm. */
struct gs_tp_msm_gpu_submit {
    u64 common;
    s32 pid;
    u32 id;
    u32 ringid;
    u32 nr_cmds;
    u32 nr_bos;
};

struct gs_tp_msm_gpu_submit_retired {
    u64 common;
    s32 pid;
    u32 id;
    u32 ringid;
    u32 seqno;
    u64 elapsed;
    u64 clock;
    u64 start_ticks;
    u64 end_ticks;
};

struct gs_tp_msm_gem_shrink {
    u64 common;
    u32 nr_to_scan;
    u32 purged;
    u32 evicted;
    u32 active_purged;
    u32 active_evicted;
};

int gs_tp_msm_gpu_submit(struct gs_tp_msm_gpu_submit *args)
{
    struct gs_event e;
    fill_common(&e, T_GPU_SUBMIT);
    e.a0 = args->id;
    e.a1 = args->ringid;
    e.a2 = args->nr_bos;
    e.a3 = args->nr_cmds;
    e.aux = args->pid;
    emit(args, &e);
    return 0;
}

int gs_tp_msm_gpu_submit_retired(struct gs_tp_msm_gpu_submit_retired *args)
{
    struct gs_event e;
    fill_common(&e, T_GPU_RETIRED);
    e.a0 = args->id;
    e.a1 = args->ringid;
    e.a2 = args->seqno;
    e.a3 = args->elapsed;
    e.a4 = args->clock;
    e.a5 = args->start_ticks;
    e.ret = args->end_ticks;
    e.aux = args->pid;
    /* one retire_submit per event: the submits_retired count of the current retire run */
    struct gs_thread *t = thread_now();
    if (t && t->retire_depth)
        t->submits++;
    e.bits = bits_of(t);
    emit(args, &e);
    return 0;
}

int gs_tp_msm_gem_shrink(struct gs_tp_msm_gem_shrink *args)
{
    struct gs_event e;
    fill_common(&e, T_SHRINK_TP);
    e.a0 = args->nr_to_scan;
    e.a1 = args->purged;
    e.a2 = args->evicted;
    e.a3 = args->active_purged;
    e.a4 = args->active_evicted;
    e.bits = context_bits();
    emit(args, &e);
    return 0;
}
#endif /* GS_MSM_TRACEPOINTS */
