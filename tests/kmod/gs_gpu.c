// SPDX-License-Identifier: GPL-2.0
/*
 * Submits, the "GPU", and msm's retire path (msm_gpu.c, v6.1+ shape).
 *
 * A submit locks its BOs with a ww_acquire_ctx (submit_lock_objects, as msm_gem_submit.c), adds
 * its hw fence to every BO's resv, and takes a reference on each BO. An hrtimer plays the GPU's
 * completion interrupt: it calls msm_gpu_retire() in hard-IRQ context, which records the
 * completed seqno (msm_update_fence) and queues retire_work on the "gpu-worker" kthread_worker.
 * retire_worker -> retire_submits signals each completed hw fence through dma_fence_is_signaled()
 * (msm's fences only have .signaled: the signal happens in the worker) and retire_submit ->
 * msm_submit_retire drops the submit's BO references: when userspace already closed a BO, its
 * msm_gem_free_object runs right there, in the retire worker, delaying later fences.
 */
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/dma-fence.h>
#include "gs_kmod.h"
#define CREATE_TRACE_POINTS
#include "msm_gpu_trace.h"

static const char *msm_fence_get_driver_name(struct dma_fence *fence)
{
	return "msm";
}

static const char *msm_fence_get_timeline_name(struct dma_fence *fence)
{
	return "gpu-ring-0";
}

static bool msm_fence_signaled(struct dma_fence *fence)
{
	return (s32)(READ_ONCE(gs.gpu.completed_fence) - (u32)fence->seqno) >= 0;
}

static const struct dma_fence_ops msm_fence_ops = {
	.get_driver_name = msm_fence_get_driver_name,
	.get_timeline_name = msm_fence_get_timeline_name,
	.signaled = msm_fence_signaled,
};

noinline void msm_update_fence(struct msm_gpu *gpu, uint32_t fence)
{
	WRITE_ONCE(gpu->completed_fence, fence);
}

static noinline void __msm_gem_submit_destroy(struct kref *kref)
{
	struct msm_gem_submit *submit = container_of(kref, struct msm_gem_submit, ref);

	dma_fence_put(submit->hw_fence);
	kfree(submit);
}

/* Drop the submit's references on its BOs (v6.1/6.6/6.12: no BO lock here). */
noinline void msm_submit_retire(struct msm_gem_submit *submit)
{
	unsigned int i;

	for (i = 0; i < submit->nr_bos; i++)
		drm_gem_object_put(submit->bos[i]);
}

static noinline void retire_submit(struct msm_gpu *gpu, struct msm_ringbuffer *ring,
				   struct msm_gem_submit *submit)
{
	u64 now = ktime_get_ns();

	trace_msm_gpu_submit_retired(submit->pid, submit->id, ring->id, submit->seqno,
				     now - submit->submit_ns, 0, submit->submit_ns / 52, now / 52);
	msm_submit_retire(submit);
	GS_COUNT(submits_retired, 1);
	kref_put(&submit->ref, __msm_gem_submit_destroy);
	if (atomic_dec_and_test(&gpu->inflight))
		wake_up_all(&gpu->retired_wq);
}

static noinline void retire_submits(struct msm_gpu *gpu)
{
	for (;;) {
		struct msm_gem_submit *submit;
		bool was, now;
		unsigned long f;

		spin_lock_irqsave(&gpu->submit_lock, f);
		submit = list_first_entry_or_null(&gpu->submits, struct msm_gem_submit, node);
		spin_unlock_irqrestore(&gpu->submit_lock, f);
		if (!submit)
			return;
		was = test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &submit->hw_fence->flags);
		now = dma_fence_is_signaled(submit->hw_fence);  /* signals it when the GPU is past it */
		if (!now)
			return;
		if (!was)
			GS_COUNT(fences_signalled, 1);
		spin_lock_irqsave(&gpu->submit_lock, f);
		list_del(&submit->node);
		spin_unlock_irqrestore(&gpu->submit_lock, f);
		retire_submit(gpu, &gpu->ring, submit);
	}
}

static void retire_worker(struct kthread_work *work)
{
	struct msm_gpu *gpu = container_of(work, struct msm_gpu, retire_work);

	GS_COUNT(retire_runs, 1);
	retire_submits(gpu);
}

/* The IRQ handler's half: called from the "GPU" interrupt (hrtimer, hard-IRQ context). */
noinline void msm_gpu_retire(struct msm_gpu *gpu)
{
	msm_update_fence(gpu, READ_ONCE(gpu->hw_seqno));
	kthread_queue_work(gpu->worker, &gpu->retire_work);
	GS_COUNT(gpu_irqs, 1);
}

