// SPDX-License-Identifier: GPL-2.0
/*
 * The "gs-holder" kthreads: another task holding reservations.
 *
 * Contention rounds: a holder locks one object's resv, lets the submitting task block on it, and
 * unlocks only once that task is queued on the mutex (so every designed wait really waits, however
 * slowly the TCG guest schedules). Shrinker rounds: a holder keeps N DONTNEED objects locked so the
 * shrinker's dma_resv_trylock fails on them.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/slab.h>
#include "gs_kmod.h"

struct gs_contender {
	struct drm_gem_object *obj;
	struct completion held;
	u64 hold_ns;
};

static bool gs_has_waiter(struct dma_resv *resv)
{
	return !list_empty_careful(&resv->lock.base.wait_list);
}

static int gs_contender_fn(void *arg)
{
	struct gs_contender *c = arg;
	u64 t0;
	int i;

	dma_resv_lock(c->obj->resv, NULL);
	GS_COUNT(resv_lock_calls, 1);
	t0 = ktime_get_ns();
	complete(&c->held);
	usleep_range(gs_hold_us, gs_hold_us + 1);
	for (i = 0; i < 20000 && !gs_has_waiter(c->obj->resv); i++)  /* <= ~2 s */
		usleep_range(100, 101);
	c->hold_ns = ktime_get_ns() - t0;
	dma_resv_unlock(c->obj->resv);
	return 0;
}

/*
 * Start a holder on obj and return once it holds the resv. The caller then blocks in
 * dma_resv_lock*(); gs_contender_finish() reaps the thread.
 */
void *gs_contender_start(struct drm_gem_object *obj)
{
	struct gs_contender *c = kzalloc(sizeof(*c), GFP_KERNEL);
	struct task_struct *t;

	if (!c)
		return NULL;
	c->obj = obj;
	init_completion(&c->held);
	t = kthread_run(gs_contender_fn, c, "gs-holder");
	if (IS_ERR(t)) {
		kfree(c);
		return NULL;
	}
	wait_for_completion(&c->held);
	strscpy(gs.holder_comm, t->comm, sizeof(gs.holder_comm));
	return c;
}

/* Called after the waiter got the lock (and released it): the holder has unlocked by then. */
void gs_contender_finish(void *p)
{
	struct gs_contender *c = p;

	if (!c)
		return;
	/* the holder unlocked before the waiter could lock, so hold_ns is final */
	GS_COUNT(hold_ns_total, c->hold_ns);
	kfree(c);
}

/* --- shrinker rounds ---------------------------------------------------------------------- */
static struct {
	struct task_struct *task;
	struct drm_gem_object **objs;
	int n;
	struct completion ready, release, done;
} gs_hold;

static int gs_holder_fn(void *arg)
{
	struct ww_acquire_ctx ctx;
	int i;

	ww_acquire_init(&ctx, &reservation_ww_class);
	for (i = 0; i < gs_hold.n; i++) {
		dma_resv_lock(gs_hold.objs[i]->resv, &ctx);  /* uncontended: nobody else locks these */
		GS_COUNT(resv_lock_calls, 1);
		to_msm_bo(gs_hold.objs[i])->held = true;
	}
	ww_acquire_done(&ctx);
	complete(&gs_hold.ready);
	wait_for_completion(&gs_hold.release);
	for (i = 0; i < gs_hold.n; i++) {
		to_msm_bo(gs_hold.objs[i])->held = false;
		dma_resv_unlock(gs_hold.objs[i]->resv);
	}
	ww_acquire_fini(&ctx);
	complete(&gs_hold.done);
	return 0;
}

/* Lock the resvs of up to n backed DONTNEED objects in a "gs-holder" thread; returns how many. */
int gs_hold_dontneed(int n)
{
	struct msm_gem_object *m;
	struct task_struct *t;
	unsigned long f;
	int k = 0;

	if (gs_hold.task || n <= 0)
		return -EBUSY;
	gs_hold.objs = kcalloc(n, sizeof(*gs_hold.objs), GFP_KERNEL);
	if (!gs_hold.objs)
		return -ENOMEM;
	spin_lock_irqsave(&gs.objects_lock, f);
	list_for_each_entry(m, &gs.objects, node) {
		if (k == n)
			break;
		if (m->madv != MSM_MADV_DONTNEED || !m->pages || m->close_in_shrinker)
			continue;
		drm_gem_object_get(&m->base);
		gs_hold.objs[k++] = &m->base;
	}
	spin_unlock_irqrestore(&gs.objects_lock, f);
	gs_hold.n = k;
	init_completion(&gs_hold.ready);
	init_completion(&gs_hold.release);
	init_completion(&gs_hold.done);
	t = kthread_run(gs_holder_fn, NULL, "gs-holder");
	if (IS_ERR(t)) {
		while (k--)
			drm_gem_object_put(gs_hold.objs[k]);
		kfree(gs_hold.objs);
		gs_hold.objs = NULL;
		return PTR_ERR(t);
	}
	gs_hold.task = t;
	strscpy(gs.holder_comm, t->comm, sizeof(gs.holder_comm));
	wait_for_completion(&gs_hold.ready);
	return k;
}

void gs_release_held(void)
{
	int i;

	if (!gs_hold.task)
		return;
	complete(&gs_hold.release);
	wait_for_completion(&gs_hold.done);
	for (i = 0; i < gs_hold.n; i++)
		drm_gem_object_put(gs_hold.objs[i]);
	kfree(gs_hold.objs);
	gs_hold.objs = NULL;
	gs_hold.task = NULL;
	gs_hold.n = 0;
}
