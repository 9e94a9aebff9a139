/* gemscope: the shared part of the one combined BPF program (event record, maps, helpers).
 *
 * The program is assembled by probes/program.py from this header and the .bpf.c parts; variant
 * parts are switched with -D flags chosen by the attach plan (probes/plan.py) from a feature probe
 * of the running kernel. Every record is ONE fixed-size struct gs_event, so user space decodes a
 * whole ring-buffer batch with a single numpy dtype (probes/events.py mirrors this layout: keep the
 * two in sync, tests/unit/test_probe_events.py checks the size).
 *
 * Flags (all optional):
 *   GS_RINGBUF / (none)         BPF ring buffer, else a perf buffer
 *   GS_OFF_TASK_FLAGS/PID/COMM  task_struct member offsets from the running kernel's BTF, or
 *   GS_TASK_OFFSETS             struct task_struct from the headers matches the running kernel:
 *                               either way read current->flags and the lock holder's pid/comm
 *   GS_KPROBES                  compile the kprobe parts (locks.bpf.c, msm.bpf.c)
 *   GS_FENTRY, GS_FENTRY_<fn>   compile the shared lock bodies and the fentry/fexit front-end of
 *                               <fn> (a vmlinux function the plan put on the fentry rung)
 *   GS_ALL_LOCK_STACKS          walk the stack at EVERY resv acquisition (holder call sites);
 *                               default: only when it waits (taken in lock:contention_begin),
 *                               runs in reclaim, or the kernel has no lock:contention tracepoint
 *   GS_ALL_FREE_STACKS          walk the whole stack at every last put and free; default: a last
 *                               put records its caller's return address (gs_caller), a free
 *                               walks the stack when it is among its CPU's slowest of the second
 *                               or runs under reclaim
 *   GS_BENCH_NO_STACKS          (benchmarks/guest_overhead.py only) never walk a stack
 *   GS_BENCH_NO_EMIT            (benchmarks/guest_overhead.py only) build events, never output
 *                               them: together they split the cost of a probe into parts
 *   GS_MSM_HEADERS              drm/drm_gem.h matches the target: read obj->size/resv/lru
 *   GS_FN_*                     kernel addresses of msm functions (from /proc/kallsyms)
 *   GS_CONTENTION_ALL           stream every lock:contention (no resv registry to filter with)
 *   GS_UNCONTENDED_NS           resv ww_mutex_lock calls shorter than this (ret 0, not in
 *                               reclaim) go to an in-kernel histogram instead of the stream
 */
#include <uapi/linux/ptrace.h>
#include <linux/sched.h>

#ifndef GS_UNCONTENDED_NS
#define GS_UNCONTENDED_NS 0
#endif
#ifndef GS_STACK_ENTRIES
#define GS_STACK_ENTRIES 16384
#endif
#ifndef GS_RINGBUF_PAGES
/* 64 MiB: ~420k records of 160 bytes. The reader decodes in Python; under QEMU/TCG (~15 us an
 * event) it falls behind a sustained 150-190k events/s and catches up between bursts: 16 MiB lost
 * 61,100 events over three back-to-back 10000-submit runs of benchmarks/guest_overhead.py, 64 MiB
 * none (2026-11-25). 4 MiB lost 0.2% of a 60k events/s host flood in CI. */
#define GS_RINGBUF_PAGES 16384
#endif

/* event types: probes/events.py TYPE_* has the same numbers */
#define T_RESV_LOCK 1
#define T_RESV_TRYLOCK 2
#define T_RESV_HOLD 3
#define T_LOCK_CONTENTION 4
#define T_FREE 5
#define T_LAST_PUT 6
#define T_SHRINK_COUNT 7
#define T_SHRINK_SCAN 8
#define T_LRU_SCAN 9
#define T_SHRINK_OBJECT 10
#define T_SHRINK_SLAB 11
#define T_FENCE_WAIT 12
#define T_RETIRE_RUN 13
#define T_FENCE_SIGNAL 14
#define T_GPU_SUBMIT 15
#define T_GPU_RETIRED 16
#define T_DIRECT_RECLAIM 17
#define T_SHRINK_TP 18

/* gs_event.bits: where the event ran and per-event booleans */
#define B_IN_RETIRE 0x1
#define B_IN_SHRINKER 0x2
#define B_IN_RECLAIM 0x4
#define B_KSWAPD 0x8
#define B_DIRECT 0x10
#define B_KTHREAD 0x20
#define B_SUCCESS 0x40
#define B_IS_RESV 0x80
#define B_HOLDER_VALID 0x100
#define B_FLAGS_VALID 0x200
#define B_SHRINK_STOP 0x400
#define B_HAVE_REMAINING 0x800
#define B_HAVE_SIZE 0x1000
#define B_TRYLOCK_MUTEX 0x2000
#define B_INTERRUPTIBLE 0x4000
#define STAGE_SHIFT 16 /* bits 16..19: 1 purge 2 evict 3 active_purge 4 active_evict 5 vmap */

