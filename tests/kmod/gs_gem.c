// SPDX-License-Identifier: GPL-2.0
/*
 * GEM objects: creation, the handle reference, and msm's free path.
 *
 * The free path is the real one: drm_gem_object_put() -> kref_put -> drm_gem_object_free (drm.ko)
 * -> obj->funcs->free == msm_gem_free_object. There is no drm_device, so msm_gem_free_object does
 * by hand the two things drm_gem_object_release() would do for this object (LRU removal, which
 * takes the LRU lock, and dma_resv_fini); everything else is msm's shape.
 */
#include <linux/delay.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include "gs_kmod.h"

const char *const gs_ctx_names[GS_NCTX] = {"retire_worker", "ioctl", "shrinker", "reclaim", "other"};
const char *const gs_stage_names[GS_NSTAGE] = {"purge", "evict", "active_purge", "active_evict"};

/* Where is the current task? The module knows it by construction (this is the ground truth). */
enum gs_ctx gs_current_ctx(void)
{
	if (gs.gpu.worker && current == gs.gpu.worker->task)
		return GS_CTX_RETIRE_WORKER;
	if (READ_ONCE(gs.scan_task) == current)
		return GS_CTX_SHRINKER;
	if (current->flags & (PF_MEMALLOC | PF_KSWAPD))
		return GS_CTX_RECLAIM;
	if (current->flags & PF_KTHREAD)
		return GS_CTX_OTHER;
	return GS_CTX_IOCTL;  /* a user task in a syscall: our ctl write() plays the GEM ioctls */
}

static noinline void put_pages(struct drm_gem_object *obj)
{
	struct msm_gem_object *msm_obj = to_msm_bo(obj);
	unsigned int i;

	if (!msm_obj->pages)
		return;
	for (i = 0; i < msm_obj->npages; i++)
		if (msm_obj->pages[i])
			__free_page(msm_obj->pages[i]);
	kvfree(msm_obj->pages);
	msm_obj->pages = NULL;
}

noinline void msm_gem_vunmap(struct drm_gem_object *obj)
{
	to_msm_bo(obj)->vaddr = NULL;  /* nothing is ever vmapped here */
}

/* msm: unmap and free the object's IOMMU mappings. There is no IOMMU; kept for the name. */
static noinline void put_iova_vmas(struct drm_gem_object *obj)
{
	WRITE_ONCE(to_msm_bo(obj)->flags, to_msm_bo(obj)->flags);  /* uses obj: no .constprop clone */
}

bool msm_gem_active(struct drm_gem_object *obj)
{
	return !dma_resv_test_signaled(obj->resv, DMA_RESV_USAGE_READ);
}

/* Called with the resv held (from the shrinker's purge). The backing pages go away. */
noinline void msm_gem_purge(struct drm_gem_object *obj)
{
	struct msm_gem_object *msm_obj = to_msm_bo(obj);

	dma_resv_assert_held(obj->resv);
	msm_gem_vunmap(obj);
	put_pages(obj);
	put_iova_vmas(obj);
	msm_obj->madv = __MSM_MADV_PURGED;
	drm_gem_lru_move_tail(&gs.lru.unbacked, obj);
}

noinline void msm_gem_evict(struct drm_gem_object *obj)
{
	dma_resv_assert_held(obj->resv);
	msm_gem_vunmap(obj);
	put_pages(obj);
	drm_gem_lru_move_tail(&gs.lru.unbacked, obj);
}

