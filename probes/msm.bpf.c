/* gemscope: msm and DRM GEM parts (kprobes on drm.ko / msm.ko functions, drm_msm_gpu
 * tracepoints). Compiled only when the plan finds the symbols (GS_MSM) or for the verifier gate.
 *
 * Identities (probe-catalog 2.1): kref * == drm_gem_object * == msm_gem_object *;
 * struct shrink_control {gfp_t gfp_mask @0; int nid; unsigned long nr_to_scan @8; ...}.
 * Struct members of drm_gem_object (size, resv, lru) are read at offsets from the running
 * kernel's BTF (GS_OFF_OBJ_*), else with GS_MSM_HEADERS when the headers BCC compiles against
 * belong to the running kernel, else not at all (size null). */

#ifdef GS_MSM_HEADERS
#include <drm/drm_gem.h>
#endif

#define GS_PARM_(ctx, n) PT_REGS_PARM##n(ctx)
#define GS_PARM(ctx, n) GS_PARM_(ctx, n)

#if defined(GS_KPROBES) && defined(GS_MSM)

static __always_inline void obj_fields(struct gs_event *e, u64 obj_addr)
{
#if defined(GS_OFF_OBJ_SIZE) && defined(GS_OFF_OBJ_RESV)
    /* offsets from the running kernel's BTF: no drm/drm_gem.h (it doubles the compile time) */
    u64 size = 0, resv = 0;
    bpf_probe_read_kernel(&size, sizeof(size), (void *)(obj_addr + GS_OFF_OBJ_SIZE));
    bpf_probe_read_kernel(&resv, sizeof(resv), (void *)(obj_addr + GS_OFF_OBJ_RESV));
    e->a1 = size;
    e->a3 = resv;
    e->bits |= B_HAVE_SIZE;
#ifdef GS_OFF_OBJ_LRU
    u64 lru = 0;
    bpf_probe_read_kernel(&lru, sizeof(lru), (void *)(obj_addr + GS_OFF_OBJ_LRU));
    e->a2 = lru;
#endif
#elif defined(GS_MSM_HEADERS)
    struct drm_gem_object *obj = (struct drm_gem_object *)obj_addr;
    size_t size = 0;
    bpf_probe_read_kernel(&size, sizeof(size), &obj->size);
    e->a1 = size;
    e->bits |= B_HAVE_SIZE;
    struct dma_resv *resv = 0;
    bpf_probe_read_kernel(&resv, sizeof(resv), &obj->resv);
    e->a3 = (u64)resv;
#ifdef GS_OBJ_HAS_LRU
    struct drm_gem_lru *lru = 0;
    bpf_probe_read_kernel(&lru, sizeof(lru), &obj->lru);
    e->a2 = (u64)lru;
#endif
#endif
}

/* ---- A1: the last reference was dropped (drm_gem_object_free(kref), kref == obj). Its call
 * site is the caller's return address (a4, gs_caller); the whole stack is walked
 * only with GS_ALL_FREE_STACKS (it was the costliest part of a submit's probes under TCG).
 * drm.ko's own puts (drm_gem_lru_scan's) inline drm_gem_object_free and are not seen here; their
 * frees are. ---- */
int gs_k_drm_gem_object_free(struct pt_regs *ctx)
{
    struct gs_event e;
    fill_common(&e, T_LAST_PUT);
    e.a0 = PT_REGS_PARM1(ctx);
    obj_fields(&e, e.a0);
#if defined(GS_ALL_FREE_STACKS)
    e.stack_id = gs_stack(ctx);
#elif !defined(GS_BENCH_NO_STACKS)
    e.a4 = gs_caller(ctx);
#endif
    e.bits |= context_bits();
    emit(ctx, &e);
    return 0;
}

/* ---- A2: the finalizer msm_gem_free_object entry..return, paired through the thread's own
 * free_call; a free nested inside another goes through `pending` ---- */
#define GS_STALE_CALL_NS 10000000000ULL   /* a free_call older than 10 s lost its return */
int gs_k_msm_gem_free_object(struct pt_regs *ctx)
{
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    p.a0 = PT_REGS_PARM1(ctx);
    struct gs_thread *t = thread_state();
    if (!t)
        return 0;
    p.stack_id = -1;    /* walked at the return when the free is slow or in reclaim */
    struct gs_event tmp;
    __builtin_memset(&tmp, 0, sizeof(tmp));
    obj_fields(&tmp, p.a0);
    p.a1 = tmp.a1;
    p.a2 = tmp.a2;
    p.a3 = tmp.a3;
    p.aux = tmp.bits;
    if (tmp.a3 && !is_resv(tmp.a3)) {
        /* learn the object's reservation before dma_resv_fini removes it */
        add_resv(tmp.a3, 0, -1);
    }
    if (t->free_call.ts_ns && p.ts_ns - t->free_call.ts_ns < GS_STALE_CALL_NS) {
        u64 key = pkey(current_tid(), P_FREE);
        t->frees_nested++;
        pending.update(&key, &p);
    } else {
        t->free_call = p;
    }
    return 0;
}