/* where task_struct members are: BTF offsets (preferred: right on any kernel with BTF, no
 * header cost) or the headers' struct when they are the running kernel's */
#if defined(GS_OFF_TASK_FLAGS) && defined(GS_OFF_TASK_PID) && defined(GS_OFF_TASK_COMM)
#define GS_HAVE_TASK 1
#define TASK_FLAGS(t) ((void *)((char *)(t) + GS_OFF_TASK_FLAGS))
#define TASK_PID(t) ((void *)((char *)(t) + GS_OFF_TASK_PID))
#define TASK_COMM(t) ((void *)((char *)(t) + GS_OFF_TASK_COMM))
#elif defined(GS_TASK_OFFSETS)
#define GS_HAVE_TASK 1
#define TASK_FLAGS(t) ((void *)&((struct task_struct *)(t))->flags)
#define TASK_PID(t) ((void *)&((struct task_struct *)(t))->pid)
#define TASK_COMM(t) ((void *)&((struct task_struct *)(t))->comm)
#endif

#define PF_MEMALLOC_ 0x00000800
#define PF_KSWAPD_ 0x00020000
#define PF_KTHREAD_ 0x00200000

struct gs_event {
    u64 ts_ns;
    u32 type;
    u32 cpu;
    u32 pid;
    u32 tid;
    char comm[16];
    u64 a0;          /* meaning per type: see probes/events.py COLUMNS */
    u64 a1;
    u64 a2;
    u64 a3;
    u64 a4;
    u64 a5;
    s64 duration_ns;
    s64 ret;
    s32 stack_id;
    u32 holder_tid;
    u32 bits;
    u32 aux;         /* lock:contention flags, gfp flags, order ... */
    char str1[16];   /* holder comm / fence driver */
    char str2[16];   /* fence timeline */
};

/* a pending entry (kprobe entry, tracepoint begin) waiting for its return/end, per thread */
struct gs_pending {
    u64 ts_ns;
    u64 a0;
    u64 a1;
    u64 a2;
    u64 a3;
    u64 holder;       /* owner word at entry */
    s32 stack_id;
    u32 aux;
};

/* per-thread context, kept across probes so an event knows where it ran, and the calls in flight
 * on the thread that are paired here instead of in `pending`: under QEMU/TCG a hash-map update or
 * delete costs ~1.5 us, an array access ~0.1 us (benchmarks/guest_overhead.py, per program), so a
 * lock call paired through the thread's own entry saves four map operations per call. */
struct gs_thread {
    u32 retire_depth;
    u32 shrinker_depth;
    u32 direct_reclaim_depth;
    u32 lru_stage;      /* stage of the drm_gem_lru_scan this thread is inside, 0 = none */
    u32 submits;        /* msm_submit_retire calls inside the current retire run */
    u32 _pad0;
    u64 retire_start_ns;
    u64 retire_queued_ns;
    /* the ww_mutex_lock(_interruptible) call in flight (a thread is inside at most one; ts_ns 0
     * = none): a0 lock, a1 ww_ctx, a2 1 if the lock is a reservation, holder, stack_id, aux */
    struct gs_pending lock_call;
    /* the msm_gem_free_object call in flight (ts_ns 0 = none); a free nested inside it (a
     * dma-buf import whose put frees the exporter's object) is paired through `pending` */
    struct gs_pending free_call;
    u32 frees_nested;
    u32 _pad;
};
#ifdef GS_RINGBUF
BPF_RINGBUF_OUTPUT(events, GS_RINGBUF_PAGES);
#else
BPF_PERF_OUTPUT(events);
#endif
BPF_PERCPU_ARRAY(lost, u64, 1);
/* set to 1 by user space once this program is the live one: while a replacement program is
 * compiled and attached (a module loaded), only one of old and new emits, never both */
BPF_ARRAY(gs_enabled, u32, 1);
BPF_STACK_TRACE(stacks, GS_STACK_ENTRIES);
/* LRU hashes: a thread that exits mid-probe cannot leak an entry forever.
 * GS_BENCH_PERCPU_LRU (benchmarks/guest_overhead.py --breakdown): per-CPU LRU lists instead of
 * the common one, to measure what the LRU bookkeeping costs */
