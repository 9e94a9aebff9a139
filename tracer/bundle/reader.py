"""Reading an untrusted bundle: every check runs on the central directory first, then each part is
streamed with a byte budget and hashed. Nothing is executed, nothing is written outside the
destination folder the caller made (a private temporary folder), `extractall` is never used.

Each refusal is a BundleError whose text names the check that failed, in one line.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

from ..errors import RecordingError
from .limits import (DEFAULT_LIMITS, FORMAT, FORMAT_VERSION, MANIFEST_NAME, PART_NAME,
                     LARGE_PARTS, RECORDING_NAME, Limits, human_bytes)

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_CHUNK = 1 << 20
_HEX = set("0123456789abcdef")


class BundleError(RecordingError):
    """A bundle was refused; the message starts with the name of the check that failed."""


@dataclass
class BundleContents:
    """A bundle that passed every check (manifest and each part's verified digest)."""
    path: str
    manifest: dict[str, Any]
    parts: dict[str, zipfile.ZipInfo] = field(default_factory=dict)


def is_bundle(path: str | os.PathLike) -> bool:
    """True when the file starts like a ZIP (a bundle); a recording starts like Arrow IPC."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in ZIP_MAGIC
    except OSError:
        return False


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:160]


def _refuse(check: str, path: str, detail: str) -> BundleError:
    return BundleError(f"{path}: bundle refused by the {check} check: {detail}")


def _check_file(path: str, limits: Limits) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except OSError as e:
        raise BundleError(f"{path}: cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse("file type", path, "not a regular file")
    if st.st_size > limits.max_bundle_bytes:
        raise _refuse("bundle size", path, f"{human_bytes(st.st_size)} is over the "
                      f"{human_bytes(limits.max_bundle_bytes)} limit")


_TYPE_NAMES = {stat.S_IFLNK: "a symlink", stat.S_IFCHR: "a character device",
               stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
               stat.S_IFDIR: "a directory"}


def _check_member(path: str, info: zipfile.ZipInfo, limits: Limits) -> None:
    name = info.filename
    if info.orig_filename != name or "\\" in info.orig_filename or "\x00" in info.orig_filename:
        raise _refuse("path", path, f"member name {info.orig_filename!r} contains a backslash or "
                                    "NUL byte")
    if name.startswith("/") or ".." in name.split("/"):
        raise _refuse("path", path, f"member {name!r} is an absolute path or climbs out with '..'")
    if not PART_NAME.fullmatch(name):
        raise _refuse("path", path, f"member name {name!r} is not a plain relative part name")
    mode = info.external_attr >> 16
    ftype = stat.S_IFMT(mode)
    if ftype and ftype != stat.S_IFREG:   # Unix mode bits, whatever system claims to have made it
        kind = _TYPE_NAMES.get(ftype, f"file type {oct(ftype)}")
        raise _refuse("member type", path, f"member {name!r} is {kind}, not a regular file")
    if info.is_dir() or info.external_attr & 0x10:
        raise _refuse("member type", path, f"member {name!r} is a directory")
    if info.flag_bits & 0x1:
        raise _refuse("encryption", path, f"member {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _refuse("compression", path, f"member {name!r} uses compression method "
                                           f"{info.compress_type} (only stored/deflate)")
    limit = limits.max_recording_bytes if name in LARGE_PARTS else (
        limits.max_manifest_bytes if name == MANIFEST_NAME else limits.max_part_bytes)
    if info.file_size > limit:
        raise _refuse("part size", path, f"part {name} declares {human_bytes(info.file_size)} "
                                         f"uncompressed (limit {human_bytes(limit)})")
    if info.file_size > limits.ratio_floor_bytes and \
            info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        raise _refuse("compression ratio", path, f"part {name} inflates {ratio:.0f}x "
                      f"(limit {limits.max_ratio:.0f}x): a decompression bomb")


def _check_directory(path: str, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_parts:
        raise _refuse("part count", path, f"{len(infos)} members (limit {limits.max_parts})")
    for info in infos:
        _check_member(path, info, limits)
    dups = [n for n, c in Counter(i.filename for i in infos).items() if c > 1]
    if dups:
        raise _refuse("duplicate name", path, f"member {dups[0]!r} appears more than once")
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise _refuse("total size", path, f"parts declare {human_bytes(total)} uncompressed "
                                          f"(limit {human_bytes(limits.max_total_bytes)})")
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for a, b in zip(ordered, ordered[1:]):
        if a.header_offset + 30 + len(a.orig_filename.encode()) + a.compress_size > b.header_offset:
            raise _refuse("overlap", path, f"parts {a.filename} and {b.filename} overlap in the "
                                           "file (a crafted bomb)")


def stream_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, sink: Callable[[bytes], Any],
                budget: int, path: str) -> str:
    """Decompress one part chunk by chunk into sink, never beyond budget; returns its sha256."""
    digest = hashlib.sha256()
    done = 0
    try:
        with zf.open(info) as member:
            while True:
                chunk = member.read(_CHUNK)
                if not chunk:
                    break
                done += len(chunk)
                if done > budget or done > info.file_size:
                    raise _refuse("part size", path, f"part {info.filename} inflates beyond "
                                  f"its declared {human_bytes(info.file_size)}")
                digest.update(chunk)
                sink(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise BundleError(f"{path}: part {info.filename} is damaged: {_first_line(e)}") from None
    if done != info.file_size:
        raise BundleError(f"{path}: part {info.filename} is damaged: {done} bytes instead of "
                          f"{info.file_size}")
    return digest.hexdigest()


def _read_manifest(zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], path: str,
                   limits: Limits) -> dict[str, Any]:
    info = infos.get(MANIFEST_NAME)
    if info is None:
        raise _refuse("manifest", path, f"no {MANIFEST_NAME} (not a gemscope bundle)")
    buf = bytearray()
    stream_part(zf, info, buf.extend, limits.max_manifest_bytes, path)
    try:
        manifest = json.loads(bytes(buf).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _refuse("manifest", path, f"{MANIFEST_NAME} is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _refuse("manifest", path, f"{MANIFEST_NAME} does not describe a {FORMAT}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1 or version > FORMAT_VERSION:
        raise _refuse("manifest", path, f"format_version {version!r} is not one this gemscope "
                                        f"reads (1..{FORMAT_VERSION})")
    parts = manifest.get("parts")
    if not isinstance(parts, dict) or RECORDING_NAME not in parts:
        raise _refuse("manifest", path, f"the parts list does not include {RECORDING_NAME}")
    for name, entry in parts.items():
        ok = (isinstance(name, str) and PART_NAME.fullmatch(name) and isinstance(entry, dict)
              and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64
              and set(entry["sha256"]) <= _HEX and type(entry.get("size_bytes")) is int)
        if not ok or name == MANIFEST_NAME:
            raise _refuse("manifest", path, f"entry {str(name)[:80]!r} is malformed")
    return manifest


def _check_parts_match(path: str, manifest: dict, infos: dict[str, zipfile.ZipInfo]) -> None:
    listed = set(manifest["parts"])
    present = set(infos) - {MANIFEST_NAME}
    for name in sorted(listed - present):
        raise _refuse("parts", path, f"part {name} listed in the manifest is missing")
    for name in sorted(present - listed):
        raise _refuse("parts", path, f"part {name} is not listed in the manifest (extra part)")
    for name in sorted(listed):
        want = manifest["parts"][name]["size_bytes"]
        if infos[name].file_size != want:
            raise BundleError(f"{path}: part {name} is damaged: {infos[name].file_size} bytes, "
                              f"the manifest says {want}")


def open_and_verify(path: str | os.PathLike, dest_dir: str | None = None,
                    limits: Limits = DEFAULT_LIMITS,
                    keep: Callable[[str], bool] = lambda name: name == RECORDING_NAME,
                    ) -> BundleContents:
    """Check a bundle completely; parts for which keep(name) is true are written into dest_dir.

    Every part is streamed and its sha256 compared with the manifest, so a damaged bundle is
    refused even when only the recording is wanted.
    """
    path = os.fspath(path)
    _check_file(path, limits)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise _refuse("zip structure", path, f"truncated or not a ZIP ({e})") from None
    except (OSError, ValueError, EOFError, struct.error, NotImplementedError, OverflowError,
            IndexError) as e:   # ValueError includes a member name that is not UTF-8
        raise _refuse("zip structure", path,
                      f"unreadable central directory ({_first_line(e)})") from None
    with zf:
        infos_list = zf.infolist()
        _check_directory(path, infos_list, limits)
        infos = {i.filename: i for i in infos_list}
        manifest = _read_manifest(zf, infos, path, limits)
        _check_parts_match(path, manifest, infos)
        if dest_dir is not None:
            _check_space(path, dest_dir, sum(infos[n].file_size for n in manifest["parts"]
                                              if keep(n)))
        for name in sorted(manifest["parts"]):
            info = infos[name]
            budget = limits.max_recording_bytes if name in LARGE_PARTS else limits.max_part_bytes
            out: BinaryIO | None = None
            if dest_dir is not None and keep(name):
                out = _create_private(dest_dir, name)
            try:
                digest = stream_part(zf, info, out.write if out else (lambda b: None), budget, path)
            finally:
                if out is not None:
                    out.close()
            if digest != manifest["parts"][name]["sha256"]:
                raise BundleError(f"{path}: part {name} is damaged: sha256 mismatch")
        return BundleContents(path, manifest, {n: infos[n] for n in manifest["parts"]})


def _check_space(path: str, dest_dir: str, needed: int) -> None:
    import shutil
    free = shutil.disk_usage(dest_dir).free
    if needed > free:
        raise BundleError(f"{path}: not enough space to extract the recording: "
                          f"{human_bytes(needed)} needed, {human_bytes(free)} free in {dest_dir} "
                          "(set TMPDIR to a larger file system)")


def _create_private(dest_dir: str, name: str) -> BinaryIO:
    """Create dest_dir/name (name already validated) without following any symlink."""
    target = os.path.join(dest_dir, *name.split("/"))
    if os.path.commonpath([os.path.realpath(dest_dir), os.path.realpath(target)]) != \
            os.path.realpath(dest_dir):
        raise BundleError(f"part {name} would be written outside the extraction folder")
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb")


def read_text_part(path: str | os.PathLike, name: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """A verified bundle's text part (summary.md, environment.json...), read into memory."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="gemscope-bundle-") as tmp:
        contents = open_and_verify(path, tmp, limits, keep=lambda n: n == name)
        if name not in contents.parts:
            raise BundleError(f"{os.fspath(path)}: the bundle has no part {name}")
        with open(os.path.join(tmp, *name.split("/")), "rb") as f:
            return f.read().decode("utf-8", errors="replace")
