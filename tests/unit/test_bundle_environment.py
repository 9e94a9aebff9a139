"""The environment part of a bundle: config filtering, msm parameters, tracepoint names."""
from __future__ import annotations

from tracer.bundle import environment as env


def test_plan_tracepoint_names():
    assert env.plan_tracepoints("tracepoint:lock:contention_begin+contention_end") == [
        "lock/contention_begin", "lock/contention_end"]
    assert env.plan_tracepoints(
        "tracepoint:sched:sched_kthread_work_execute_start+end(retire_worker)") == [
        "sched/sched_kthread_work_execute_start", "sched/sched_kthread_work_execute_end"]
    assert env.plan_tracepoints("drm_msm_gpu:msm_gpu_submit") == ["drm_msm_gpu/msm_gpu_submit"]
    for not_tp in ("kprobe:msm:purge+evict", "kprobe:msm_gem_free_object", "stackmap", "attach"):
        assert env.plan_tracepoints(not_tp) == []


def test_config_lines_keep_only_the_relevant_options():
    text = "\n".join(["CONFIG_DRM=y", "CONFIG_DRM_MSM=m", "# CONFIG_LOCKDEP is not set",
                      "CONFIG_PREEMPT_DYNAMIC=y", "CONFIG_EXT4_FS=y", "CONFIG_KPROBES=y",
                      "CONFIG_DEBUG_MUTEXES=y", "CONFIG_HZ=250", "CONFIG_HZ_250=y", "# comment"])
    assert env._relevant(text) == ["CONFIG_DRM=y", "CONFIG_DRM_MSM=m",
                                   "# CONFIG_LOCKDEP is not set", "CONFIG_PREEMPT_DYNAMIC=y",
                                   "CONFIG_KPROBES=y", "CONFIG_DEBUG_MUTEXES=y", "CONFIG_HZ=250"]


def test_msm_parameters_and_gpu_names(tmp_path):
    params = tmp_path / "parameters"
    params.mkdir()
    (params / "enable_eviction").write_text("Y\n")
    (params / "vram").write_text("0\n")
    assert env.msm_parameters(str(params)) == {"present": True, "parameters": {
        "enable_eviction": "Y", "vram": "0"}}
    assert env.msm_parameters(str(tmp_path / "absent")) == {"present": False}
    (tmp_path / "dri" / "0").mkdir(parents=True)
    (tmp_path / "dri" / "0" / "name").write_text("msm dev=ae00000.display-subsystem unique=x\n")
    names = env.gpu_names(str(tmp_path / "dri" / "*" / "name"))
    assert list(names.values()) == ["msm dev=ae00000.display-subsystem unique=x"]


def test_tracepoint_formats_from_a_tracefs_copy(tmp_path):
    fmt = tmp_path / "events" / "drm_msm_gpu" / "msm_gpu_submit"
    fmt.mkdir(parents=True)
    (fmt / "format").write_text("name: msm_gpu_submit\nID: 1399\n")
    got = env.tracepoint_formats(["gpu_submit", "gpu_retired"], {}, roots=[str(tmp_path)])
    assert got["formats"] == {"drm_msm_gpu/msm_gpu_submit": "name: msm_gpu_submit\nID: 1399\n"}
    assert list(got["unreadable"]) == ["drm_msm_gpu/msm_gpu_submit_retired"]
    none = env.tracepoint_formats(["gpu_submit"], {}, roots=[str(tmp_path / "nothing")])
    assert none == {"root": None, "formats": {},
                    "unreadable": {"drm_msm_gpu/msm_gpu_submit": "no tracefs mounted"}}
