"""Redaction of task names and paths, consistent across a bundle (same name -> same token).

Task names (comm, holder_comm, target_comm) become ``task-001``... in order of the sorted distinct
names; paths (anything that looks like an absolute or home-relative path) become ``<path-001>``...
The mapping is built over the whole recording first, so a name gets one token everywhere: in the
events, in the metadata and hence in the summary rendered from the redacted recording. The
mapping itself is never stored in the bundle.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from .. import schema
from ..recording import META_KEY, open_recording

TASK_COLUMNS = ("comm", "holder_comm", "target_comm")
FREE_TEXT_COLUMNS = ("payload", "reason")   # may name tasks or paths inside free text
PATH_RE = re.compile(r"(?<![\w.~-])(?:~|/)[\w.@+-]*(?:/[\w.@+-]+)+/?|(?<![\w.~-])~/?[\w.@+-]*")
# System locations name no user or project: left as they are.
SYSTEM_PREFIXES = ("/proc/", "/sys/", "/boot/", "/dev/", "/usr/", "/lib/", "/lib64/", "/etc/",
                   "/bin/", "/sbin/")
# metadata keys that name a task rather than a path
META_TASK_KEYS = ("target_comm",)


class Redactor:
    """Builds token maps, then rewrites values. One instance per bundle."""

    def __init__(self, tasks: bool, paths: bool):
        self.tasks = tasks
        self.paths = paths
        self.task_map: dict[str, str] = {}
        self.path_map: dict[str, str] = {}

    def learn_tasks(self, names) -> None:
        for n in sorted(set(names) - set(self.task_map) - {None, ""}):
            self.task_map[n] = f"task-{len(self.task_map) + 1:03d}"

    def path_token(self, match: re.Match) -> str:
        p = match.group(0)
        if p.startswith(SYSTEM_PREFIXES):
            return p
        if p not in self.path_map:
            self.path_map[p] = f"<path-{len(self.path_map) + 1:03d}>"
        return self.path_map[p]

    def text(self, value: str) -> str:
        """Redact free text (summary, command lines): task names as whole words, then paths."""
        if self.paths:
            value = PATH_RE.sub(self.path_token, value)
        if self.tasks and self.task_map:
            names = sorted(self.task_map, key=len, reverse=True)
            # a name may be followed by '-pid' (ftrace text: "glmark2-5"), not by a word char
            pattern = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, names)) + r")(?!\w)")
            value = pattern.sub(lambda m: self.task_map[m.group(0)], value)
        return value

    def json_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return PATH_RE.sub(self.path_token, value) if self.paths else value
        if isinstance(value, list):
            return [self.json_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json_value(v) for k, v in value.items()}
        return value

    def meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        out = self.json_value(meta)
        if self.paths:
            out["hostname"] = "<host>" if out.get("hostname") else out.get("hostname")
        out["redacted"] = {"task_names": self.tasks, "paths": self.paths}
        return out

    def column(self, name: str, arr: pa.Array) -> pa.Array:
        if self.tasks and name in TASK_COLUMNS:
            return _map_strings(arr, self.task_map)
        if (self.paths or self.tasks) and name in FREE_TEXT_COLUMNS:
            uniq = [u for u in pc.unique(arr).to_pylist() if u is not None]
            return _map_strings(arr, {u: self.text(u) for u in uniq})
        return arr


def _map_strings(arr: pa.Array, mapping: dict[str, str]) -> pa.Array:
    """Vectorized: dictionary-encode, replace the dictionary, decode."""
    if arr.null_count == len(arr):
        return arr
    enc = pc.dictionary_encode(arr)
    dictionary = [mapping.get(v, v) for v in enc.dictionary.to_pylist()]
    return pc.take(pa.array(dictionary, type=pa.string()), enc.indices)


def redact_recording(src: str, dst: str, redactor: Redactor) -> dict[str, Any]:
    """Write a redacted copy of recording src to dst (same schema, zstd); returns its metadata."""
    names: set[str] = set()
    with open_recording(src) as rec:      # first pass: every task name, and the file's health
        for b in rec.iter_batches():
            for c in TASK_COLUMNS if redactor.tasks else ():
                idx = b.schema.get_field_index(c)
                if idx >= 0:
                    names.update(pc.unique(b.column(idx)).to_pylist())
        truncated = rec.truncation_error if rec.truncated else None
    redactor.learn_tasks(names)   # tokens follow the sorted names of the whole recording
    with open_recording(src) as rec:
        meta = redactor.meta(rec.meta)
        if truncated:   # the copy is complete in itself: keep the original's damage on record
            meta["truncated_before_redaction"] = truncated
        for key in META_TASK_KEYS:
            if redactor.tasks and isinstance(meta.get(key), str):
                meta[key] = redactor.task_map.get(meta[key], meta[key])
        if redactor.tasks and isinstance(meta.get("command"), str):
            meta["command"] = redactor.text(meta["command"])
        sch = schema.arrow_schema({META_KEY: json.dumps(meta, sort_keys=True).encode()})
        with open(dst, "wb") as f, ipc.new_stream(
                f, sch, options=ipc.IpcWriteOptions(compression="zstd")) as writer:
            for b in rec.iter_batches():
                cols = []
                for field in sch:
                    idx = b.schema.get_field_index(field.name)
                    arr = b.column(idx) if idx >= 0 else pa.nulls(b.num_rows, field.type)
                    cols.append(redactor.column(field.name, arr))
                writer.write_batch(pa.RecordBatch.from_arrays(cols, schema=sch))
        return meta
