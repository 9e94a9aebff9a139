"""Helpers for the TUI tests: waiting for the app to settle, running async tests.

(Imported as `tests.tui.helpers`, never from a conftest: see tests/support.py.)
"""
from __future__ import annotations


def _settled(app) -> int | None:
    snap = app.snapshot
    if snap is not None and app.source.done and not snap.health.loading \
            and snap.request == app.current_request() and not app._computing \
            and not app.finding_worst \
            and app.active_view.shown_seq == snap.seq:
        return snap.seq
    return None


async def settle(app, pilot, timeout_s: float = 30.0) -> None:
    """Wait until the source is read, the shown snapshot answers the current request, and it
    stayed so for 0.15 s (tables lay themselves out when the app is idle), and until running
    animations ended (the tabs' underline slides to the new tab: on a loaded machine a
    screenshot taken 0.15 s after a switch caught it halfway, 1 run in 12)."""
    for _ in range(int(timeout_s / 0.02)):
        seq = _settled(app)
        if seq is not None:
            for _ in range(3):
                await pilot.pause(0.05)
            await pilot.wait_for_scheduled_animations()
            if _settled(app) == seq:
                return
        await pilot.pause(0.02)
    raise AssertionError("the app did not settle")


async def until(pilot, cond, steps: int = 600) -> None:
    """Wait (0.02 s a step, at most `steps`) until cond() holds."""
    for _ in range(steps):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met")


def gated(gate):
    """The real analyses; contention waits for `gate` (a threading.Event) once it is cleared."""
    from tracer.analyses import ALL
    from tracer.analyses.base import Analysis
    out = []
    for a in ALL:
        if a.name == "contention":
            def slow(frames, func=a.func):
                gate.wait(30)
                return func(frames)
            a = Analysis(a.name, a.title, a.needs, slow, a.optional)
        out.append(a)
    return out


def asynctest(func):
    """Run an async test function with asyncio.run (no pytest async plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return asyncio.run(func(*args, **kwargs))
    return wrapper
