"""The workload model: determinism, synthetic marking, the kinds each scenario produces, the
model's internal consistency, its vectorized building blocks, the CLI and the bundled samples."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLES
from tracer.cli import main
from tracer.frames import load_frames
from tracer.simulate import RECORDED_KINDS, SCENARIOS, generate, truth_path
from tracer.simulate.samples import SAMPLES as SAMPLE_LIST
from tracer.simulate.scenarios import claimed_kinds
from tracer.simulate.timeline import offsets_in_group, queue_starts
from tracer.simulate.truth import _overlapping

@pytest.fixture(scope="module")
def storm(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "storm.gsrec"
    generate("shrinker-storm", path, seed=5, duration_s=2.0)
    return load_frames(path)


def test_same_seed_same_bytes_other_seed_other_events(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.gsrec", "b.gsrec", "c.gsrec"))
    generate("trylock-or-defer", a, seed=3, duration_s=1.0)
    generate("trylock-or-defer", b, seed=3, duration_s=1.0)
    generate("trylock-or-defer", c, seed=4, duration_s=1.0)
    assert a.read_bytes() == b.read_bytes()
    assert open(truth_path(a)).read() == open(truth_path(b)).read()
    fa, fc = load_frames(a), load_frames(c)
    assert not fa["free"]["duration_ns"].equals(fc["free"]["duration_ns"])


def test_meta_marks_the_recording_synthetic(tmp_path):
    p = tmp_path / "v.gsrec"
    generate("vm-lock-under-reclaim", p, seed=9, duration_s=0.5, scale=2)
    f = load_frames(p)
    m = f.meta
    assert (m["synthetic"], m["source"], m["scenario"], m["seed"], m["scale"]) == \
        (True, "simulate", "vm-lock-under-reclaim", 9, 2.0)
    assert m["recorded_kinds"] == RECORDED_KINDS
    assert {v["status"] for v in m["probe_plan"].values()} == {"modelled"}
    assert sorted({k for v in m["probe_plan"].values() for k in v["kinds"]}) == RECORDED_KINDS
    assert m["kernel_release"].startswith("synthetic") and m["driver"] == "msm (modelled)"
    assert f.present <= set(RECORDED_KINDS)
    assert set(f["probe_status"]["status"]) == {"modelled"}
    assert len(f["probe_status"]) == len(m["probe_plan"])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_produces_the_kinds_it_claims(tmp_path, name):
    p = tmp_path / f"{name}.gsrec"
    generate(name, p, seed=2, duration_s=2.0)
    f = load_frames(p)
    claimed = claimed_kinds(SCENARIOS[name])
    assert claimed <= f.present <= set(RECORDED_KINDS)
    assert ("direct_reclaim" in claimed) == (name in ("shrinker-storm", "vm-lock-under-reclaim"))
    if name == "async-free-worker":
        assert set(f["free"]["comm"]) >= {"msm-free-worker"}
        assert "retire_worker" not in set(f["free"]["context"])
    if name == "vm-lock-under-reclaim":
        inrec = f["resv_lock"][f["resv_lock"]["in_reclaim"]]
        assert set(inrec["api"]) == {"ww_mutex_lock"}
        assert set(inrec["caller"]) == {"with_vm_locks+0x7c", "drm_exec_lock_obj+0x5c"}
        assert (f["resv_trylock"]["ctx_addr"] != 0).all()


def test_every_referenced_stack_is_emitted_once(storm):
    stacks = storm["stack"]
    assert stacks["stack_id"].is_unique
    used = set()
    for kind in ("resv_lock", "resv_trylock", "free", "last_put", "fence_wait",
                 "lock_contention", "resv_hold"):
        used |= set(storm[kind]["stack_id"].dropna().astype(int))
    assert used == set(stacks["stack_id"].astype(int))
    frees = storm.stacks()[int(storm["free"][storm["free"]["context"] == "shrinker"]
                               ["stack_id"].iloc[0])]
    assert [f.split("+0x")[0] for f in frees.splitlines()[:3]] == [
        "msm_gem_free_object", "drm_gem_object_free", "drm_gem_lru_scan"]


def _inside(inner: pd.DataFrame, outer: pd.DataFrame, by: str = "tid") -> np.ndarray:
    """For each inner event, whether it starts inside an outer interval of the same key."""
    o = outer.sort_values("ts_ns")
    i = inner.reset_index(drop=True)
    m = pd.merge_asof(i.assign(_r=np.arange(len(i))).sort_values("ts_ns"),
                      o[["ts_ns", by, "duration_ns"]].rename(columns={
                          "duration_ns": "_od", "ts_ns": "_ots"}).assign(ts_ns=o["ts_ns"]),
                      on="ts_ns", by=by)
    m = m.sort_values("_r")
    return (m["ts_ns"] < m["_ots"] + m["_od"]).fillna(False).to_numpy()


def test_shrinker_events_nest_and_add_up(storm):
    scans, lru, obj = storm["shrink_scan"], storm["lru_scan"], storm["shrink_object"]
    assert _inside(lru, scans).all() and _inside(obj, lru).all()
    # each stage's freed pages are the pages of the objects its callbacks reclaimed
    o = obj.sort_values("ts_ns")
    stage_of = pd.merge_asof(o, lru.sort_values("ts_ns")[["ts_ns", "tid"]].assign(
        stage_ts=lru.sort_values("ts_ns")["ts_ns"]), on="ts_ns", by="tid")
    got = (stage_of["size_bytes"].astype("int64") // 4096 * stage_of["success"]).groupby(
        [stage_of["tid"], stage_of["stage_ts"]]).sum()
    want = lru.set_index(["tid", "ts_ns"])["freed_pages"]
    assert (want.loc[got.index].to_numpy() == got.to_numpy()).all()
    # SHRINK_STOP (freed null) exactly when nothing was freed or nothing skipped
    s = scans.sort_values("ts_ns")
    per = pd.merge_asof(lru.sort_values("ts_ns"), s[["ts_ns", "tid"]].assign(scan_ts=s["ts_ns"]),
                        on="ts_ns", by="tid").groupby("scan_ts")[["freed_pages",
                                                                  "remaining_pages"]].sum()
    stop = s.set_index("ts_ns")["freed_pages"].isna()
    expect = (per["freed_pages"] == 0) | (per["remaining_pages"] == 0)
    assert (stop.loc[per.index] == expect).all()
    assert (per.loc[~expect, "freed_pages"] ==
            s.set_index("ts_ns")["freed_pages"].loc[per.index[~expect]]).all()


def test_waits_pair_with_contention_and_a_holder(storm):
    locks, cont, holds = storm["resv_lock"], storm["lock_contention"], storm["resv_hold"]
    resv_cont = cont[cont["is_resv"]]
    assert _inside(resv_cont, locks).all()
    waited = locks[locks["duration_ns"] > 1000]
    assert len(waited) == len(resv_cont) and (waited["holder_tid"] != 0).all()
    assert (locks[locks["duration_ns"] <= 1000]["holder_tid"] == 0).all()
    # the task named as holder holds that resv when the wait begins
    h = holds.sort_values("ts_ns")
    m = pd.merge_asof(resv_cont.sort_values("ts_ns"), h[["ts_ns", "lock_addr", "tid",
                                                          "duration_ns"]].rename(columns={
        "tid": "h_tid", "duration_ns": "h_dur"}).assign(h_ts=h["ts_ns"]),
        on="ts_ns", by="lock_addr")
    assert (m["h_tid"] == m["holder_tid"]).all()
    assert (m["h_ts"] + m["h_dur"] > m["ts_ns"]).all()
    # a wait that got the lock ends just after the holder's unlock; a -EDEADLK backoff ends
    # while the holder still holds it (wait-die: the younger ticket gives up)
    released_during = m["h_ts"] + m["h_dur"] < m["ts_ns"] + m["duration_ns"]
    assert (released_during == (m["ret"] == 0)).all()
    assert (m["ret"] == -35).sum() == (locks["ret"] == -35).sum() > 0


def test_retire_frees_run_inside_runs_and_fences_signal_in_order(storm):
    free = storm["free"]
    in_retire = free[free["context"] == "retire_worker"]
    assert _inside(in_retire, storm["retire_run"]).all()
    sig = storm["fence_signal"]
    assert (np.diff(sig["seqno"].astype("int64").to_numpy()) == 1).all()
    assert int(storm["retire_run"]["submits_retired"].sum()) == len(sig) == \
        len(storm["gpu_retired"])


def test_lost_events_are_really_missing(storm):
    lost = int(storm["lost"]["lost_count"].sum())
    assert lost > 0
    assert len(storm["gpu_submit"]) + lost == len(storm["gpu_retired"])


def test_queue_starts_and_group_offsets_exact():
    starts = queue_starts(np.array([0, 5, 6, 30]), np.array([10, 3, 4, 1]), gap_ns=1)
    assert starts.tolist() == [0, 11, 15, 30]
    assert offsets_in_group(np.array([2, 3, 4, 5, 6]), np.array([0, 0, 1, 1, 1])).tolist() == \
        [0, 2, 0, 4, 9]


def test_truth_overlap_counts_closed_intervals_on_the_same_lru():
    fs = np.array([0, 10, 25, 40, 40])
    fe = np.array([5, 20, 26, 45, 45])
    flru = np.array([1, 1, 1, 1, 2], dtype=np.uint64)
    ss, se = np.array([5, 30, 44]), np.array([9, 35, 50])
    slru = np.array([1, 1, 2], dtype=np.uint64)
    # [0,5] touches [5,9]; [10,20] and [25,26] meet nothing; [40,45] on LRU 1 meets nothing,
    # on LRU 2 it meets [44,50]
    assert _overlapping(fs, fe, flru, ss, se, slru) == 2


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["simulate", "no-such-design", "-o", str(tmp_path / "x.gsrec")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown scenario 'no-such-design'" in err
    assert main(["simulate", "shrinker-storm"]) == 2
    assert capsys.readouterr().err == "gemscope: error: say where to write the recording: -o " \
        "FILE\n"
    assert main(["simulate", "shrinker-storm", "-o", str(tmp_path / "x.gsrec"),
                 "--duration-s", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["simulate", "shrinker-storm", "-o", str(tmp_path / "x.gsrec"),
                 "--duration-s", "3600", "--scale", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "million events" in err
    assert main(["simulate", "shrinker-storm", "-o", str(tmp_path / "nodir" / "x.gsrec")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_list_and_write(tmp_path, capsys):
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line and not line.startswith(" ")] == \
        list(SCENARIOS)
    p = tmp_path / "s.gsrec"
    assert main(["simulate", "sync-free-in-retire", "-o", str(p), "--seed", "4",
                 "--duration-s", "0.5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {p}: ") and "SYNTHETIC" in out
    assert json.load(open(tmp_path / "s.truth.json"))["seed"] == 4


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=lambda s: s.scenario)
def test_bundled_samples_regenerate_identically(tmp_path, sample):
    shipped = SAMPLES / sample.filename
    assert shipped.stat().st_size < 1_000_000
    fresh = tmp_path / sample.filename
    manifest = generate(sample.scenario, fresh, seed=sample.seed, duration_s=sample.duration_s,
                        scale=sample.scale)
    assert json.load(open(truth_path(shipped))) == manifest
    a, b = load_frames(shipped), load_frames(fresh)
    assert a.present == b.present and a.meta == b.meta
    for kind in a.present:
        pd.testing.assert_frame_equal(a[kind], b[kind], check_exact=True)


def test_each_thread_runs_one_free_at_a_time(storm):
    f = storm["free"].sort_values(["tid", "ts_ns"])
    same = f["tid"].to_numpy()[1:] == f["tid"].to_numpy()[:-1]
    ends = (f["ts_ns"] + f["duration_ns"]).to_numpy()
    assert (f["ts_ns"].to_numpy()[1:][same] >= ends[:-1][same]).all()


def test_async_free_work_delays_retire_work_on_the_shared_queue(tmp_path):
    p = tmp_path / "a.gsrec"
    generate("async-free-worker", p, seed=2, duration_s=2.0)
    f = load_frames(p)
    runs = f["retire_run"]
    frees = f["free"][f["free"]["comm"] == "msm-free-worker"]
    items = pd.concat([runs[["ts_ns", "duration_ns"]], frees[["ts_ns", "duration_ns"]]])
    items = items.sort_values("ts_ns").to_numpy()
    assert (items[1:, 0] >= items[:-1, 0] + items[:-1, 1]).all()   # one item at a time
    worst = runs.loc[runs["queue_delay_ns"].idxmax()]
    assert worst["queue_delay_ns"] > 2_000_000
    free_end = (frees["ts_ns"] + frees["duration_ns"]).to_numpy()
    gap = worst["ts_ns"] - free_end[free_end <= worst["ts_ns"]].max()
    assert 0 < gap <= 10_000          # it started as soon as the free work ahead of it ended


def _lock_history_conflicts(f) -> tuple[int, int]:
    """(holds of one resv that overlap, acquisitions made while another task held the lock)."""
    h = f["resv_hold"]
    hs, hl, ht = h["ts_ns"].to_numpy(), h["lock_addr"].to_numpy(), h["tid"].to_numpy()
    he = hs + h["duration_ns"].to_numpy()
    o = np.lexsort((hs, hl))
    hs, he, hl, ht = hs[o], he[o], hl[o], ht[o]
    reach = pd.Series(he).groupby(hl).cummax().to_numpy()
    overlaps = int(((hl[1:] == hl[:-1]) & (hs[1:] < reach[:-1])).sum())
    lk = f["resv_lock"][(f["resv_lock"]["ret"] == 0) & (f["resv_lock"]["duration_ns"] <= 1000)]
    tl = f["resv_trylock"][f["resv_trylock"]["success"]]
    acq = pd.concat([pd.DataFrame({"ts": d["ts_ns"].to_numpy(), "lock": d["lock_addr"].to_numpy(),
                                   "tid": d["tid"].to_numpy()}) for d in (lk, tl)])
    held = pd.DataFrame({"ts": hs, "lock": hl, "end": he, "holder": ht}).sort_values("ts")
    m = pd.merge_asof(acq.sort_values("ts"), held, on="ts", by="lock",
                      allow_exact_matches=False)
    return overlaps, int(((m["end"] > m["ts"]) & (m["holder"] != m["tid"])).sum())


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=lambda s: s.scenario)
def test_lock_history_is_possible(sample):
    """No resv is held twice at once, and nobody takes a resv uncontended (or wins a trylock)
    while another task holds it: injected holders are trimmed around everyone else's use."""
    f = load_frames(SAMPLES / sample.filename)
    assert len(f["resv_hold"]) > 1000
    assert _lock_history_conflicts(f) == (0, 0)


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=lambda s: s.scenario)
def test_callers_are_the_second_frame_of_each_stack(sample):
    """As the live decoder reports them: caller = frame 1 (the probed call's return address)."""
    f = load_frames(SAMPLES / sample.filename)
    stacks = f.stacks()
    assert all("+0x" in line for s in stacks.values() for line in s.splitlines())
    assert set(f["stack"]["comm"]) == {""} and set(f["stack"]["tid"]) == {0}
    checked = 0
    for kind in ("resv_lock", "resv_trylock", "last_put", "resv_hold"):
        df = f[kind]
        want = df["stack_id"].astype(int).map(lambda s: stacks[s].splitlines()[1])
        assert (df["caller"].astype(str) == want).all(), kind
        checked += len(df)
    assert checked > 5000
