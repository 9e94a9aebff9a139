/* gemscope: tracepoint parts (work on any kernel with BPF tracepoints; no kprobes needed).
 * lock:contention_* as raw tracepoints (cheapest; args are (void *lock, unsigned flags) and
 * (void *lock, int ret) on every kernel that has them), the rest as tracepoints whose `args`
 * BCC builds from the running kernel's tracefs format files. */

#ifdef GS_TP_CONTENTION
#define LCB_F_MUTEX 32
RAW_TRACEPOINT_PROBE(contention_begin)
{
    u64 lock = ctx->args[0];
    u32 flags = (u32)ctx->args[1];
    u64 key = pkey(current_tid(), P_CONTENTION);
    /* a mutex waiter emits begin again inside its wait loop: keep the first one */
    if (pending.lookup(&key))
        return 0;
#ifndef GS_CONTENTION_ALL
    if (!is_resv(lock))
        return 0;
#endif
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    p.a0 = lock;
    p.aux = flags;
    p.holder = (flags & LCB_F_MUTEX) ? owner_word(lock) : 0;
    /* a first waiter's begin can come right after the unlocker handed the mutex to it
     * (__mutex_handoff makes the waiter the owner before it wakes): no other holder then */
    if ((p.holder & ~7ULL) == bpf_get_current_task())
        p.holder = 0;
    p.stack_id = gs_stack(ctx);
    pending.update(&key, &p);
#if defined(GS_KPROBES) || defined(GS_FENTRY)
    /* this thread waits inside ww_mutex_lock on this lock: its resv_lock event gets this stack
     * (its call site), walked once for both events */
    struct gs_thread *t = thread_now();
    if (t && t->lock_call.ts_ns && t->lock_call.a0 == lock && t->lock_call.stack_id < 0)
        t->lock_call.stack_id = p.stack_id;
#endif
    return 0;
}

RAW_TRACEPOINT_PROBE(contention_end)
{
    u64 key = pkey(current_tid(), P_CONTENTION);
    struct gs_pending *p = pending.lookup(&key);
    /* only the end of the wait that began: a spinlock contended inside a mutex wait (its
     * wait_lock) ends first, and is not the mutex's end */
    if (!p || p->a0 != ctx->args[0])
        return 0;
    struct gs_event e;
    fill_common(&e, T_LOCK_CONTENTION);
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.aux = p->aux;
    e.stack_id = p->stack_id;
    e.ret = (s32)ctx->args[1];
    e.bits = context_bits();
    if (is_resv(p->a0))
        e.bits |= B_IS_RESV;
    read_holder(&e, p->holder);
    pending.delete(&key);
    emit(ctx, &e);
    return 0;
}
#endif /* GS_TP_CONTENTION */

#ifdef GS_TP_SHRINK_SLAB
TRACEPOINT_PROBE(vmscan, mm_shrink_slab_start)
{
#ifdef GS_FN_SHRINKER_SCAN
    if ((u64)args->shrink != GS_FN_SHRINKER_SCAN)
        return 0;
#endif
    u64 key = pkey(current_tid(), P_SHRINK_SLAB);
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    p.a0 = (u64)args->shrink;
    p.a1 = args->total_scan;
    p.a2 = args->cache_items;
    p.aux = (u32)args->gfp_flags;
    pending.update(&key, &p);
    return 0;
}

TRACEPOINT_PROBE(vmscan, mm_shrink_slab_end)
{
    u64 key = pkey(current_tid(), P_SHRINK_SLAB);
    struct gs_pending *p = pending.lookup(&key);
    if (!p || p->a0 != (u64)args->shrink)
        return 0;
    struct gs_event e;
    fill_common(&e, T_SHRINK_SLAB);
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.a1 = p->a1;
    e.a2 = p->a2;
    e.ret = args->retval;
    e.aux = p->aux;
    e.bits = context_bits();
    pending.delete(&key);
    emit(args, &e);
    return 0;
}
#endif /* GS_TP_SHRINK_SLAB */