static enum hrtimer_restart gs_gpu_irq(struct hrtimer *t)
{
	struct msm_gpu *gpu = container_of(t, struct msm_gpu, irq_timer);
	unsigned long f;

	spin_lock_irqsave(&gpu->submit_lock, f);
	WRITE_ONCE(gpu->hw_seqno, gpu->last_seqno);  /* the GPU finished everything it was given */
	spin_unlock_irqrestore(&gpu->submit_lock, f);
	msm_gpu_retire(gpu);
	return HRTIMER_NORESTART;
}

/* Lock every BO of the submit with the submit's ticket; the contended one waits on gs-holder. */
static noinline int submit_lock_objects(struct msm_gem_submit *submit, int contended_idx)
{
	unsigned int i;
	int ret;

	ww_acquire_init(&submit->ticket, &reservation_ww_class);
	for (i = 0; i < submit->nr_bos; i++) {
		struct drm_gem_object *obj = submit->bos[i];
		void *holder = NULL;
		u64 t0, dt;
		unsigned long f;

		if ((int)i == contended_idx)
			holder = gs_contender_start(obj);
		t0 = ktime_get_ns();
		ret = dma_resv_lock_interruptible(obj->resv, &submit->ticket);
		dt = ktime_get_ns() - t0;
		spin_lock_irqsave(&gs.counters_lock, f);
		gs.c.resv_lock_calls++;
		if (holder) {
			gs.c.resv_waits++;
			gs.c.resv_wait_total_ns += dt;
			gs.c.resv_wait_max_ns = max(gs.c.resv_wait_max_ns, dt);
			gs.c.resv_wait_min_ns = gs.c.resv_wait_min_ns ? min(gs.c.resv_wait_min_ns, dt) : dt;
		}
		spin_unlock_irqrestore(&gs.counters_lock, f);
		if (holder)
			strscpy(gs.waits_comm, current->comm, sizeof(gs.waits_comm));
		gs_contender_finish(holder);
		if (ret) {
			while (i--)
				dma_resv_unlock(submit->bos[i]->resv);
			ww_acquire_fini(&submit->ticket);
			return ret;
		}
	}
	ww_acquire_done(&submit->ticket);
	return 0;
}

/*
 * One submit: BOs referenced, locked, fenced, unlocked, queued to the GPU. `close` BOs have their
 * handle dropped right after the submit (userspace closing a BO the GPU still uses), so the last
 * reference is the submit's and the object is freed by the retire worker.
 */
static noinline int gs_submit(struct msm_gpu *gpu, struct drm_gem_object **bos, int nr,
		     int contended_idx, bool close_last)
{
	struct msm_gem_submit *submit;
	struct dma_fence *fence;
	unsigned long f;
	int i, ret;

	submit = kzalloc(struct_size(submit, bos, nr), GFP_KERNEL);
	fence = kzalloc(sizeof(*fence), GFP_KERNEL);
	if (!submit || !fence) {
		kfree(submit);
		kfree(fence);
		return -ENOMEM;
	}
	kref_init(&submit->ref);
	submit->gpu = gpu;
	submit->nr_bos = nr;
	submit->pid = task_tgid_nr(current);
	for (i = 0; i < nr; i++) {
		submit->bos[i] = bos[i];
		drm_gem_object_get(bos[i]);
	}
	ret = submit_lock_objects(submit, contended_idx);
	if (ret)
		goto fail;
	for (i = 0; i < nr; i++) {
		ret = dma_resv_reserve_fences(bos[i]->resv, 1);
		if (ret)
			break;
	}
	spin_lock_irqsave(&gpu->submit_lock, f);
	submit->seqno = ++gpu->last_seqno;
	submit->id = ++gs.next_submit_id;
	dma_fence_init(fence, &msm_fence_ops, &gpu->fence_lock, gpu->fence_context, submit->seqno);
	submit->hw_fence = fence;
	spin_unlock_irqrestore(&gpu->submit_lock, f);
	for (i = 0; i < nr; i++) {
		if (!ret)
			dma_resv_add_fence(bos[i]->resv, fence, DMA_RESV_USAGE_WRITE);
		dma_resv_unlock(bos[i]->resv);
	}
	ww_acquire_fini(&submit->ticket);
	trace_msm_gpu_submit(submit->pid, gpu->ring.id, submit->id, nr, 1);
	GS_COUNT(submits, 1);
	if (close_last)
		gs_close_handle(bos[nr - 1]);
	atomic_inc(&gpu->inflight);
	submit->submit_ns = ktime_get_ns();
	spin_lock_irqsave(&gpu->submit_lock, f);
	list_add_tail(&submit->node, &gpu->submits);
	spin_unlock_irqrestore(&gpu->submit_lock, f);
	/* "flush": the GPU will interrupt when done */
	if (!hrtimer_is_queued(&gpu->irq_timer))
		hrtimer_start(&gpu->irq_timer, ns_to_ktime((u64)gs_gpu_us * 1000), HRTIMER_MODE_REL);
	return 0;
fail:
	for (i = 0; i < nr; i++)
		drm_gem_object_put(bos[i]);
	kfree(submit);
	kfree(fence);
	return ret;
}

