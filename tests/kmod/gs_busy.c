// SPDX-License-Identifier: GPL-2.0
/*
 * Busy objects, for the shrinker's active_purge/active_evict stages and their fence waits.
 *
 * `busy N` adds an unsignalled fence (driver "msm", timeline "gs-busy") as the WRITE fence of N
 * backed DONTNEED objects that gs-holder does not hold, so purge() skips them (msm_gem_active)
 * and active_purge() waits on them with dma_resv_wait_timeout() (gs_shrinker.c counts each wait,
 * its duration and its outcome around the call). What the wait sees is set per object, so the
 * outcome does not depend on timing:
 *   - the even ones signal gs_busy_signal_us after a waiter enables signalling (an hrtimer
 *     started from .enable_signaling): the wait returns > 0 and active_purge purges the object;
 *   - the odd ones never signal before `idle`: every wait on them times out (returns 0).
 * `idle` signals what is left and drops the module's references.
 * msm's own fences have only .signaled (the retire worker signals them); .enable_signaling here
 * is what makes "the GPU finishes while the shrinker waits" deterministic.
 */
#include <linux/slab.h>
#include "gs_kmod.h"

int gs_busy_signal_us = 2000;
module_param_named(busy_signal_us, gs_busy_signal_us, int, 0644);

struct gs_busy_fence {
	struct dma_fence base;           /* first: dma_fence_free() frees the whole struct */
	struct hrtimer timer;
	bool signal_on_wait;
};

static DEFINE_SPINLOCK(gs_busy_lock);
static u64 gs_busy_context;
static u64 gs_busy_seqno;
static struct gs_busy_fence **gs_busy;
static int gs_nbusy;

static const char *gs_busy_driver_name(struct dma_fence *f)
{
	return "msm";
}

static const char *gs_busy_timeline_name(struct dma_fence *f)
{
	return "gs-busy";
}

static enum hrtimer_restart gs_busy_fire(struct hrtimer *t)
{
	dma_fence_signal(&container_of(t, struct gs_busy_fence, timer)->base);
	return HRTIMER_NORESTART;
}

/* Called with the fence's lock held when the first waiter arrives. */
static bool gs_busy_enable_signaling(struct dma_fence *f)
{
	struct gs_busy_fence *b = container_of(f, struct gs_busy_fence, base);

	if (b->signal_on_wait)
		hrtimer_start(&b->timer, ns_to_ktime((u64)gs_busy_signal_us * NSEC_PER_USEC), HRTIMER_MODE_REL);
	return true;
}

static const struct dma_fence_ops gs_busy_ops = {
	.get_driver_name = gs_busy_driver_name,
	.get_timeline_name = gs_busy_timeline_name,
	.enable_signaling = gs_busy_enable_signaling,
};

static struct gs_busy_fence *gs_busy_fence_new(bool signal_on_wait)
{
	struct gs_busy_fence *b = kzalloc(sizeof(*b), GFP_KERNEL);

	if (!b)
		return NULL;
	if (!gs_busy_context)
		gs_busy_context = dma_fence_context_alloc(1);
	dma_fence_init(&b->base, &gs_busy_ops, &gs_busy_lock, gs_busy_context, ++gs_busy_seqno);
	hrtimer_init(&b->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	b->timer.function = gs_busy_fire;
	b->signal_on_wait = signal_on_wait;
	return b;
}

/* Make the object busy: its resv gets the fence (one counted blocking resv lock). */
static int gs_busy_attach(struct drm_gem_object *obj, struct gs_busy_fence *b)
{
	int ret;

	ret = dma_resv_lock(obj->resv, NULL);
	GS_COUNT(resv_lock_calls, 1);
	if (ret)
		return ret;
	ret = dma_resv_reserve_fences(obj->resv, 1);
	if (!ret)
		dma_resv_add_fence(obj->resv, &b->base, DMA_RESV_USAGE_WRITE);
	dma_resv_unlock(obj->resv);
	return ret;
}

/* Make up to n backed DONTNEED objects busy (not held, not closed inside the shrinker). */
int gs_busy_dontneed(int n)
{
	struct drm_gem_object **objs;
	struct msm_gem_object *m;
	unsigned long f;
	int k = 0, i, ret = 0;

	if (gs_busy || n <= 0)
		return -EBUSY;
	objs = kcalloc(n, sizeof(*objs), GFP_KERNEL);
	gs_busy = kcalloc(n, sizeof(*gs_busy), GFP_KERNEL);
	if (!objs || !gs_busy) {
		kfree(objs);
		kfree(gs_busy);
		gs_busy = NULL;
		return -ENOMEM;
	}
	spin_lock_irqsave(&gs.objects_lock, f);
	list_for_each_entry(m, &gs.objects, node) {
		if (k == n)
			break;
		if (m->madv != MSM_MADV_DONTNEED || !m->pages || m->close_in_shrinker || m->held)
			continue;
		drm_gem_object_get(&m->base);
		objs[k++] = &m->base;
	}
	spin_unlock_irqrestore(&gs.objects_lock, f);
	for (i = 0; i < k; i++) {
		struct gs_busy_fence *b = gs_busy_fence_new(i % 2 == 0);

		if (!b) {
			ret = -ENOMEM;
			break;
		}
		gs_busy[gs_nbusy++] = b;
		if (!ret)
			ret = gs_busy_attach(objs[i], b);
	}
	for (i = 0; i < k; i++)
		drm_gem_object_put(objs[i]);   /* the resvs keep the fences; the handles the objects */
	kfree(objs);
	return ret ? ret : k;
}

/* Signal every busy fence still unsignalled and drop the module's references to them. */
void gs_busy_idle(void)
{
	int i;

	for (i = 0; i < gs_nbusy; i++) {
		hrtimer_cancel(&gs_busy[i]->timer);
		dma_fence_signal(&gs_busy[i]->base);
		dma_fence_put(&gs_busy[i]->base);
	}
	kfree(gs_busy);
	gs_busy = NULL;
	gs_nbusy = 0;
}