#ifdef GS_TP_DIRECT_RECLAIM
TRACEPOINT_PROBE(vmscan, mm_vmscan_direct_reclaim_begin)
{
    u64 key = pkey(current_tid(), P_DIRECT_RECLAIM);
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    p.a0 = args->order;
    p.aux = (u32)args->gfp_flags;
    pending.update(&key, &p);
    struct gs_thread *t = thread_state();
    if (t)
        t->direct_reclaim_depth = 1;
    return 0;
}

TRACEPOINT_PROBE(vmscan, mm_vmscan_direct_reclaim_end)
{
    u64 key = pkey(current_tid(), P_DIRECT_RECLAIM);
    struct gs_pending *p = pending.lookup(&key);
    struct gs_thread *t = thread_state();
    if (t)
        t->direct_reclaim_depth = 0;
    if (!p)
        return 0;
    struct gs_event e;
    fill_common(&e, T_DIRECT_RECLAIM);
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.a1 = args->nr_reclaimed;
    e.aux = p->aux;
    e.bits = bits_of(t) | B_IN_RECLAIM | B_DIRECT;
    pending.delete(&key);
    emit(args, &e);
    return 0;
}
#endif /* GS_TP_DIRECT_RECLAIM */

#ifdef GS_TP_FENCE_SIGNALED
TRACEPOINT_PROBE(dma_fence, dma_fence_signaled)
{
    struct gs_event e;
    fill_common(&e, T_FENCE_SIGNAL);
    e.a0 = args->context;
    e.a1 = args->seqno;
    u32 loc = args->data_loc_driver;
    bpf_probe_read_kernel_str(&e.str1, sizeof(e.str1), (char *)args + (loc & 0xFFFF));
    loc = args->data_loc_timeline;
    bpf_probe_read_kernel_str(&e.str2, sizeof(e.str2), (char *)args + (loc & 0xFFFF));
    e.bits = context_bits();
    emit(args, &e);
    return 0;
}
#endif /* GS_TP_FENCE_SIGNALED */

#if defined(GS_TP_KTHREAD_WORK) && defined(GS_FN_RETIRE_WORKER)
/* msm's retire_worker is a kthread_work: workqueue:* never sees it */
TRACEPOINT_PROBE(sched, sched_kthread_work_queue_work)
{
    if ((u64)args->function != GS_FN_RETIRE_WORKER)
        return 0;
    u64 work = (u64)args->work;
    u64 now = bpf_ktime_get_ns();
    queued.update(&work, &now);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_kthread_work_execute_start)
{
    if ((u64)args->function != GS_FN_RETIRE_WORKER)
        return 0;
    struct gs_thread *t = thread_state();
    if (!t)
        return 0;
    u64 work = (u64)args->work;
    u64 *q = queued.lookup(&work);
    t->retire_queued_ns = q ? *q : 0;
    if (q)
        queued.delete(&work);
    t->retire_depth = 1;
    t->submits = 0;
    t->retire_start_ns = bpf_ktime_get_ns();
    return 0;
}

TRACEPOINT_PROBE(sched, sched_kthread_work_execute_end)
{
    if ((u64)args->function != GS_FN_RETIRE_WORKER)
        return 0;
    u32 tid = current_tid();
    struct gs_thread *t = threads.lookup(&tid);
    if (!t || !t->retire_depth)
        return 0;
    struct gs_event e;
    fill_common(&e, T_RETIRE_RUN);
    e.duration_ns = e.ts_ns - t->retire_start_ns;
    e.ts_ns = t->retire_start_ns;
    e.a0 = t->retire_queued_ns ? t->retire_start_ns - t->retire_queued_ns : (u64)-1;
    e.a1 = t->submits;
    t->retire_depth = 0;
    e.bits = bits_of(t) | B_IN_RETIRE;
    emit(args, &e);
    return 0;
}
#endif /* GS_TP_KTHREAD_WORK && GS_FN_RETIRE_WORKER */