#ifdef GS_BENCH_PERCPU_LRU
#define GS_LRU_FLAGS BPF_F_NO_COMMON_LRU
#else
#define GS_LRU_FLAGS 0
#endif
BPF_F_TABLE("lru_hash", u32, struct gs_thread, threads, 16384, GS_LRU_FLAGS);
/* key: tid << 8 | slot (slot = one of the P_* below) */
BPF_F_TABLE("lru_hash", u64, struct gs_pending, pending, 32768, GS_LRU_FLAGS);
/* log2 histograms as arrays: an array access is inlined by the verifier, a hash one is a call */
BPF_ARRAY(uncontended_log2_ns, u64, 64);
BPF_ARRAY(nonresv_ww_log2_ns, u64, 64);
/* The dma_resv registry: resv address -> its entry (dma_resv_init adds it, dma_resv_fini removes
 * it; reservations created before the start are learned where a probe meets them). Being in it
 * is what tells a reservation from modeset/regulator ww_mutexes. The entry also holds the
 * current acquisition (for the hold time at unlock), rewritten in place at each acquisition and
 * marked consumed (held_ns 0) at unlock: no map operation per lock beyond the lookup, and one
 * update and one delete per reservation's life (a separate `held` map cost a second delete in
 * every dma_resv_fini, ~1.5 us under TCG). */
struct gs_resv {
    u64 held_ns;      /* acquired at, 0 = not held (or held since before the start) */
    s32 stack_id;     /* the acquisition's stack, -1 = none */
    u32 _pad;
};
BPF_HASH(resv_registry, u64, struct gs_resv, 65536);
/* kthread_work address -> queue time (retire work queue delay) */
BPF_HASH(queued, u64, u64, 1024);
/* The durations of the slowest frees of this CPU in the current second (unordered; min_i indexes
 * the smallest once all GS_TOP_FREES slots are used): a free that enters it gets its stack walked
 * (msm.bpf.c), so the slowest frees of any second, the ones finalizers lists, have stacks while
 * the many fast ones cost no walk. GS_TOP_FREES > finalizers.SLOWEST_FREES (20). */
#define GS_TOP_FREES 32
#define GS_TOP_EPOCH_NS 1000000000ULL
struct gs_top {
    u64 epoch;
    u32 n;
    u32 min_i;
    u64 ns[GS_TOP_FREES];
};
BPF_PERCPU_ARRAY(slow_frees, struct gs_top, 1);

#define P_CONTENTION 1
#define P_WW_TRYLOCK 3
#define P_FREE 4
#define P_SHRINK_COUNT 5
#define P_SHRINK_SCAN 6
#define P_LRU_SCAN 7
#define P_SHRINK_OBJECT 8
#define P_SHRINK_SLAB 9
#define P_FENCE_WAIT 10
#define P_DIRECT_RECLAIM 11

static __always_inline u64 pkey(u32 tid, u32 slot)
{
    return ((u64)tid << 8) | slot;
}

static __always_inline u32 current_tid(void)
{
    return (u32)bpf_get_current_pid_tgid();
}

/* Context bits of a thread from its gemscope state `t` (may be null) plus, where the struct layout
 * is known, current->flags (PF_MEMALLOC / PF_KSWAPD / PF_KTHREAD). */
static __always_inline u32 bits_of(struct gs_thread *t)
{
    u32 bits = 0;
    if (t) {
        if (t->retire_depth)
            bits |= B_IN_RETIRE;
        if (t->shrinker_depth)
            bits |= B_IN_SHRINKER;
        if (t->direct_reclaim_depth)
            bits |= B_IN_RECLAIM | B_DIRECT;
        bits |= (t->lru_stage & 0xf) << STAGE_SHIFT;
    }
#ifdef GS_HAVE_TASK
    u64 task = bpf_get_current_task();
    unsigned int flags = 0;
    bpf_probe_read_kernel(&flags, sizeof(flags), TASK_FLAGS(task));
    bits |= B_FLAGS_VALID;
    if (flags & (PF_MEMALLOC_ | PF_KSWAPD_))
        bits |= B_IN_RECLAIM;
    if (flags & PF_KSWAPD_)
        bits |= B_KSWAPD;
    if (flags & PF_KTHREAD_)
        bits |= B_KTHREAD;
#endif
    return bits;
}

/* The current thread's gemscope state, or null when it has none yet. */
static __always_inline struct gs_thread *thread_now(void)
{
    u32 tid = current_tid();
    return threads.lookup(&tid);
}

/* Context bits of the current thread (one lookup of its state). */
static __always_inline u32 context_bits(void)
{
    return bits_of(thread_now());
}

/* The task holding a mutex: the owner word at the lock address, low 3 flag bits masked off. */
static __always_inline void read_holder(struct gs_event *e, u64 owner)
{
    u64 task_addr = owner & ~7ULL;
    if (!task_addr)
        return;
#ifdef GS_HAVE_TASK
    u32 pid = 0;
    bpf_probe_read_kernel(&pid, sizeof(pid), TASK_PID(task_addr));
    bpf_probe_read_kernel_str(&e->str1, sizeof(e->str1), TASK_COMM(task_addr));
    e->holder_tid = pid;
    e->bits |= B_HOLDER_VALID;
#endif
}