/*
 * The workload: nobjs long-lived objects (even: DONTNEED, odd: WILLNEED; the first
 * shrinker_frees DONTNEED ones are closed from inside the shrinker later), nsubmits submits of
 * {one long-lived BO, one transient BO closed right after the submit}, the first `contention`
 * of them waiting on gs-holder for the long-lived BO, then ioctl_frees create+close pairs.
 */
int gs_run_submits(void)
{
	struct drm_gem_object **objs;
	int i, ret = 0, nd = 0;
	size_t sz = (size_t)gs_obj_pages << PAGE_SHIFT;

	objs = kcalloc(max(gs_nobjs, 1), sizeof(*objs), GFP_KERNEL);
	if (!objs)
		return -ENOMEM;
	for (i = 0; i < gs_nobjs; i++) {
		bool dontneed = (i % 2) == 0;

		objs[i] = msm_gem_new(sz, 0, dontneed ? MSM_MADV_DONTNEED : MSM_MADV_WILLNEED);
		if (!objs[i]) {
			ret = -ENOMEM;
			goto out;
		}
		if (dontneed && nd++ < gs_shrinker_frees)
			to_msm_bo(objs[i])->close_in_shrinker = true;
	}
	for (i = 0; i < gs_nsubmits && gs_nobjs > 0; i++) {
		struct drm_gem_object *bos[2];
		int nr = 1;

		bos[0] = objs[(i * 2 + 1) % gs_nobjs];  /* a WILLNEED one when nobjs > 1 */
		if (gs_transient) {
			bos[1] = msm_gem_new(PAGE_SIZE, 0, MSM_MADV_WILLNEED);
			if (!bos[1]) {
				ret = -ENOMEM;
				break;
			}
			nr = 2;
		}
		ret = gs_submit(&gs.gpu, bos, nr, i < gs_contention ? 0 : -1, gs_transient);
		if (ret)
			break;
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
	if (!wait_event_timeout(gs.gpu.retired_wq, atomic_read(&gs.gpu.inflight) == 0, 60 * HZ))
		ret = ret ?: -ETIMEDOUT;
	for (i = 0; i < gs_ioctl_frees && !ret; i++) {
		struct drm_gem_object *obj = msm_gem_new(PAGE_SIZE, 0, MSM_MADV_WILLNEED);

		if (obj)
			gs_close_handle(obj);  /* GEM_CLOSE of an idle BO: freed here, process context */
	}
out:
	kfree(objs);
	return ret;
}

int gs_gpu_init(struct msm_gpu *gpu)
{
	spin_lock_init(&gpu->submit_lock);
	spin_lock_init(&gpu->fence_lock);
	INIT_LIST_HEAD(&gpu->submits);
	init_waitqueue_head(&gpu->retired_wq);
	atomic_set(&gpu->inflight, 0);
	gpu->fence_context = dma_fence_context_alloc(1);
	hrtimer_init(&gpu->irq_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	gpu->irq_timer.function = gs_gpu_irq;
	kthread_init_work(&gpu->retire_work, retire_worker);
	gpu->worker = kthread_create_worker(0, "gpu-worker");
	if (IS_ERR(gpu->worker)) {
		int err = PTR_ERR(gpu->worker);

		gpu->worker = NULL;
		return err;
	}
	sched_set_fifo_low(gpu->worker->task);
	return 0;
}

void gs_gpu_fini(struct msm_gpu *gpu)
{
	hrtimer_cancel(&gpu->irq_timer);
	if (gpu->worker) {
		kthread_flush_worker(gpu->worker);
		kthread_destroy_worker(gpu->worker);
		gpu->worker = NULL;
	}
}