/* Does a free of `dur` ns enter this CPU's slowest of the current second (struct gs_top)? */
static __always_inline int among_slowest_frees(u64 now, u64 dur)
{
    int zero = 0;
    struct gs_top *top = slow_frees.lookup(&zero);
    if (!top)
        return 0;
    u64 epoch = now / GS_TOP_EPOCH_NS;
    if (top->epoch != epoch) {
        top->epoch = epoch;
        top->n = 0;
    }
    u32 n = top->n;
    if (n < GS_TOP_FREES) {
        top->ns[n & (GS_TOP_FREES - 1)] = dur;
        top->n = n + 1;
        if (n + 1 < GS_TOP_FREES)
            return 1;
    } else {
        u32 m = top->min_i & (GS_TOP_FREES - 1);
        if (dur <= top->ns[m])
            return 0;
        top->ns[m] = dur;
    }
    u32 min_i = 0;
#pragma unroll
    for (int i = 1; i < GS_TOP_FREES; i++)
        if (top->ns[i] < top->ns[min_i & (GS_TOP_FREES - 1)])
            min_i = i;
    top->min_i = min_i;
    return 1;
}

/* A free's stack, walked from msm_gem_free_object's return, when the free is among the slowest
 * or ran in reclaim (reclaim_risks lists those with stacks); -1 else. drm_gem_object_free
 * tail-calls obj->funcs->free, so the walk starts at the last put's call site ([gs_close_all
 * +0xb2, gs_ctl_write+0x1b5, ...] in the 6.1 and 6.12 guests), or at the function that inlined
 * the put (drm_gem_lru_scan). */
static __always_inline int free_stack(void *ctx, u32 bits, u64 start, s64 dur)
{
#if !defined(GS_ALL_FREE_STACKS)
    if (!(bits & (B_IN_SHRINKER | B_IN_RECLAIM | B_KSWAPD)) &&
        !among_slowest_frees(start + dur, dur))
        return -1;
#endif
    return gs_stack(ctx);
}

int gs_kr_msm_gem_free_object(struct pt_regs *ctx)
{
    struct gs_thread *t = thread_now();
    if (!t)
        return 0;
    u64 key = pkey(current_tid(), P_FREE);
    int nested = t->frees_nested > 0;
    struct gs_pending *p;
    if (nested) {
        t->frees_nested--;
        p = pending.lookup(&key);
    } else {
        p = &t->free_call;
    }
    if (!p || !p->ts_ns)
        return 0;
    struct gs_event e;
    fill_common(&e, T_FREE);
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.a1 = p->a1;
    e.a2 = p->a2;
    e.a3 = p->a3;
    e.bits = bits_of(t) | p->aux;
    e.stack_id = free_stack(ctx, e.bits, e.ts_ns, e.duration_ns);
    if (nested)
        pending.delete(&key);
    else
        p->ts_ns = 0;
    emit(ctx, &e);
    return 0;
}

/* ---- B3: msm_gem_shrinker_count(shrinker, sc) ---- */
int gs_k_msm_gem_shrinker_count(struct pt_regs *ctx)
{
    u64 key = pkey(current_tid(), P_SHRINK_COUNT);
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    bpf_probe_read_kernel(&p.aux, sizeof(p.aux), (void *)PT_REGS_PARM2(ctx));
    pending.update(&key, &p);
    return 0;
}

int gs_kr_msm_gem_shrinker_count(struct pt_regs *ctx)
{
    u64 key = pkey(current_tid(), P_SHRINK_COUNT);
    struct gs_pending *p = pending.lookup(&key);
    if (!p)
        return 0;
    struct gs_event e;
    fill_common(&e, T_SHRINK_COUNT);
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = PT_REGS_RC(ctx);
    e.aux = p->aux;
    e.bits = context_bits();
    pending.delete(&key);
    emit(ctx, &e);
    return 0;
}

/* ---- B4: msm_gem_shrinker_scan(shrinker, sc): the "inside msm shrinker" scope ---- */
int gs_k_msm_gem_shrinker_scan(struct pt_regs *ctx)
{
    u64 key = pkey(current_tid(), P_SHRINK_SCAN);
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    u64 sc = PT_REGS_PARM2(ctx);
    bpf_probe_read_kernel(&p.aux, sizeof(p.aux), (void *)sc);
    bpf_probe_read_kernel(&p.a0, sizeof(p.a0), (void *)(sc + 8));
    pending.update(&key, &p);
    struct gs_thread *t = thread_state();
    if (t)
        t->shrinker_depth++;
    return 0;
}

