// SPDX-License-Identifier: GPL-2.0
/*
 * Module entry, knobs and the ground-truth interface.
 *
 *   /sys/module/msm/parameters/<knob>        workload knobs (see below)
 *   /sys/kernel/debug/gemscope_kmod/ctl      write one command per write():
 *        reset       zero the counters
 *        run         create objects, do the submits (with contention rounds), wait for retire,
 *                    then the ioctl frees (synchronous; runs in the writer's process context)
 *        hold N      a gs-holder thread locks N backed DONTNEED objects (shrinker trylocks fail)
 *        release     unlock them
 *        busy N      give N backed DONTNEED objects gs-holder does not hold an unsignalled fence
 *                    (the active_* stages wait on them; see gs_busy.c)
 *        idle        signal those fences
 *        close_all   drop every remaining handle (frees in process context)
 *   /sys/kernel/debug/gemscope_kmod/counters  JSON: what the module did since the last reset
 * Drive the shrinker with `echo 2 > /proc/sys/vm/drop_caches` (real do_shrink_slab path).
 */
#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>
#include "gs_kmod.h"

struct gs_state gs;

int gs_nobjs = 64;          /* long-lived objects created by each run */
int gs_obj_pages = 4;       /* their size in pages */
int gs_nsubmits = 32;       /* submits per run */
int gs_contention = 4;      /* of those, how many wait on a gs-holder for their BO's resv */
int gs_hold_us = 2000;      /* how long (at least) the holder keeps the resv */
int gs_gpu_us = 100;        /* "GPU" time before the completion interrupt */
int gs_free_delay_us;       /* extra time spent in every msm_gem_free_object (slow finalizer) */
int gs_shrinker_frees = 2;  /* DONTNEED objects closed by userspace while the shrinker purges them */
int gs_ioctl_frees = 4;     /* objects created and closed (freed in process context) per run */
int gs_enable_eviction = 1; /* run the evict stages (no swap needed here: pages are just freed) */
int gs_transient = 1;       /* each submit has a BO closed right after it: freed in retire_worker */
module_param_named(nobjs, gs_nobjs, int, 0644);
module_param_named(obj_pages, gs_obj_pages, int, 0644);
module_param_named(nsubmits, gs_nsubmits, int, 0644);
module_param_named(contention, gs_contention, int, 0644);
module_param_named(hold_us, gs_hold_us, int, 0644);
module_param_named(gpu_us, gs_gpu_us, int, 0644);
module_param_named(free_delay_us, gs_free_delay_us, int, 0644);
module_param_named(shrinker_frees, gs_shrinker_frees, int, 0644);
module_param_named(ioctl_frees, gs_ioctl_frees, int, 0644);
module_param_named(enable_eviction, gs_enable_eviction, int, 0644);
module_param_named(transient, gs_transient, int, 0644);

static struct dentry *gs_dir;

static void gs_map(struct seq_file *m, const char *key, const char *const *names, const u64 *v, int n)
{
	int i;

	seq_printf(m, "  \"%s\": {", key);
	for (i = 0; i < n; i++)
		seq_printf(m, "%s\"%s\": %llu", i ? ", " : "", names[i], v[i]);
	seq_puts(m, "},\n");
}

static int gs_counters_show(struct seq_file *m, void *unused)
{
	struct gs_counters c;
	unsigned long f;

	spin_lock_irqsave(&gs.counters_lock, f);
	c = gs.c;
	spin_unlock_irqrestore(&gs.counters_lock, f);
#define N(x) seq_printf(m, "  \"" #x "\": %llu,\n", c.x)
	seq_puts(m, "{\n");
	seq_printf(m, "  \"kernel\": \"%s\",\n", utsname()->release);
	N(objects_created); N(resv_lock_calls); N(resv_waits); N(resv_wait_total_ns);
	N(resv_wait_max_ns); N(resv_wait_min_ns); N(hold_ns_total);
	seq_printf(m, "  \"waits_comm\": \"%s\",\n  \"holder_comm\": \"%s\",\n", gs.waits_comm, gs.holder_comm);
	N(trylocks); N(trylock_failures); N(failed_bytes); N(remaining_pages_kernel);
	N(declined_pages);
	gs_map(m, "failures_by_stage", gs_stage_names, c.failures_by_stage, GS_NSTAGE);
	N(frees); N(free_total_ns);
	gs_map(m, "frees_by_context", gs_ctx_names, c.frees_by_context, GS_NCTX);
	gs_map(m, "free_total_ns_by_context", gs_ctx_names, c.free_total_ns_by_context, GS_NCTX);
	N(scans); N(counts); N(requested_pages); N(freed_pages); N(shrink_stop); N(msm_gem_shrink_events);
	gs_map(m, "freed_pages_by_stage", gs_stage_names, c.freed_pages_by_stage, GS_NSTAGE);
	N(busy_objects); N(fence_waits); N(fence_wait_timeouts); N(fence_wait_total_ns);
	N(submits); N(submits_retired); N(retire_runs); N(fences_signalled);
	seq_printf(m, "  \"gpu_irqs\": %llu\n}\n", c.gpu_irqs);
#undef N
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gs_counters);

