"""Replay a recording as a Source: a daemon thread reads its batches into an EventBuffer.

The reader fills the buffer batch by batch, so a consumer can show a first frame while a large
file is still loading. The file is opened in the constructor, so a missing or foreign file fails
at once with one `RecordingError` line; damage found while reading (a file cut short, an I/O
error) becomes a notice and the source keeps every complete batch it read before it.

Replay pacing (play, pause, speed) is the consumer's business: the whole time range is known, so
it moves a time cursor over the loaded data (`capabilities.can_seek`).
"""
from __future__ import annotations

import os
import threading
from typing import Any

from ..frames import Frames
from ..recording import open_recording
from .base import Capabilities
from .incremental import IncrementalEventBuffer


READER_NICE_STEP = 5     # the reader thread's niceness above the process's


class RecordingSource:
    """A Source over a `*.gsrec` file (not live; seekable; pausable)."""

    capabilities = Capabilities(is_live=False, can_pause=True, can_seek=True)

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._recording = open_recording(self.path)      # RecordingError: one line, at once
        self.meta: dict[str, Any] = dict(self._recording.meta)
        self.buffer = IncrementalEventBuffer(self.meta)
        self._notices: list[str] = []
        self._notices_lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._read, name="gemscope-recording-reader",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self) -> Frames:
        return self.buffer.snapshot()

    def notices(self) -> list[str]:
        with self._notices_lock:
            return list(self._notices)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def events_loaded(self) -> int:
        return self.buffer.events

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the whole file has been read (tests, benchmarks); True when done."""
        return self._done.wait(timeout)

    def _notice(self, text: str) -> None:
        with self._notices_lock:
            self._notices.append(text)

    def _read(self) -> None:
        rec = self._recording
        try:
            # Linux nices threads one by one: reading a big file must not starve the consumer
            # (the TUI's snapshot worker and UI thread) of the CPU
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid,
                           min(19, os.getpriority(os.PRIO_PROCESS, tid) + READER_NICE_STEP))
        except (OSError, AttributeError):
            pass
        try:
            for batch in rec.iter_batches():
                if self._stop.is_set():
                    return
                self.buffer.append(batch)
            if rec.truncated:
                self.buffer.truncated = True
                self._notice(f"{self.name} is truncated ({rec.truncation_error}); showing the "
                             f"{self.buffer.events} events of every complete batch before it")
            elif not rec.closed_cleanly:
                self._notice(f"{self.name} was not closed cleanly (recorder killed?); every "
                             "complete batch was read")
        except Exception as e:  # noqa: BLE001 - any read failure is a notice, never a crash
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            self._notice(f"reading {self.name} stopped after {self.buffer.events} events: {first}")
        finally:
            self._done.set()
