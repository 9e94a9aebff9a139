/* gemscope: ww_mutex / dma_resv parts. Two front-ends share one body per probe point:
 *   kprobes  gs_k_* (entry) / gs_kr_* (return), attached by the plan (GS_KPROBES), and
 *   fentry   KFUNC_PROBE / KRETFUNC_PROBE (BPF trampolines: no int3 trap, no return-address
 *            hijack), compiled per function when the plan puts it on the fentry rung
 *            (GS_FENTRY_<function>); BCC attaches those while loading.
 *
 * resv address == &resv->lock == &resv->lock.base == the ww_mutex_* `lock` argument, and the
 * mutex owner word sits at offset 0 (probe-catalog 2.1), so no struct layout is needed here. */

#if defined(GS_KPROBES) || defined(GS_FENTRY)
/* ---- the dma_resv registry: tells reservations from modeset/regulator ww_mutexes ---- */
static __always_inline int resv_init_body(u64 resv)
{
    add_resv(resv, 0, -1);
    return 0;
}

static __always_inline int resv_fini_body(u64 resv)
{
    resv_registry.delete(&resv);
    return 0;
}

/* The lock was acquired now: noted in its registry entry, for the hold time at unlock (only the
 * holder itself can release it meanwhile, so nothing else writes the entry). */
static __always_inline void note_held(u64 lock, u64 now, s32 stack_id)
{
    struct gs_resv *h = resv_registry.lookup(&lock);
    if (h) {
        h->stack_id = stack_id;
        h->held_ns = now;
        return;
    }
    add_resv(lock, now, stack_id);
}

/* ---- blocking acquisitions: ww_mutex_lock / ww_mutex_lock_interruptible, paired through the
 * thread's own lock_call (gemscope_common.bpf.h) ---- */
static __always_inline int ww_lock_entry(void *ctx, u64 lock, u64 ww_ctx, u32 api, int fentry)
{
    u64 now = bpf_ktime_get_ns();
    struct gs_thread *t = thread_state();
    if (!t)
        return 0;
    struct gs_pending *p = &t->lock_call;
    p->ts_ns = now;
    p->a0 = lock;
    p->a1 = ww_ctx;
    p->a2 = is_resv(lock);
    p->holder = p->a2 ? owner_word(lock) : 0;
    p->aux = api;
    p->stack_id = -1;
    /* A stack walk is the most expensive thing a probe does (~2/3 of gemscope's cost in the
     * QEMU guest). With lock:contention recorded, the stack of an acquisition that WAITS is
     * taken in contention_begin (tracepoints.bpf.c puts it here); an uncontended one walks
     * only in reclaim, where reclaim_risks needs its call site. */
#if defined(GS_TP_CONTENTION) && !defined(GS_ALL_LOCK_STACKS)
    if (p->a2 && (bits_of(t) & B_IN_RECLAIM))
#else
    if (p->a2)
#endif
        p->stack_id = fentry ? gs_stack_fentry(ctx) : gs_stack(ctx);
    return 0;
}

static __always_inline int ww_lock_return(void *ctx, s64 ret)
{
    struct gs_thread *t = thread_now();
    if (!t || !t->lock_call.ts_ns)
        return 0;
    struct gs_pending *p = &t->lock_call;
    u64 now = bpf_ktime_get_ns();
    u64 start = p->ts_ns;
    u64 dur = now - start;
    u64 lock = p->a0;
    p->ts_ns = 0;
    if (!p->a2) {
        /* modeset / regulator / other ww classes: aggregated only */
        nonresv_ww_log2_ns.increment(log2_bucket(dur));
        return 0;
    }
    u32 bits = bits_of(t);
    if (ret == 0)
        note_held(lock, now, p->stack_id);
    if (ret == 0 && dur < GS_UNCONTENDED_NS && !(bits & B_IN_RECLAIM)) {
        uncontended_log2_ns.increment(log2_bucket(dur));
        return 0;
    }
    struct gs_event e;
    fill_common(&e, T_RESV_LOCK);
    e.ts_ns = start;
    e.duration_ns = dur;
    e.a0 = lock;
    e.a1 = p->a1;
    e.ret = ret;
    e.stack_id = p->stack_id;
    e.bits = bits | B_IS_RESV | p->aux;
    if (ret == 0)
        e.bits |= B_SUCCESS;
    read_holder(&e, p->holder);
    emit(ctx, &e);
    return 0;
}

/* ---- trylocks: ww_mutex_trylock (v5.16+) or mutex_trylock (v5.15, where dma_resv_trylock
 * lands) ---- */
static __always_inline int trylock_entry(void *ctx, u64 lock, u64 ww_ctx, u32 api, int fentry)
{
    u32 tid = current_tid();
    struct gs_thread *t = threads.lookup(&tid);
    int in_scan = t && (t->shrinker_depth || t->lru_stage);
    if (in_scan && !is_resv(lock)) {
        /* drm_gem_lru_scan trylocks obj->resv: learn pre-existing reservations here */
        add_resv(lock, 0, -1);
    }
    if (!in_scan && !is_resv(lock))
        return 0;
    u64 key = pkey(tid, P_WW_TRYLOCK);
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    p.a0 = lock;
    p.a1 = ww_ctx;
    p.holder = owner_word(lock);
    p.aux = api;
    p.stack_id = fentry ? gs_stack_fentry(ctx) : gs_stack(ctx);
    pending.update(&key, &p);
    return 0;
}