static ssize_t gs_ctl_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char buf[64];
	int n = 0, ret = 0;
	unsigned long f;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	strim(buf);
	mutex_lock(&gs.lock);
	if (!strcmp(buf, "reset")) {
		spin_lock_irqsave(&gs.counters_lock, f);
		memset(&gs.c, 0, sizeof(gs.c));
		spin_unlock_irqrestore(&gs.counters_lock, f);
	} else if (!strcmp(buf, "run")) {
		ret = gs_run_submits();
	} else if (sscanf(buf, "hold %d", &n) == 1) {
		ret = gs_hold_dontneed(n);
		ret = ret < 0 ? ret : 0;
	} else if (!strcmp(buf, "release")) {
		gs_release_held();
	} else if (sscanf(buf, "busy %d", &n) == 1) {
		ret = gs_busy_dontneed(n);
		if (ret >= 0) {
			GS_COUNT(busy_objects, ret);
			ret = 0;
		}
	} else if (!strcmp(buf, "idle")) {
		gs_busy_idle();
	} else if (!strcmp(buf, "close_all")) {
		gs_close_all();
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&gs.lock);
	return ret ? ret : len;
}

static const struct file_operations gs_ctl_fops = {
	.owner = THIS_MODULE,
	.write = gs_ctl_write,
};

static void gs_lru_init(struct drm_gem_lru *lru)
{
	drm_gem_lru_init(lru, &gs.lru_lock);
}

static int __init gs_init(void)
{
	int ret;

	mutex_init(&gs.lock);
	mutex_init(&gs.lru_lock);
	mutex_init(&gs.scan_mutex);
	spin_lock_init(&gs.objects_lock);
	spin_lock_init(&gs.counters_lock);
	INIT_LIST_HEAD(&gs.objects);
	gs_lru_init(&gs.lru.unbacked);
	gs_lru_init(&gs.lru.pinned);
	gs_lru_init(&gs.lru.willneed);
	gs_lru_init(&gs.lru.dontneed);
	ret = gs_gpu_init(&gs.gpu);
	if (ret)
		return ret;
	ret = gs_shrinker_init();
	if (ret) {
		gs_gpu_fini(&gs.gpu);
		return ret;
	}
	gs_dir = debugfs_create_dir("gemscope_kmod", NULL);
	debugfs_create_file("ctl", 0200, gs_dir, NULL, &gs_ctl_fops);
	debugfs_create_file("counters", 0444, gs_dir, NULL, &gs_counters_fops);
	return 0;
}

static void __exit gs_exit(void)
{
	debugfs_remove_recursive(gs_dir);
	gs_release_held();
	gs_busy_idle();
	gs_shrinker_fini();          /* no scan can run from here on */
	if (gs.gpu.worker) {
		wait_event_timeout(gs.gpu.retired_wq, atomic_read(&gs.gpu.inflight) == 0, 10 * HZ);
	}
	gs_gpu_fini(&gs.gpu);
	gs_close_all();
	rcu_barrier();               /* dma_fence_free uses kfree_rcu; the fence ops live here */
}

module_init(gs_init);
module_exit(gs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gemscope ground-truth module: msm's GEM lifecycle on real kernel primitives");
MODULE_SOFTDEP("pre: drm");
