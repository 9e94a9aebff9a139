/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gemscope's ground-truth test module: a stand-in for the msm GEM lifecycle on x86.
 *
 * Why it exists: no Adreno hardware is available, so gemscope is proved against this module. It
 * defines functions with msm's exact names and prototypes (msm_gem_free_object, the shrinker's
 * purge/evict/active_purge/active_evict, retire_worker, msm_gpu_retire, msm_submit_retire ...) on
 * the REAL kernel primitives (kref + drm_gem_object_free, dma_resv/ww_mutex, drm_gem_lru_scan from
 * drm.ko, a registered shrinker, dma_fences, a kthread_worker), and it counts what it did, so a test
 * can compare gemscope's report with the truth. The module is named "msm" on purpose: kallsyms then
 * shows `msm:purge` exactly as on a device, so the attach plan runs unchanged.
 */
#ifndef GS_KMOD_H
#define GS_KMOD_H

#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/shrinker.h>
#include <linux/version.h>
#include <drm/drm_gem.h>

/* msm's madvise states (include/uapi/drm/msm_drm.h + msm_gem.h) */
#define MSM_MADV_WILLNEED 0
#define MSM_MADV_DONTNEED 1
#define __MSM_MADV_PURGED 2

/* The drm_gem_object must stay at offset 0: gemscope relies on obj == kref == msm_gem_object. */
struct msm_gem_object {
	struct drm_gem_object base;
	uint32_t flags;
	uint32_t madv;
	struct page **pages;      /* real pages: purge/evict give them back to the kernel */
	unsigned int npages;
	void *vaddr;              /* always NULL here; msm_gem_vunmap exists for its name */
	struct list_head node;    /* gs.objects: the objects a "handle" still refers to */
	bool has_handle;          /* the creator's ("userspace handle") reference is still held */
	bool held;                /* the holder thread holds this resv (shrinker trylock must fail) */
	bool close_in_shrinker;   /* drop the handle inside purge: the last put happens in the scan */
	int scan_pos;             /* position on its LRU when the current shrinker stage began */
	u32 scan_gen;             /* which stage numbered it (see gs_shrinker.c) */
};
#define to_msm_bo(x) ((struct msm_gem_object *)(x))

struct msm_gem_submit {
	struct kref ref;
	struct list_head node;    /* gpu->submits, in seqno order */
	struct msm_gpu *gpu;
	struct dma_fence *hw_fence;
	pid_t pid;
	u32 id, seqno;
	u64 submit_ns;
	unsigned int nr_bos;
	struct ww_acquire_ctx ticket;
	struct drm_gem_object *bos[];
};

struct msm_ringbuffer { int id; };

struct msm_gpu {
	struct kthread_worker *worker;
	struct kthread_work retire_work;
	struct hrtimer irq_timer;           /* plays the GPU's completion interrupt */
	spinlock_t submit_lock;             /* protects submits */
	struct list_head submits;
	spinlock_t fence_lock;              /* the dma_fence lock */
	u64 fence_context;
	u32 last_seqno;                     /* last submitted */
	u32 hw_seqno;                       /* what the "GPU" has completed (written by the IRQ) */
	u32 completed_fence;                /* msm_update_fence: seen by msm_gpu_retire */
	struct msm_ringbuffer ring;
	wait_queue_head_t retired_wq;
	atomic_t inflight;
};

/* Where a free ran: the schema's CONTEXTS. */
enum gs_ctx { GS_CTX_RETIRE_WORKER, GS_CTX_IOCTL, GS_CTX_SHRINKER, GS_CTX_RECLAIM, GS_CTX_OTHER, GS_NCTX };
extern const char *const gs_ctx_names[GS_NCTX];
/* The shrinker stages, the schema's SHRINK_STAGES order. */
enum gs_stage { GS_ST_PURGE, GS_ST_EVICT, GS_ST_ACTIVE_PURGE, GS_ST_ACTIVE_EVICT, GS_NSTAGE };
extern const char *const gs_stage_names[GS_NSTAGE];

