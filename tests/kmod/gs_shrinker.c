// SPDX-License-Identifier: GPL-2.0
/*
 * msm's shrinker (msm_gem_shrinker.c, v6.6 shape, which Debian's 6.1.192 and 6.12 both match:
 * drm_gem_lru_scan() takes *remaining in both), on the real drm_gem_lru_scan() of drm.ko.
 *
 * Counting trylocks exactly: the trylocks happen inside drm.ko, so the module cannot count them
 * directly. It numbers the LRU's objects just before each drm_gem_lru_scan() (scan_pos) and notes
 * the position of the last object the callback reclaimed. drm_gem_lru_scan visits the list in
 * order and stops only right after a reclaim that reaches nr_to_scan, or at the end of the list,
 * so the visited objects are exactly positions 0..last (or all). Every visited object with a
 * non-zero refcount got one dma_resv_trylock, which fails exactly on the objects the holder
 * thread holds. On these kernels drm_gem_lru_scan also reports the skipped pages in *remaining;
 * the module records that too (remaining_pages_kernel) and the test checks both agree. Kernels
 * with "drm/gem: count objects that were not shrunk as remaining" (Debian's 6.1.0-57 has it,
 * 6.12.95 does not) also add the pages of visited objects whose callback declined them (busy
 * ones): the module counts those as declined_pages.
 * This needs the LRUs to be still while a scan runs: scans are serialized (scan_mutex), and the
 * workload runs no submits while the shrinker is being driven.
 */
#include <linux/sched.h>
#include <linux/swap.h>
#include "gs_kmod.h"
#include "msm_gpu_trace.h"

static bool can_swap(void)
{
	return gs_enable_eviction && get_nr_swap_pages() >= 0;  /* msm: && get_nr_swap_pages() > 0 */
}

static bool can_block(struct shrink_control *sc)
{
	if (!(sc->gfp_mask & __GFP_DIRECT_RECLAIM))
		return false;
	return current_is_kswapd() || (sc->gfp_mask & __GFP_RECLAIM);
}

static unsigned long msm_gem_shrinker_count(struct shrinker *shrinker, struct shrink_control *sc)
{
	unsigned long count = READ_ONCE(gs.lru.dontneed.count);

	if (can_swap())
		count += READ_ONCE(gs.lru.willneed.count);
	GS_COUNT(counts, 1);
	return count;
}

static int gs_last_pos;      /* scan_pos of the last object a stage callback reclaimed */
static u32 gs_scan_gen;

static void gs_note_reclaimed(struct drm_gem_object *obj)
{
	struct msm_gem_object *m = to_msm_bo(obj);

	gs_last_pos = m->scan_pos;
	/* "close racing the shrinker": drop the handle while drm_gem_lru_scan holds its own ref, so
	 * its drm_gem_object_put() at the end of the iteration runs msm_gem_free_object in reclaim */
	if (m->close_in_shrinker)
		gs_close_handle(obj);
}

static bool purge(struct drm_gem_object *obj)
{
	if (to_msm_bo(obj)->madv != MSM_MADV_DONTNEED || !to_msm_bo(obj)->pages)
		return false;
	if (msm_gem_active(obj))
		return false;
	msm_gem_purge(obj);
	gs_note_reclaimed(obj);
	return true;
}

static bool evict(struct drm_gem_object *obj)
{
	if (to_msm_bo(obj)->madv != MSM_MADV_WILLNEED || !to_msm_bo(obj)->pages)
		return false;
	if (msm_gem_active(obj))
		return false;
	msm_gem_evict(obj);
	gs_note_reclaimed(obj);
	return true;
}

/* msm's wait_for_idle(), counted: each dma_resv_wait_timeout() call, its time and outcome. */
static bool wait_for_idle(struct drm_gem_object *obj)
{
	u64 t0 = ktime_get_ns(), dt;
	long ret = dma_resv_wait_timeout(obj->resv, DMA_RESV_USAGE_READ, false, 10);
	unsigned long f;

	dt = ktime_get_ns() - t0;
	spin_lock_irqsave(&gs.counters_lock, f);
	gs.c.fence_waits++;
	gs.c.fence_wait_timeouts += (ret == 0);
	gs.c.fence_wait_total_ns += dt;
	spin_unlock_irqrestore(&gs.counters_lock, f);
	return ret > 0;
}

static bool active_purge(struct drm_gem_object *obj)
{
	if (!wait_for_idle(obj))
		return false;
	return purge(obj);
}

static bool active_evict(struct drm_gem_object *obj)
{
	if (!wait_for_idle(obj))
		return false;
	return evict(obj);
}

/* Number the LRU's objects; returns how many, and how many are held / have a zero refcount. */
static int gs_number_lru(struct drm_gem_lru *lru)
{
	struct drm_gem_object *obj;
	int n = 0;

	mutex_lock(lru->lock);
	gs_scan_gen++;
	list_for_each_entry(obj, &lru->list, lru_node) {
		to_msm_bo(obj)->scan_pos = n++;
		to_msm_bo(obj)->scan_gen = gs_scan_gen;
	}
	mutex_unlock(lru->lock);
	return n;
}

