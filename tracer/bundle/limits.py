"""What a bundle may look like: names, part sizes and compression ratios a reader accepts.

A bundle is a ZIP file (see tracer/bundle/__init__.py for why not tar). Every limit here is checked
against the central directory BEFORE any byte is decompressed, and again while streaming (a member
that inflates beyond what it declared is refused even if its header lied).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FORMAT = "gemscope-bundle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
RECORDING_NAME = "recording.gsrec"
PERFETTO_NAME = "trace.pftrace"          # optional: the Perfetto export of the recording
LARGE_PARTS = (RECORDING_NAME, PERFETTO_NAME)   # may be as large as a recording

# One path segment: starts with a letter/digit, then letters, digits, '.', '_', '-'. No '..' can
# be formed (a segment cannot start with '.'), no absolute path, no backslash, no drive letter.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
PART_NAME = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,2}}")


@dataclass(frozen=True)
class Limits:
    """Ceilings a bundle must stay under; tests may lower them, the CLI uses the defaults."""
    max_bundle_bytes: int = 8 << 30          # the .zip file itself
    max_parts: int = 256                     # members in the central directory
    max_recording_bytes: int = 16 << 30      # the recording, uncompressed
    max_part_bytes: int = 64 << 20           # any other part, uncompressed
    max_total_bytes: int = 17 << 30          # all parts together, uncompressed
    max_manifest_bytes: int = 1 << 20
    max_ratio: float = 200.0                 # uncompressed / compressed for one part
    ratio_floor_bytes: int = 1 << 20         # parts smaller than this may compress better


DEFAULT_LIMITS = Limits()


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
