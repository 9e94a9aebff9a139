"""`gemscope info FILE`: metadata and health of a recording, read batch by batch."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser(
        "info", help="print a recording's metadata and health (events, lost, truncated)",
        description="Print where a recording came from (kernel, machine, tool, probe plan) and its "
                    "health: events per kind, lost events, whether it was truncated or not closed "
                    "cleanly. Reads the file in chunks.",
        epilog="examples:\n  gemscope info sample-traces/shrinker-storm.gsrec\n"
               "  gemscope info --json trace.gsrec | jq .health")
    p.add_argument("file", help="a gemscope recording")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def info_dict(path: str) -> dict:
    from ..recording import open_recording
    with open_recording(path) as rec:
        s = rec.summary()
        span = (s.last_ts_ns - s.first_ts_ns) if s.first_ts_ns is not None else 0
        return {
            "file": path,
            "meta": rec.meta,
            "health": {
                "events": s.events,
                "batches": s.batches,
                "lost_events": s.lost_events,
                "duration_s": span / 1e9,
                "truncated": rec.truncated,
                "truncation_error": rec.truncation_error,
                "closed_cleanly": rec.closed_cleanly,
                "synthetic": rec.synthetic,
            },
            "events_by_kind": dict(sorted(s.by_kind.items())),
        }


def run(args) -> int:
    from ..bundle import open_input
    with open_input(args.file) as path:   # a recording, or a verified bug-report bundle
        d = info_dict(path)
    d["file"] = args.file
    if args.json:
        print(json.dumps(d, indent=2, sort_keys=True, default=str))
        return 0
    m, h = d["meta"], d["health"]
    print(f"recording     {d['file']}")
    if h["synthetic"]:
        print(f"SYNTHETIC     made by the gemscope workload model (scenario "
              f"{m.get('scenario', '?')}), not a real kernel")
    for key in ("source", "kernel_release", "machine", "hostname", "driver", "tool_version",
                "schema_version", "clock", "realtime_offset_ns", "command"):
        if key in m:
            print(f"{key:13} {m[key]}")
    print(f"events        {h['events']} in {h['batches']} batches over {h['duration_s']:.3f} s")
    print(f"lost events   {h['lost_events']}" + ("  <-- the kernel dropped events"
                                                  if h["lost_events"] else ""))
    if h["truncated"]:
        print(f"TRUNCATED     the file ends inside a batch ({h['truncation_error']}); every "
              "complete batch before it was read")
    elif not h["closed_cleanly"]:
        print("NOT CLOSED    the recorder did not close the file (killed?); all batches read")
    plan = m.get("probe_plan") or {}
    if plan:
        status = {p: (v or {}).get("status") for p, v in plan.items()}
        att = [p for p, s in status.items() if s == "attached"]
        modelled = [p for p, s in status.items() if s == "modelled"]
        miss = {p: v for p, v in plan.items() if status[p] not in ("attached", "modelled")}
        line = f"probes        {len(att)} attached, {len(miss)} not"
        if modelled:
            line += f", {len(modelled)} modelled by the simulator (no kernel probe)"
        print(line)
        for p, v in sorted(miss.items()):
            print(f"  missing     {p}: {(v or {}).get('reason', '?')}")
    print("by kind")
    for k, n in d["events_by_kind"].items():
        print(f"  {k:16} {n}")
    return 0