/* After the scan: which numbered objects were visited, and which of those failed the trylock. */
static void gs_count_visits(struct drm_gem_lru *lru, int n, int last, enum gs_stage st)
{
	struct drm_gem_object *obj;
	u64 tries = 0, fails = 0, bytes = 0, declined = 0;
	unsigned long f;

	/* held objects stay on this LRU (their trylock failed, drm_gem_lru_scan put them back) and
	 * reclaimed ones left it: so visited-and-held can be found on the list afterwards. The
	 * other visited ones are counted from the positions. */
	tries = last < 0 ? 0 : (u64)last + 1;
	mutex_lock(lru->lock);
	list_for_each_entry(obj, &lru->list, lru_node) {
		struct msm_gem_object *m = to_msm_bo(obj);

		if (m->scan_gen != gs_scan_gen || m->scan_pos > last)
			continue;
		if (m->held) {
			fails++;
			bytes += obj->size;
		} else if (kref_read(&obj->refcount)) {
			declined += obj->size >> PAGE_SHIFT;  /* locked, but the callback said no */
		}
	}
	mutex_unlock(lru->lock);
	spin_lock_irqsave(&gs.counters_lock, f);
	gs.c.trylocks += tries;
	gs.c.trylock_failures += fails;
	gs.c.failures_by_stage[st] += fails;
	gs.c.failed_bytes += bytes;
	gs.c.declined_pages += declined;
	spin_unlock_irqrestore(&gs.counters_lock, f);
}

static unsigned long msm_gem_shrinker_scan(struct shrinker *shrinker, struct shrink_control *sc)
{
	struct {
		struct drm_gem_lru *lru;
		bool (*shrink)(struct drm_gem_object *obj);
		bool cond;
		unsigned long freed;
		unsigned long remaining;
	} stages[] = {
		/* Stages of progressively more aggressive/expensive reclaim: */
		{ &gs.lru.dontneed, purge,        true },
		{ &gs.lru.willneed, evict,        can_swap() },
		{ &gs.lru.dontneed, active_purge, can_block(sc) },
		{ &gs.lru.willneed, active_evict, can_swap() && can_block(sc) },
	};
	long nr = sc->nr_to_scan;
	unsigned long freed = 0, remaining = 0, ret;
	unsigned long f;
	unsigned int i;

	mutex_lock(&gs.scan_mutex);
	WRITE_ONCE(gs.scan_task, current);
	for (i = 0; (nr > 0) && (i < ARRAY_SIZE(stages)); i++) {
		int n, last;

		if (!stages[i].cond)
			continue;
		n = gs_number_lru(stages[i].lru);
		gs_last_pos = -1;
		stages[i].freed = drm_gem_lru_scan(stages[i].lru, nr, &stages[i].remaining,
						   stages[i].shrink);
		/* stopped right after a reclaim that reached nr, or ran off the end of the list */
		last = (stages[i].freed >= nr) ? gs_last_pos : n - 1;
		gs_count_visits(stages[i].lru, n, last, i);
		nr -= stages[i].freed;
		freed += stages[i].freed;
		remaining += stages[i].remaining;
	}
	WRITE_ONCE(gs.scan_task, NULL);
	mutex_unlock(&gs.scan_mutex);

	if (freed)
		trace_msm_gem_shrink(sc->nr_to_scan, stages[0].freed, stages[1].freed,
				     stages[2].freed, stages[3].freed);
	ret = (freed > 0 && remaining > 0) ? freed : SHRINK_STOP;

	spin_lock_irqsave(&gs.counters_lock, f);
	gs.c.scans++;
	gs.c.requested_pages += sc->nr_to_scan;
	gs.c.freed_pages += freed;
	for (i = 0; i < GS_NSTAGE; i++)
		gs.c.freed_pages_by_stage[i] += stages[i].freed;
	gs.c.remaining_pages_kernel += remaining;
	gs.c.shrink_stop += (ret == SHRINK_STOP);
	gs.c.msm_gem_shrink_events += (freed != 0);
	spin_unlock_irqrestore(&gs.counters_lock, f);
	return ret;
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
int gs_shrinker_init(void)
{
	gs.shrinker = shrinker_alloc(0, "drm-msm_gem");
	if (!gs.shrinker)
		return -ENOMEM;
	gs.shrinker->count_objects = msm_gem_shrinker_count;
	gs.shrinker->scan_objects = msm_gem_shrinker_scan;
	gs.shrinker->seeks = DEFAULT_SEEKS;
	shrinker_register(gs.shrinker);
	return 0;
}

void gs_shrinker_fini(void)
{
	shrinker_free(gs.shrinker);
}
#else
static struct shrinker gs_shrinker = {
	.count_objects = msm_gem_shrinker_count,
	.scan_objects = msm_gem_shrinker_scan,
	.seeks = DEFAULT_SEEKS,
};

int gs_shrinker_init(void)
{
	gs.shrinker = &gs_shrinker;
	return register_shrinker(&gs_shrinker, "drm-msm_gem");
}

void gs_shrinker_fini(void)
{
	unregister_shrinker(&gs_shrinker);
}
#endif
