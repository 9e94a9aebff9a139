"""Lock-order risks under memory reclaim (question Q6, probe-catalog section 3.E).

dma_resv_lockdep() teaches lockdep, at boot, the order reservation_ww_class_acquire ->
reservation_ww_class_mutex -> fs_reclaim. Anything that inverts that order inside reclaim is a
potential deadlock, so each of these is reported with its stack:
- a blocking reservation lock (ww_mutex_lock*, drm_exec_lock_obj) taken under reclaim;
- a trylock that carries an acquire context (ctx_addr != 0) under reclaim: the v6.19
  drm_gem_lru_scan ticket, the reservation_ww_class_acquire inversion of the 2026 report
  (a plain trylock without a context is the intended design and is not a risk);
- a free (msm_gem_free_object) run under reclaim or from the shrinker;
- a fence wait (dma_resv_wait_timeout) under reclaim.
"Under reclaim" is stats.under_reclaim: in_reclaim set, or a context of shrinker / reclaim.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import Frames
from .base import Analysis, Result
from .stats import as_bool, labels, stack_frames, under_reclaim

RISK_COLUMNS = ["risk", "ts_ns", "tid", "comm", "context", "in_reclaim", "site", "lock_addr",
                "duration_ns", "stack"]
# Each risk is listed event by event up to this many (the earliest); the per-site table
# counts all of them.
RISK_EXAMPLES = 200


def _examples(df: pd.DataFrame, mask: np.ndarray, risk: str, site_col: str,
              stacks: dict[int, str]) -> pd.DataFrame:
    """The first RISK_EXAMPLES events of one risk, with their stacks."""
    sel = df[mask].head(RISK_EXAMPLES)
    n = len(sel)
    return pd.DataFrame({
        "risk": [risk] * n, "ts_ns": sel["ts_ns"].to_numpy(), "tid": sel["tid"].to_numpy(),
        "comm": sel["comm"].astype(object).to_numpy(),
        "context": sel["context"].astype(object).to_numpy(),
        "in_reclaim": sel["in_reclaim"].astype("boolean").array,
        "site": sel[site_col].astype(object).to_numpy(),
        "lock_addr": sel["lock_addr"].astype("UInt64").array if "lock_addr" in sel
        else pd.array([None] * n, dtype="UInt64"),
        "duration_ns": sel["duration_ns"].astype("Int64").array if "duration_ns" in sel
        else pd.array([None] * n, dtype="Int64"),
        "stack": stack_frames(sel["stack_id"], stacks).to_numpy(),
    }, columns=RISK_COLUMNS)


def _by_site(df: pd.DataFrame, mask: np.ndarray, risk: str, site_col: str,
             stacks: dict[int, str]) -> pd.DataFrame:
    """Every event of one risk counted per (site, stack)."""
    sel = df[mask]
    t = pd.DataFrame({"site": labels(sel[site_col]),
                      "stack_id": sel["stack_id"].astype("Int64").fillna(-1).to_numpy()})
    out = t.groupby(["site", "stack_id"], observed=True, sort=False).size() \
        .rename("events").reset_index()
    out.insert(0, "risk", risk)
    out["stack"] = stack_frames(out["stack_id"].where(out["stack_id"] >= 0), stacks).to_numpy()
    out["site"] = out["site"].astype(object)
    return out.drop(columns=["stack_id"])


def analyse(frames: Frames) -> Result:
    res = Result("reclaim_risks", ANALYSIS.title, ANALYSIS.needs)
    locks, free = frames["resv_lock"], frames["free"]
    lock_risk = under_reclaim(locks)
    free_risk = under_reclaim(free)
    checks = [(locks, lock_risk, "blocking_resv_lock_in_reclaim", "caller"),
              (free, free_risk, "free_in_reclaim", "context")]
    res.headline = {
        "blocking_resv_locks_in_reclaim": int(lock_risk.sum()),
        "ctx_trylocks_in_reclaim": None,
        "frees_in_reclaim": int(free_risk.sum()),
        "frees_from_shrinker": int((free["context"] == "shrinker").sum()),
        "fence_waits_in_reclaim": None,
    }
    if frames.recorded("resv_trylock"):
        tl = frames["resv_trylock"]
        ctx = tl["ctx_addr"].fillna(0).to_numpy(dtype=np.uint64) != 0
        tl_risk = ctx & under_reclaim(tl)
        res.headline["ctx_trylocks_in_reclaim"] = int(tl_risk.sum())
        checks.append((tl, tl_risk, "ctx_trylock_in_reclaim", "caller"))
    else:
        res.notes.append("resv_trylock was not recorded: trylocks with an acquire context "
                         "under reclaim cannot be counted")
    if frames.recorded("fence_wait"):
        fw = frames["fence_wait"]
        fw_risk = under_reclaim(fw)
        res.headline["fence_waits_in_reclaim"] = int(fw_risk.sum())
        checks.append((fw, fw_risk, "fence_wait_in_reclaim", "context"))
    else:
        res.notes.append("fence_wait was not recorded: fence waits under reclaim cannot be "
                         "counted")
    unknown = int(locks["in_reclaim"].isna().sum())
    if unknown:
        res.notes.append(f"{unknown} resv_lock events had an unknown in_reclaim: judged by "
                         "context alone")
    stacks = frames.stacks()
    examples = [_examples(df, m, risk, site, stacks) for df, m, risk, site in checks]
    risks = pd.concat([e for e in examples if len(e)] or examples[:1], ignore_index=True)
    res.tables["risks"] = risks.sort_values("ts_ns", kind="stable", ignore_index=True)
    sites = [_by_site(df, m, risk, site, stacks) for df, m, risk, site in checks]
    res.tables["by_risk_and_site"] = pd.concat(sites, ignore_index=True).sort_values(
        "events", ascending=False, kind="stable", ignore_index=True)
    if any(len(e) > RISK_EXAMPLES - 1 for e in examples):
        res.notes.append(f"the risks table lists the first {RISK_EXAMPLES} events of each "
                         "risk; by_risk_and_site counts all of them")
    if as_bool(locks["in_reclaim"])[lock_risk].any():
        res.notes.append("a blocking reservation lock was taken with PF_MEMALLOC/PF_KSWAPD set: "
                         "reservation_ww_class_mutex -> fs_reclaim inverted (lockdep would warn)")
    return res


ANALYSIS = Analysis(
    name="reclaim_risks",
    title="Lock-order risks under reclaim: blocking resv locks, ctx trylocks, frees, fence waits",
    needs=("resv_lock", "free"),
    func=lambda frames: analyse(frames),
    optional=("resv_trylock", "fence_wait", "stack"),
)