int gs_kr_msm_gem_shrinker_scan(struct pt_regs *ctx)
{
    u64 key = pkey(current_tid(), P_SHRINK_SCAN);
    struct gs_pending *p = pending.lookup(&key);
    struct gs_event e;
    fill_common(&e, T_SHRINK_SCAN);
    struct gs_thread *t = thread_now();
    e.bits = bits_of(t);
    if (t && t->shrinker_depth)
        t->shrinker_depth--;
    if (!p)
        return 0;
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.a1 = PT_REGS_RC(ctx);
    if (e.a1 == (u64)-1)
        e.bits |= B_SHRINK_STOP;
    e.aux = p->aux;
    e.bits |= B_IN_SHRINKER;
    pending.delete(&key);
    emit(ctx, &e);
    return 0;
}

/* ---- B5: drm_gem_lru_scan; argument positions per version come from -D GS_LRU_ARG_* ---- */
static __always_inline u32 stage_of(u64 fn)
{
#ifdef GS_FN_PURGE
    if (fn == GS_FN_PURGE) return 1;
#endif
#ifdef GS_FN_EVICT
    if (fn == GS_FN_EVICT) return 2;
#endif
#ifdef GS_FN_ACTIVE_PURGE
    if (fn == GS_FN_ACTIVE_PURGE) return 3;
#endif
#ifdef GS_FN_ACTIVE_EVICT
    if (fn == GS_FN_ACTIVE_EVICT) return 4;
#endif
#ifdef GS_FN_VMAP_SHRINK
    if (fn == GS_FN_VMAP_SHRINK) return 5;
#endif
    return 0;
}

#ifdef GS_LRU_ARG_LRU
int gs_k_drm_gem_lru_scan(struct pt_regs *ctx)
{
    u64 key = pkey(current_tid(), P_LRU_SCAN);
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    p.a0 = GS_PARM(ctx, GS_LRU_ARG_LRU);
    p.a1 = (u32)GS_PARM(ctx, GS_LRU_ARG_NR);
    u32 stage = stage_of(GS_PARM(ctx, GS_LRU_ARG_SHRINK));
    p.aux = stage;
#if GS_LRU_ARG_REMAINING
    p.a2 = GS_PARM(ctx, GS_LRU_ARG_REMAINING);
    if (p.a2)
        bpf_probe_read_kernel(&p.a3, sizeof(p.a3), (void *)p.a2);
#endif
    pending.update(&key, &p);
    struct gs_thread *t = thread_state();
    if (t)
        t->lru_stage = stage ? stage : 15;
    return 0;
}

int gs_kr_drm_gem_lru_scan(struct pt_regs *ctx)
{
    u64 key = pkey(current_tid(), P_LRU_SCAN);
    struct gs_pending *p = pending.lookup(&key);
    struct gs_thread *t = thread_now();
    u32 bits = bits_of(t);      /* before the stage is cleared: the stage bits come from p */
    if (t)
        t->lru_stage = 0;
    if (!p)
        return 0;
    struct gs_event e;
    fill_common(&e, T_LRU_SCAN);
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.a1 = p->a1;
    e.a2 = PT_REGS_RC(ctx);
    if (p->a2) {
        /* *remaining grows by the pages whose trylock failed; several stages share it */
        u64 now_remaining = 0;
        bpf_probe_read_kernel(&now_remaining, sizeof(now_remaining), (void *)p->a2);
        e.a3 = now_remaining - p->a3;
        e.bits |= B_HAVE_REMAINING;
    }
    e.bits |= (bits & ~(0xf << STAGE_SHIFT)) | (p->aux << STAGE_SHIFT);
    pending.delete(&key);
    emit(ctx, &e);
    return 0;
}
#endif /* GS_LRU_ARG_LRU */

/* ---- B6/B7: purge / evict / active_purge / active_evict on one object ----
 * active_purge/active_evict call purge/evict once the object is idle (msm_gem_shrinker.c; often
 * as a tail call): that inner call is part of the active stage's, not a call of its own, so it
 * only raises the pending call's nesting depth (aux bits 24..31) and its return lowers it. */
