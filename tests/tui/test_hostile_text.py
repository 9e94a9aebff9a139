"""Text from a trace is shown as text, never as Rich markup: any process can name itself "[/]"
(prctl PR_SET_NAME), and a recording's metadata is whatever its writer put there. Before, such a
task name raised MarkupError while a table rendered and ended `gemscope replay`."""
from __future__ import annotations

from tests.tui.helpers import asynctest, settle
from tracer.recording import RecordingWriter
from tracer.sources.recording_source import RecordingSource
from tui.app import GemscopeApp
from tui.widgets.cell_table import CellTable

NAMES = ["[/]", "[link=https://example.invalid]x[/link]", "[b]bold"]
LOCK = 0xffff888000100000


def _recording(path) -> str:
    rows_lock, rows_cont, rows_free = [], [], []
    for i, name in enumerate(NAMES):
        t = 1_000_000 * (i + 1)
        rows_lock.append({"ts_ns": t, "cpu": 0, "pid": 10 + i, "tid": 10 + i, "comm": name,
                          "lock_addr": LOCK, "duration_ns": 50_000, "ret": 0, "is_resv": True,
                          "caller": f"{name}+0x1", "holder_comm": name, "holder_tid": 99,
                          "context": "ioctl", "in_reclaim": False, "api": "ww_mutex_lock"})
        rows_cont.append({"ts_ns": t + 10, "cpu": 0, "pid": 10 + i, "tid": 10 + i, "comm": name,
                          "lock_addr": LOCK, "duration_ns": 40_000, "ret": 0, "flags": 0})
        rows_free.append({"ts_ns": t + 100_000, "cpu": 0, "pid": 10 + i, "tid": 10 + i,
                          "comm": name, "obj_addr": 0x1000 * (i + 1), "size_bytes": 4096,
                          "duration_ns": 7_000, "context": "retire_worker", "in_reclaim": False})
    meta = {"source": "[/]hostile", "scenario": "[/]", "recorded_kinds":
            ["resv_lock", "lock_contention", "free"]}
    with RecordingWriter(path, meta) as w:
        w.append_rows("resv_lock", rows_lock)
        w.append_rows("lock_contention", rows_cont)
        w.append_rows("free", rows_free)
    return str(path)


@asynctest
async def test_task_names_with_markup_are_shown_verbatim(tmp_path):
    app = GemscopeApp(RecordingSource(_recording(tmp_path / "[b]hostile.gsrec")),
                      first_view="contention")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        cells = set()
        for table in app.query(CellTable):
            for row in range(table.row_count):
                cells.update(table.row_at(row))
        assert any("[/]" in c for c in cells), cells        # waits_by_task names it as it is
        assert any("[/]" in table.line_text(row) for table in app.query(CellTable)
                   for row in range(table.row_count))       # and draws it so
        for key in "4712":                                  # every view with trace text
            await pilot.press(key)
            await settle(app, pilot)
        assert app.is_running
        from rich.text import Text
        shown = Text.from_markup(app.status_bar.text).plain   # what the status line displays
        assert "replay [b]hostile.gsrec" in shown