/* obj->funcs->free: runs in whatever context dropped the last reference. */
static noinline void msm_gem_free_object(struct drm_gem_object *obj)
{
	struct msm_gem_object *msm_obj = to_msm_bo(obj);
	enum gs_ctx ctx = gs_current_ctx();
	u64 t0 = ktime_get_ns(), dt;
	unsigned long f;

	msm_gem_vunmap(obj);
	put_pages(obj);
	put_iova_vmas(obj);
	if (gs_free_delay_us > 0)
		udelay(gs_free_delay_us);  /* the "slow finalizer" knob */
	/* what drm_gem_object_release() does for us: */
	drm_gem_lru_remove(obj);
	dma_resv_fini(&obj->_resv);
	kfree(msm_obj);
	dt = ktime_get_ns() - t0;
	spin_lock_irqsave(&gs.counters_lock, f);
	gs.c.frees++;
	gs.c.frees_by_context[ctx]++;
	gs.c.free_total_ns += dt;
	gs.c.free_total_ns_by_context[ctx] += dt;
	spin_unlock_irqrestore(&gs.counters_lock, f);
}

static const struct drm_gem_object_funcs msm_gem_object_funcs = {
	.free = msm_gem_free_object,
};

/* Like msm_gem_new(): an object with real pages, on the LRU its madvise state selects. */
noinline struct drm_gem_object *msm_gem_new(uint32_t size, uint32_t flags, uint32_t madv)
{
	struct msm_gem_object *msm_obj;
	struct drm_gem_object *obj;
	unsigned int i, npages = size >> PAGE_SHIFT;
	unsigned long f;

	msm_obj = kzalloc(sizeof(*msm_obj), GFP_KERNEL);
	if (!msm_obj)
		return NULL;
	msm_obj->pages = kvcalloc(npages, sizeof(struct page *), GFP_KERNEL);
	if (!msm_obj->pages)
		goto fail;
	msm_obj->npages = npages;
	for (i = 0; i < npages; i++) {
		msm_obj->pages[i] = alloc_page(GFP_KERNEL);
		if (!msm_obj->pages[i])
			goto fail;
	}
	obj = &msm_obj->base;
	msm_obj->flags = flags;
	msm_obj->madv = madv;
	obj->funcs = &msm_gem_object_funcs;
	obj->size = size;
	kref_init(&obj->refcount);          /* the creator's "handle" reference */
	dma_resv_init(&obj->_resv);
	obj->resv = &obj->_resv;
	INIT_LIST_HEAD(&obj->lru_node);
	drm_gem_lru_move_tail(madv == MSM_MADV_DONTNEED ? &gs.lru.dontneed : &gs.lru.willneed, obj);
	msm_obj->has_handle = true;
	spin_lock_irqsave(&gs.objects_lock, f);
	list_add_tail(&msm_obj->node, &gs.objects);
	spin_unlock_irqrestore(&gs.objects_lock, f);
	GS_COUNT(objects_created, 1);
	return obj;
fail:
	if (msm_obj->pages) {
		for (i = 0; i < npages; i++)
			if (msm_obj->pages[i])
				__free_page(msm_obj->pages[i]);
		kvfree(msm_obj->pages);
	}
	kfree(msm_obj);
	return NULL;
}

/* GEM_CLOSE: drop the handle's reference (frees the object if nothing else holds it). */
void gs_close_handle(struct drm_gem_object *obj)
{
	struct msm_gem_object *msm_obj = to_msm_bo(obj);
	unsigned long f;
	bool had;

	spin_lock_irqsave(&gs.objects_lock, f);
	had = msm_obj->has_handle;
	if (had) {
		msm_obj->has_handle = false;
		list_del_init(&msm_obj->node);
	}
	spin_unlock_irqrestore(&gs.objects_lock, f);
	if (had)
		drm_gem_object_put(obj);
}

void gs_close_all(void)
{
	struct msm_gem_object *msm_obj;
	unsigned long f;

	for (;;) {
		spin_lock_irqsave(&gs.objects_lock, f);
		msm_obj = list_first_entry_or_null(&gs.objects, struct msm_gem_object, node);
		if (msm_obj)
			drm_gem_object_get(&msm_obj->base);
		spin_unlock_irqrestore(&gs.objects_lock, f);
		if (!msm_obj)
			return;
		gs_close_handle(&msm_obj->base);
		drm_gem_object_put(&msm_obj->base);  /* last put: the free runs here (ioctl context) */
	}
}