static __always_inline u64 owner_word(u64 lock)
{
    u64 owner = 0;
    bpf_probe_read_kernel(&owner, sizeof(owner), (void *)lock);
    return owner;
}

static __always_inline int is_resv(u64 lock)
{
    return resv_registry.lookup(&lock) != 0;
}

/* Enter a reservation in the registry: held since held_ns with the acquisition's stack_id, or
 * not held (0, -1). */
static __always_inline void add_resv(u64 lock, u64 held_ns, s32 stack_id)
{
    struct gs_resv fresh = {};
    fresh.held_ns = held_ns;
    fresh.stack_id = stack_id;
    resv_registry.update(&lock, &fresh);
}

static __always_inline void fill_common(struct gs_event *e, u32 type)
{
    __builtin_memset(e, 0, sizeof(*e));
    u64 id = bpf_get_current_pid_tgid();
    e->ts_ns = bpf_ktime_get_ns();
    e->type = type;
    e->cpu = bpf_get_smp_processor_id();
    e->pid = id >> 32;
    e->tid = (u32)id;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    e->stack_id = -1;
}

static __always_inline void count_lost(void)
{
    int zero = 0;
    u64 *n = lost.lookup(&zero);
    if (n)
        (*n)++;
}

/* Submit one event; a full buffer is counted per CPU in `lost`, never silent. */
static __always_inline void emit(void *ctx, struct gs_event *e)
{
    int zero = 0;
    u32 *on = gs_enabled.lookup(&zero);
    if (!on || !*on)
        return;
#ifdef GS_BENCH_NO_EMIT
    return;
#endif
#ifdef GS_RINGBUF
    /* 1 = BPF_RB_NO_WAKEUP: the reader drains on a timer and never waits in epoll, so a
     * wake-up (an irq_work, i.e. a self-IPI) per record would buy nothing */
    if (events.ringbuf_output(e, sizeof(*e), 1) < 0)
        count_lost();
#else
    if (events.perf_submit(ctx, e, sizeof(*e)) < 0)
        count_lost();
#endif
}

/* The current call stack's id in `stacks` (-1 when it could not be taken). */
static __always_inline int gs_stack(void *ctx)
{
#ifdef GS_BENCH_NO_STACKS
    return -1;
#else
    return stacks.get_stackid(ctx, 0);
#endif
}

/* The same from an fentry/fexit program: its two innermost frames are the BPF program and the
 * trampoline (seen in the 6.12 guest: [prog, trampoline, ww_mutex_lock_interruptible+0x9,
 * submit_lock_objects+0x17f, ...]); skipping them gives the kprobe's shape [probed function,
 * caller, ...], which the decoder's `caller` relies on. */
#define GS_FENTRY_SKIP 2
static __always_inline int gs_stack_fentry(void *ctx)
{
#ifdef GS_BENCH_NO_STACKS
    return -1;
#else
    return stacks.get_stackid(ctx, GS_FENTRY_SKIP);
#endif
}

/* The return address into the probed function's caller, from a kprobe at its entry (fentry has
 * other frames). x86_64: the word the stack pointer points at (the call pushed it; a kprobe on
 * ftrace reports the sp of the function's entry), one read. Elsewhere a walk of two frames:
 * bpf_get_stack stops at its buffer's depth, where bpf_get_stackid walks the whole stack (~1 us a
 * frame under QEMU/TCG) to hash it. 0 when it could not be read. */
static __always_inline u64 gs_caller(struct pt_regs *ctx)
{
#if defined(bpf_target_x86)
    u64 ret = 0;
    bpf_probe_read_kernel(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx));
    return ret;
#else
    u64 ips[2] = {};
    if (bpf_get_stack(ctx, ips, sizeof(ips), 0) < (int)sizeof(ips))
        return 0;
    return ips[1];
#endif
}

static __always_inline int log2_bucket(u64 v)
{
    int b = 0;
#pragma unroll
    for (int i = 32; i > 0; i >>= 1) {
        if (v >= (1ULL << i)) {
            v >>= i;
            b += i;
        }
    }
    return b;
}

/* The current thread's state, created on its first use (one lookup once it exists). */
static __always_inline struct gs_thread *thread_state(void)
{
    u32 tid = current_tid();
    struct gs_thread *t = threads.lookup(&tid);
    if (t)
        return t;
    struct gs_thread zero = {};
    threads.insert(&tid, &zero);
    return threads.lookup(&tid);
}
