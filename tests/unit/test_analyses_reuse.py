"""reuse: an analysis of a window that cuts the whole data's joins gives exactly the result of the
same analysis run on the window's rows alone (every number, table, dtype, order and note)."""
from __future__ import annotations

import pytest
from reuse_fixture import assert_same, frames_of, windows
from reuse_fixture import rows as fixture_rows

from tracer.analyses import ALL, BY_NAME, reuse
from tracer.analyses.reuse import WholeData
from tracer.frames import frames_from_rows

REUSING = [a for a in ALL if a.reuses]


@pytest.fixture(autouse=True)
def always_worth_it(monkeypatch):
    monkeypatch.setattr(reuse, "WORTH_WHOLE", 0.0)      # every window takes the reuse path


def test_the_analyses_that_reuse_joins():
    assert {a.name for a in REUSING} >= {"contention", "retire"}


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("name", [a.name for a in REUSING])
def test_every_window_equals_its_own_analysis(seed, name):
    whole = frames_of(seed)
    data = WholeData(whole)
    analysis = BY_NAME[name]
    analysis(whole, data.window((None, None)))        # the whole trace first, as the TUI does
    for bounds in windows(seed):
        win = whole.window(*bounds)
        assert_same(analysis(win, data.window(bounds)), analysis(win))


@pytest.mark.parametrize("name", [a.name for a in REUSING])
def test_a_window_first_computes_the_whole_data_joins(name):
    whole = frames_of(11)
    for bounds in windows(11):
        win = whole.window(*bounds)
        data = WholeData(whole)                        # nothing known yet
        assert_same(BY_NAME[name](win, data.window(bounds)), BY_NAME[name](win))


@pytest.mark.parametrize("name", [a.name for a in REUSING])
def test_kinds_not_in_the_recorded_list(name):
    """Without recorded_kinds a kind counts as recorded only where it has rows: a window
    without contentions judges waits by duration while the whole data pairs them."""
    whole = frames_of(3, recorded=[])
    whole.meta.pop("recorded_kinds")
    data = WholeData(whole)
    BY_NAME[name](whole, data.window((None, None)))
    for bounds in windows(3) + [(19_950, None), (0, 150)]:
        win = whole.window(*bounds)
        assert_same(BY_NAME[name](win, data.window(bounds)), BY_NAME[name](win))


def test_small_windows_join_their_own_rows(monkeypatch):
    monkeypatch.setattr(reuse, "WORTH_WHOLE", 0.5)
    whole = frames_of(2)
    data = WholeData(whole)
    BY_NAME["contention"](whole.window(0, 1000), data.window((0, 1000)))
    assert not data.known("contention.pairs")
    BY_NAME["contention"](whole.window(0, 15_000), data.window((0, 15_000)))
    assert data.known("contention.pairs")


def test_unsorted_frames_are_not_reused():
    whole = frames_of(1)
    whole.time_sorted = False
    assert WholeData(whole).window((0, 100)) is None


def test_growing_data_joins_a_window_alone_unless_the_whole_is_known(monkeypatch):
    monkeypatch.setattr(reuse, "WORTH_WHOLE", 0.5)
    whole = frames_of(2)
    data = WholeData(whole)
    win = whole.window(0, 15_000)
    assert_same(BY_NAME["contention"](win, data.window((0, 15_000), eager=False)),
                BY_NAME["contention"](win))
    assert not data.known("contention.pairs")
    BY_NAME["contention"](whole, data.window((None, None), eager=False))
    assert data.known("contention.pairs")          # the whole data itself: its own joins
    assert_same(BY_NAME["contention"](win, data.window((0, 15_000), eager=False)),
                BY_NAME["contention"](win))


@pytest.mark.parametrize("seed", range(8))
def test_a_snapshot_adding_later_events_extends_the_joins_of_the_one_before(seed):
    """A live source or a loading recording: the previous snapshot is this one up to its last
    event; the joins kept from it plus the new events' give exactly the joins of all events."""
    from tracer.analyses.retire import _joins
    whole = frames_of(seed)
    for end in (1, 5_000, 10_050, 19_900, 30_000):
        before = whole.window(None, end)
        old = WholeData(before)
        for a in REUSING:
            a(before, old.window((None, None)))
        data = WholeData(whole, previous=old)
        assert data.kept_rows("resv_lock") == before.count("resv_lock")
        for a in REUSING:
            assert_same(a(whole, data.window((None, None))), a(whole))
        want = _joins(whole)
        got = data.result("retire.joins", None)
        assert set(got) == set(want)
        for key in want:
            assert (got[key] == want[key]).all(), key


@pytest.mark.parametrize("seed", range(1, 8))
def test_a_late_event_keeps_the_rows_before_it(seed):
    """Events can arrive late (per-CPU buffers): the previous snapshot lacks one at time t;
    the rows before t are kept, the others joined again."""
    from tracer.analyses.retire import _joins
    whole = frames_of(seed)
    rows = fixture_rows(seed)
    late = sorted(rows["free"], key=lambda r: r["ts_ns"])[len(rows["free"]) // 2]
    rows["free"] = [r for r in rows["free"] if r is not late]
    before = frames_from_rows(rows, whole.meta).window(None, 15_000)
    old = WholeData(before)
    for a in REUSING:
        a(before, old.window((None, None)))
    data = WholeData(whole, previous=old)
    free_ts = whole["free"]["ts_ns"].to_numpy()
    assert data.kept_rows("free") == (free_ts < late["ts_ns"]).sum()
    for a in REUSING:
        assert_same(a(whole, data.window((None, None))), a(whole))
    want, got = _joins(whole), data.result("retire.joins", None)
    for key in want:
        assert (got[key] == want[key]).all(), key