#define SO_DEPTH_SHIFT 24
static __always_inline int shrink_object_entry(struct pt_regs *ctx, u32 stage)
{
    u64 key = pkey(current_tid(), P_SHRINK_OBJECT);
    struct gs_pending *outer = pending.lookup(&key);
    /* only purge/evict inside an active stage's call nest (once); anything else replaces a
     * pending entry, as a stale one (a missed return) must not swallow later calls */
    if (outer && stage <= 2 && (outer->aux & 0xf) >= 3 && !(outer->aux >> SO_DEPTH_SHIFT)) {
        outer->aux += 1 << SO_DEPTH_SHIFT;
        return 0;
    }
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    p.a0 = PT_REGS_PARM1(ctx);
    struct gs_event tmp;
    __builtin_memset(&tmp, 0, sizeof(tmp));
    obj_fields(&tmp, p.a0);
    p.a1 = tmp.a1;
    p.a3 = tmp.a3;
    p.aux = stage | (tmp.bits & B_HAVE_SIZE);
    pending.update(&key, &p);
    return 0;
}

int gs_k_purge(struct pt_regs *ctx) { return shrink_object_entry(ctx, 1); }
int gs_k_evict(struct pt_regs *ctx) { return shrink_object_entry(ctx, 2); }
int gs_k_active_purge(struct pt_regs *ctx) { return shrink_object_entry(ctx, 3); }
int gs_k_active_evict(struct pt_regs *ctx) { return shrink_object_entry(ctx, 4); }

int gs_kr_shrink_object(struct pt_regs *ctx)
{
    u64 key = pkey(current_tid(), P_SHRINK_OBJECT);
    struct gs_pending *p = pending.lookup(&key);
    if (!p)
        return 0;
    if (p->aux >> SO_DEPTH_SHIFT) {       /* an inner purge/evict returned */
        p->aux -= 1 << SO_DEPTH_SHIFT;
        return 0;
    }
    struct gs_event e;
    fill_common(&e, T_SHRINK_OBJECT);
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.a1 = p->a1;
    e.a3 = p->a3;
    e.ret = PT_REGS_RC(ctx) & 0xff;
    /* the stage is the callback's own, not the enclosing drm_gem_lru_scan's guess */
    e.bits = (context_bits() & ~(0xf << STAGE_SHIFT)) | (p->aux & B_HAVE_SIZE)
             | ((p->aux & 0xf) << STAGE_SHIFT);
    if (e.ret)
        e.bits |= B_SUCCESS;
    pending.delete(&key);
    emit(ctx, &e);
    return 0;
}

/* ---- B8: dma_resv_wait_timeout(resv, usage|wait_all, intr, timeout), streamed only inside
 * the msm shrinker, the retire worker or reclaim (it is called by every driver) ---- */
int gs_k_dma_resv_wait_timeout(struct pt_regs *ctx)
{
    u32 bits = context_bits();
    if (!(bits & (B_IN_SHRINKER | B_IN_RETIRE | B_IN_RECLAIM)))
        return 0;
    u64 key = pkey(current_tid(), P_FENCE_WAIT);
    struct gs_pending p = {};
    p.ts_ns = bpf_ktime_get_ns();
    p.a0 = PT_REGS_PARM1(ctx);
    p.a1 = PT_REGS_PARM4(ctx);
    p.stack_id = gs_stack(ctx);
    pending.update(&key, &p);
    return 0;
}

int gs_kr_dma_resv_wait_timeout(struct pt_regs *ctx)
{
    u64 key = pkey(current_tid(), P_FENCE_WAIT);
    struct gs_pending *p = pending.lookup(&key);
    if (!p)
        return 0;
    struct gs_event e;
    fill_common(&e, T_FENCE_WAIT);
    e.duration_ns = e.ts_ns - p->ts_ns;
    e.ts_ns = p->ts_ns;
    e.a0 = p->a0;
    e.a1 = p->a1;
    e.ret = (s64)PT_REGS_RC(ctx);
    e.stack_id = p->stack_id;
    e.bits = context_bits();
    pending.delete(&key);
    emit(ctx, &e);
    return 0;
}

/* ---- D1: msm_gpu_retire (IRQ side): counted only, there is no event kind for it ---- */
BPF_ARRAY(gpu_retire_irqs, u64, 1);
int gs_k_msm_gpu_retire(struct pt_regs *ctx)
{
    gpu_retire_irqs.increment(0);
    return 0;
}
/* ---- D6: msm_submit_retire: counts submits per retire run when the msm_gpu_submit_retired
 * tracepoint (which counts them otherwise) is not compiled ---- */
int gs_k_msm_submit_retire(struct pt_regs *ctx)
{
#ifndef GS_MSM_TRACEPOINTS
    struct gs_thread *t = thread_now();
    if (t && t->retire_depth)
        t->submits++;
#endif
    return 0;
}
#endif /* GS_KPROBES && GS_MSM */