static __always_inline int trylock_return(void *ctx, s64 ret)
{
    u64 key = pkey(current_tid(), P_WW_TRYLOCK);
    struct gs_pending *p = pending.lookup(&key);
    if (!p)
        return 0;
    struct gs_event e;
    fill_common(&e, T_RESV_TRYLOCK);
    /* fill_common stamped the return time: the call lasted from p->ts_ns to now */
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.a1 = p->a1;
    e.ret = ret;
    e.stack_id = p->stack_id;
    e.bits = context_bits() | B_IS_RESV | p->aux;
#if defined(GS_OFF_OBJ__RESV) && defined(GS_OFF_OBJ_RESV) && defined(GS_OFF_OBJ_SIZE)
    {
        /* a private GEM object's resv is its own _resv (catalog 2.2): obj = resv - offset,
         * trusted only if obj->resv points back at this lock */
        u64 obj = p->a0 - GS_OFF_OBJ__RESV, back = 0, size = 0;
        bpf_probe_read_kernel(&back, sizeof(back), (void *)(obj + GS_OFF_OBJ_RESV));
        if (back == p->a0) {
            bpf_probe_read_kernel(&size, sizeof(size), (void *)(obj + GS_OFF_OBJ_SIZE));
            e.a2 = obj;
            e.a3 = size;
        }
    }
#endif
    if (ret) {
        e.bits |= B_SUCCESS;
        note_held(p->a0, bpf_ktime_get_ns(), p->stack_id);
    } else {
        read_holder(&e, p->holder);
    }
    pending.delete(&key);
    emit(ctx, &e);
    return 0;
}

/* ---- hold time: acquisition (above) .. ww_mutex_unlock ---- */
static __always_inline int unlock_body(void *ctx, u64 lock)
{
    struct gs_resv *h = resv_registry.lookup(&lock);
    if (!h || !h->held_ns)
        return 0;
    struct gs_event e;
    fill_common(&e, T_RESV_HOLD);
    e.duration_ns = e.ts_ns - h->held_ns;
    e.ts_ns = h->held_ns;
    e.a0 = lock;
    e.stack_id = h->stack_id;
    e.bits = context_bits() | B_IS_RESV;
    h->held_ns = 0;     /* consumed */
    emit(ctx, &e);
    return 0;
}
#endif /* GS_KPROBES || GS_FENTRY */

#ifdef GS_KPROBES
int gs_k_dma_resv_init(struct pt_regs *ctx) { return resv_init_body(PT_REGS_PARM1(ctx)); }
int gs_k_dma_resv_fini(struct pt_regs *ctx) { return resv_fini_body(PT_REGS_PARM1(ctx)); }
int gs_k_ww_mutex_lock(struct pt_regs *ctx)
{
    return ww_lock_entry(ctx, PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), 0, 0);
}
int gs_k_ww_mutex_lock_interruptible(struct pt_regs *ctx)
{
    return ww_lock_entry(ctx, PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), B_INTERRUPTIBLE, 0);
}
int gs_kr_ww_mutex_lock(struct pt_regs *ctx) { return ww_lock_return(ctx, (s32)PT_REGS_RC(ctx)); }
int gs_k_ww_mutex_trylock(struct pt_regs *ctx)
{
    return trylock_entry(ctx, PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), 0, 0);
}
int gs_k_mutex_trylock(struct pt_regs *ctx)
{
    return trylock_entry(ctx, PT_REGS_PARM1(ctx), 0, B_TRYLOCK_MUTEX, 0);
}
int gs_kr_trylock(struct pt_regs *ctx) { return trylock_return(ctx, (s32)PT_REGS_RC(ctx)); }
int gs_k_ww_mutex_unlock(struct pt_regs *ctx) { return unlock_body(ctx, PT_REGS_PARM1(ctx)); }
#endif /* GS_KPROBES */

/* fentry/fexit front-ends (vmlinux functions only: BCC 0.26 resolves KFUNC_PROBE targets in
 * vmlinux BTF). Arguments are taken as u64: only their values are used, never dereferenced. */
#ifdef GS_FENTRY_dma_resv_init
KFUNC_PROBE(dma_resv_init, u64 resv) { return resv_init_body(resv); }
#endif
#ifdef GS_FENTRY_dma_resv_fini
KFUNC_PROBE(dma_resv_fini, u64 resv) { return resv_fini_body(resv); }
#endif
#ifdef GS_FENTRY_ww_mutex_lock
KFUNC_PROBE(ww_mutex_lock, u64 lock, u64 ww_ctx) { return ww_lock_entry(ctx, lock, ww_ctx, 0, 1); }
KRETFUNC_PROBE(ww_mutex_lock, u64 lock, u64 ww_ctx, int ret) { return ww_lock_return(ctx, ret); }
#endif
#ifdef GS_FENTRY_ww_mutex_lock_interruptible
KFUNC_PROBE(ww_mutex_lock_interruptible, u64 lock, u64 ww_ctx)
{
    return ww_lock_entry(ctx, lock, ww_ctx, B_INTERRUPTIBLE, 1);
}
KRETFUNC_PROBE(ww_mutex_lock_interruptible, u64 lock, u64 ww_ctx, int ret)
{
    return ww_lock_return(ctx, ret);
}
#endif
#ifdef GS_FENTRY_ww_mutex_trylock
KFUNC_PROBE(ww_mutex_trylock, u64 lock, u64 ww_ctx) { return trylock_entry(ctx, lock, ww_ctx, 0, 1); }
KRETFUNC_PROBE(ww_mutex_trylock, u64 lock, u64 ww_ctx, int ret) { return trylock_return(ctx, ret); }
#endif
#ifdef GS_FENTRY_ww_mutex_unlock
KFUNC_PROBE(ww_mutex_unlock, u64 lock) { return unlock_body(ctx, lock); }
#endif
