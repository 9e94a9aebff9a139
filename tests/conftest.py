"""Puts the repository root on sys.path so tests import `tracer`, `tui`, `probes` and
`tests.support` (where the shared helpers live) from the working tree."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ROOT, SAMPLES, require  # noqa: E402,F401  (old import path)
