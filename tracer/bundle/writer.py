"""Making a bundle: recording (optionally redacted) + environment + tracepoint formats + summary
(the report in Markdown) + plots, with a manifest holding a SHA-256 and size per part."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile
from typing import Any

from .. import __version__
from ..errors import GemscopeError
from . import environment, plots
from .limits import FORMAT, FORMAT_VERSION, MANIFEST_NAME, PERFETTO_NAME, RECORDING_NAME
from .redact import Redactor, redact_recording

ENVIRONMENT_NAME = "environment.json"
SUMMARY_NAME = "summary.md"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)   # reproducible member timestamps


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _member(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.compress_type = compress
    info.create_system = 3
    info.external_attr = (0o100644 & 0xFFFF) << 16
    return info


def _summary_markdown(report: dict, env: dict, formats: dict, plot_names: list[str],
                      perfetto: bool = False) -> str:
    from ..render import render
    rec, plan = env["recorded_on"], env["attach_plan"]
    lines = ["# gemscope bug-report bundle", ""]
    gpu = "; ".join(f"{v}" for v in env["gpu_names"].values()) or "not readable (debugfs)"
    msm = env["msm_parameters"]
    params = ", ".join(f"{k}={v}" for k, v in (msm.get("parameters") or {}).items()) \
        if msm.get("present") else "msm module not loaded on the bundling machine"
    lines += [f"- recorded on: kernel {rec.get('kernel_release')} ({rec.get('machine')}), "
              f"source {rec.get('source')}",
              f"- bundled on: kernel {env['bundled_on']['kernel_release']}"
              + ("" if env["same_machine"] else " (NOT the recording machine: the kernel config, "
                 "msm parameters and formats below describe the bundling machine)"),
              f"- GPU: {gpu}", f"- msm parameters: {params}",
              f"- probes not attached: {len(plan['missing'])}" + _missing_lines(plan["missing"]),
              f"- tracepoint formats included: {len(formats['formats'])}"
              + (f" ({len(formats['unreadable'])} unreadable)" if formats["unreadable"] else ""),
              f"- gemscope {env['tool_versions']['gemscope']}, python "
              f"{env['tool_versions']['python']}"]
    if perfetto:
        lines.append(f"- timeline: {PERFETTO_NAME} (open it in https://ui.perfetto.dev)")
    lines.append("")
    lines += [f"![{os.path.basename(n)}]({n})" for n in plot_names] + [""]
    body = render(report, markdown=True)
    return "\n".join(lines) + "\n" + body


def _missing_lines(missing: dict[str, Any]) -> str:
    """One line per reason (a synthetic recording has one reason for every probe)."""
    by_reason: dict[str, list[str]] = {}
    for probe, reason in sorted(missing.items()):
        by_reason.setdefault(str(reason), []).append(probe)
    lines = []
    for reason, probes in by_reason.items():
        shown = ", ".join(probes[:6]) + (f" and {len(probes) - 6} more" if len(probes) > 6 else "")
        lines.append(f"\n  - {shown}: {reason}" if len(probes) > 1 else
                     f"\n  - {probes[0]}: {reason}")
    return "".join(lines)


def _report(recording: str):
    """(report dict as `gemscope report --format json` prints it, results, frames)."""
    from ..analyses import run_all
    from ..frames import load_frames
    from ..recording import open_recording
    from ..render import health_dict, report_dict
    with open_recording(recording) as rec:
        frames = load_frames(rec)
        closed = rec.closed_cleanly
    results = run_all(frames)
    report = report_dict(frames, results, health=health_dict(frames, closed_cleanly=closed),
                         window=None)
    return json.loads(json.dumps(report, allow_nan=False)), results, frames


def create_bundle(recording: str, out: str, *, redact_comm: bool = False,
                  redact_paths: bool = False, with_perfetto: bool = False) -> dict[str, Any]:
    """Write the bundle `out` for `recording`; returns the manifest. Atomic (temp + rename)."""
    from ..recording import open_recording
    with open_recording(recording) as rec:      # a clear error when it is not a recording
        source_meta = rec.meta
    redactor = Redactor(redact_comm, redact_paths)
    with tempfile.TemporaryDirectory(prefix="gemscope-bundle-make-") as tmp:
        rec_path = recording
        if redact_comm or redact_paths:
            rec_path = os.path.join(tmp, RECORDING_NAME)
            source_meta = redact_recording(recording, rec_path, redactor)
        report, results, frames = _report(rec_path)
        recorded = [k for k in _all_kinds() if frames.recorded(k)]
        env = redactor.json_value(environment.collect(source_meta, recorded))
        env["command_line"] = [redactor.text(a) for a in sys.argv]
        if redact_paths:
            env["bundled_on"]["hostname"] = "<host>"
        formats = environment.tracepoint_formats(recorded, (source_meta.get("probe_plan") or {}))
        parts: dict[str, bytes] = {
            plots.FREE_HIST_NAME: plots.free_duration_histogram(frames),
            plots.RETIRE_SPLIT_NAME: plots.retire_run_split(results),
        }
        for tp, text in formats["formats"].items():
            parts[f"formats/{tp}.format"] = text.encode()
        env_formats = {"root": formats["root"], "unreadable": formats["unreadable"]}
        parts[ENVIRONMENT_NAME] = json.dumps({**env, "tracepoint_formats": env_formats},
                                             indent=2, sort_keys=True, default=str).encode()
        summary = _summary_markdown(report, env, formats, [plots.FREE_HIST_NAME,
                                                           plots.RETIRE_SPLIT_NAME],
                                    perfetto=with_perfetto)
        if redact_comm or redact_paths:
            summary = redactor.text(summary)
        parts[SUMMARY_NAME] = summary.encode()
        files = {RECORDING_NAME: rec_path}
        if with_perfetto:       # made from the (redacted) frames: same names as the recording
            from ..export.perfetto import export_perfetto
            files[PERFETTO_NAME] = os.path.join(tmp, PERFETTO_NAME)
            export_perfetto(frames, files[PERFETTO_NAME])
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_by": f"gemscope {__version__}", "created_at_unix_ns": time.time_ns(),
            "redacted": {"task_names": redact_comm, "paths": redact_paths},
            "synthetic": bool(source_meta.get("synthetic")),
            "events": report["health"]["events"],
            "parts": {name: {"sha256": _sha256_file(p), "size_bytes": os.path.getsize(p),
                             "role": "recording" if name == RECORDING_NAME else "perfetto"}
                      for name, p in files.items()},
        }
        for name, data in parts.items():
            manifest["parts"][name] = {"sha256": hashlib.sha256(data).hexdigest(),
                                       "size_bytes": len(data),
                                       "role": name.split("/")[0].removesuffix(".json")
                                       .removesuffix(".md")}
        _write_zip(out, files, parts, manifest)
    return manifest


def _all_kinds() -> list[str]:
    from ..schema import KINDS
    return list(KINDS)


def _write_zip(out: str, files: dict[str, str], parts: dict[str, bytes], manifest: dict) -> None:
    out_dir = os.path.dirname(os.path.abspath(out))
    try:
        fd, tmp_out = tempfile.mkstemp(prefix=".gemscope-bundle-", suffix=".tmp", dir=out_dir)
    except OSError as e:
        raise GemscopeError(f"{out}: cannot write the bundle ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", allowZip64=True) as zf:
            zf.writestr(_member(MANIFEST_NAME, zipfile.ZIP_DEFLATED),
                        json.dumps(manifest, indent=2, sort_keys=True).encode())
            # large parts are streamed from disk; the recording is already zstd: stored
            for name, path in files.items():
                method = zipfile.ZIP_STORED if name == RECORDING_NAME else zipfile.ZIP_DEFLATED
                with open(path, "rb") as src, \
                        zf.open(_member(name, method), "w", force_zip64=True) as dst:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        dst.write(chunk)
            for name, data in parts.items():
                compress = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
                zf.writestr(_member(name, compress), data)
        os.chmod(tmp_out, 0o644)
        os.replace(tmp_out, out)
    except OSError as e:
        raise GemscopeError(f"{out}: cannot write the bundle ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp_out):
            os.unlink(tmp_out)