/* Ground truth. Everything the module did that gemscope should see; reset by "reset". */
struct gs_counters {
	u64 objects_created;
	u64 resv_lock_calls;        /* blocking dma_resv_lock* calls made by the module */
	u64 resv_waits;             /* of those: the ones made while another task held the resv */
	u64 resv_wait_total_ns;     /* their durations, measured around the call */
	u64 resv_wait_max_ns;
	u64 resv_wait_min_ns;
	u64 trylocks;               /* dma_resv_trylock attempts made by drm_gem_lru_scan for us */
	u64 trylock_failures;
	u64 failures_by_stage[GS_NSTAGE];
	u64 failed_bytes;
	u64 remaining_pages_kernel; /* what drm_gem_lru_scan itself reported in *remaining */
	u64 declined_pages;         /* visited, locked, but the stage callback returned false */
	u64 frees;
	u64 frees_by_context[GS_NCTX];
	u64 free_total_ns;          /* measured inside msm_gem_free_object */
	u64 free_total_ns_by_context[GS_NCTX];
	u64 scans, counts;
	u64 requested_pages;        /* sum of sc->nr_to_scan */
	u64 freed_pages;            /* sum of what scan returned as freed (SHRINK_STOP counts 0) */
	u64 freed_pages_by_stage[GS_NSTAGE];
	u64 shrink_stop;            /* scans that returned SHRINK_STOP */
	u64 msm_gem_shrink_events;  /* trace_msm_gem_shrink emitted */
	u64 submits, submits_retired, retire_runs, fences_signalled, gpu_irqs;
	u64 hold_ns_total;          /* how long the holder kept resvs locked in contention rounds */
	u64 busy_objects;           /* objects `busy` gave an unsignalled fence */
	u64 fence_waits;            /* dma_resv_wait_timeout calls of the active_* stages */
	u64 fence_wait_timeouts;    /* of those: the ones that returned 0 (timed out) */
	u64 fence_wait_total_ns;    /* their durations, measured around the call */
};

struct gs_state {
	struct mutex lock;                  /* serializes ctl commands */
	struct list_head objects;           /* objects with a handle */
	spinlock_t objects_lock;
	struct mutex lru_lock;              /* the LRUs' shared lock, as priv->lru.lock */
	struct {
		struct drm_gem_lru unbacked, pinned, willneed, dontneed;
	} lru;
	struct shrinker *shrinker;
	struct mutex scan_mutex;            /* one scan at a time: keeps the counting exact */
	struct task_struct *scan_task;      /* the task inside msm_gem_shrinker_scan */
	struct msm_gpu gpu;
	spinlock_t counters_lock;
	struct gs_counters c;
	char waits_comm[TASK_COMM_LEN];     /* the task that waited in contention rounds */
	char holder_comm[TASK_COMM_LEN];
	u32 next_submit_id;
};
extern struct gs_state gs;

/* knobs (module parameters, writable in /sys/module/msm/parameters/) */
extern int gs_nobjs, gs_obj_pages, gs_nsubmits, gs_contention, gs_hold_us, gs_gpu_us;
extern int gs_free_delay_us, gs_shrinker_frees, gs_ioctl_frees, gs_enable_eviction, gs_transient;

#define GS_COUNT(field, n) do { unsigned long __f; spin_lock_irqsave(&gs.counters_lock, __f); \
	gs.c.field += (n); spin_unlock_irqrestore(&gs.counters_lock, __f); } while (0)

/* gs_gem.c */
struct drm_gem_object *msm_gem_new(uint32_t size, uint32_t flags, uint32_t madv);
void gs_close_handle(struct drm_gem_object *obj);
void gs_close_all(void);
void msm_gem_purge(struct drm_gem_object *obj);
void msm_gem_evict(struct drm_gem_object *obj);
void msm_gem_vunmap(struct drm_gem_object *obj);
bool msm_gem_active(struct drm_gem_object *obj);
enum gs_ctx gs_current_ctx(void);
/* gs_gpu.c, msm's names */
void msm_update_fence(struct msm_gpu *gpu, uint32_t fence);
void msm_submit_retire(struct msm_gem_submit *submit);
void msm_gpu_retire(struct msm_gpu *gpu);
/* gs_shrinker.c */
int gs_shrinker_init(void);
void gs_shrinker_fini(void);
/* gs_gpu.c */
int gs_gpu_init(struct msm_gpu *gpu);
void gs_gpu_fini(struct msm_gpu *gpu);
int gs_run_submits(void);
/* gs_hold.c */
int gs_hold_dontneed(int n);
void gs_release_held(void);
void *gs_contender_start(struct drm_gem_object *obj);
void gs_contender_finish(void *c);
/* gs_busy.c */
int gs_busy_dontneed(int n);
void gs_busy_idle(void);

#endif
