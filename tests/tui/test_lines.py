"""tui/widgets/lines.py: a released line is freed by reference counting, not the collector."""
from __future__ import annotations

import gc

from rich.segment import Segment
from textual.strip import Strip

from tui.widgets.lines import MEMO_SLOTS, release


def strips_alive() -> int:
    return sum(type(o) is Strip for o in gc.get_objects())


def drawn_line() -> tuple[Strip, Strip]:
    """A line as the compositor leaves it: divided without a cut (it caches [itself]),
    cropped and extended to its own width (itself), and a cropped part divided too."""
    line = Strip([Segment("hello world", None)], 11)
    assert line.divide([11]) == [line] and line.crop_extend(0, 11, None) is line
    part = line.crop(0, 5)
    assert part.divide([5]) == [part]
    return line, part


def test_memo_slots_are_the_strip_caches():
    assert MEMO_SLOTS == ("_divide_cache", "_crop_cache", "_style_cache", "_filter_cache",
                          "_line_length_cache", "_crop_extend_cache", "_offsets_cache")


def test_a_drawn_line_outlives_its_last_reference_unless_released():
    gc.collect()
    gc.disable()
    try:
        before = strips_alive()
        line, part = drawn_line()
        assert strips_alive() == before + 2
        del line, part
        assert strips_alive() == before + 2         # cycles: left to the collector
        line, part = drawn_line()
        assert release([line]) == 2                 # the line and the part derived from it
        assert [len(getattr(s, slot)) for s in (line, part) for slot in MEMO_SLOTS] == \
            [0] * 2 * len(MEMO_SLOTS)
        del line, part
        assert strips_alive() == before + 2         # only the first two, still unreachable
    finally:
        gc.enable()
    assert gc.collect() >= 2 and strips_alive() == before
