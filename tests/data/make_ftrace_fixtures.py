"""Regenerate the committed ftrace fixtures on a host like the test rig (root, tracefs, trace-cmd):

    sudo .venv/bin/python tests/data/make_ftrace_fixtures.py

host-6.18-v7.dat     trace-cmd extract of lock:contention_*, vmscan:*, dma_fence:* and the kthread
                     work events (clock mono, zstd, trace.dat v7, one instance)
(the v6 variant is made by the tests with `trace-cmd convert --file-version 6`: 7 MB uncompressed)
host-6.18-v7.txt     `trace-cmd report -t` of the v7 file
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from ftrace_capture import capture_tracedat, report_text  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
v7 = capture_tracedat(os.path.join(here, "host-6.18-v7.dat"), seconds=0.5)
report_text(v7, os.path.join(here, "host-6.18-v7.txt"))
print("written", v7)
