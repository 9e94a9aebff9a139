"""Recording metadata: what a maintainer needs to trust a trace (where, when, how it was made)."""
from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import Any

from . import __version__, schema


def clock_info() -> dict[str, Any]:
    """The one clock: CLOCK_MONOTONIC ns, with the offset that turns it into wall-clock time."""
    mono = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    real = time.clock_gettime_ns(time.CLOCK_REALTIME)
    return {"clock": "CLOCK_MONOTONIC", "realtime_offset_ns": real - mono}


def msm_driver() -> str | None:
    """'msm' when the msm module is loaded or built in, else None."""
    return "msm" if os.path.isdir("/sys/module/msm") else None


def host_meta(source: str, **extra: Any) -> dict[str, Any]:
    u = os.uname()
    meta: dict[str, Any] = {
        "schema_version": schema.SCHEMA_VERSION,
        "tool": "gemscope",
        "tool_version": __version__,
        "python": platform.python_version(),
        "kernel_release": u.release,
        "kernel_version": u.version,
        "machine": u.machine,
        "hostname": socket.gethostname(),
        "driver": msm_driver(),
        "source": source,
        "command": " ".join(sys.argv),
        "started_at_unix_ns": time.time_ns(),
        "synthetic": False,
    }
    meta.update(clock_info())
    meta.update(extra)
    return meta
