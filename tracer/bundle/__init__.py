"""Bug-report bundles: one file a maintainer can receive, verify and open.

A bundle is a ZIP holding ``manifest.json`` (format, creator, a SHA-256 and size per part), the
recording (``recording.gsrec``, stored: it is already zstd-compressed), ``environment.json``
(kernel, config lines, msm parameters, GPU, attach plan, tool versions, command line),
``formats/<system>/<event>.format`` (tracepoint formats from tracefs), ``summary.md`` (the report,
ready to paste into a mail) and ``plots/*.png``.

Why ZIP and not tar, for safe reading: a ZIP ends with a central directory that lists every
member's name, sizes (compressed and uncompressed), CRC and offset, so the reader checks all names,
types, sizes and ratios before decompressing a single byte, and then reads only the members it
decided to read, each with a byte budget. A tar must be walked header by header (a hostile member
is only seen after the preceding ones were read), has no per-member compressed size to detect a
bomb (one gzip stream for the whole archive), and has symlinks, hardlinks and device files as
first-class member types. ZIP has no hardlink member type; symlinks and devices can only be
smuggled through Unix mode bits, which the reader refuses.

Readers use `open_input(path)`: it yields a recording path for either a bundle or a plain
recording, so every command that takes a recording takes a bundle.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator

from .limits import DEFAULT_LIMITS, MANIFEST_NAME, RECORDING_NAME, Limits
from .reader import BundleContents, BundleError, is_bundle, open_and_verify, read_text_part

__all__ = ["BundleContents", "BundleError", "Limits", "MANIFEST_NAME", "RECORDING_NAME",
           "is_bundle", "open_and_verify", "open_input", "read_text_part"]


@contextlib.contextmanager
def open_input(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> Iterator[str]:
    """Yield a recording path: the file itself, or a bundle's verified recording extracted into a
    private temporary folder (mode 0700) that is removed on exit.

    A bundle is fully verified first (see reader.py); any refusal is a one-line BundleError.
    """
    path = os.fspath(path)
    if not is_bundle(path):
        yield path
        return
    tmp = tempfile.mkdtemp(prefix="gemscope-bundle-")
    try:
        open_and_verify(path, tmp, limits)
        yield os.path.join(tmp, RECORDING_NAME)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
