"""Forgetting the lines a widget drew so that reference counting frees them, not the collector.

Each Textual `Strip` memoises what is derived from it (cropped, divided, styled copies) in
seven small caches of its own, and some results are the strip itself: the compositor divides
every line at its cuts, and a line that needs no cut caches `[self]`. So nearly every line
drawn is a reference cycle, freed only by a full garbage collection, together with every
strip derived from it (about ten tracked objects each). `release` empties those caches (pure
memoisation: a strip still shown only computes them again), after which a line nobody holds
any more is freed at once.
"""
from __future__ import annotations

from textual.geometry import NULL_SIZE
from textual.strip import Strip
from textual.widget import Widget

# Strip's memo caches: every slot named *_cache but _render_cache (a str, not a cache)
MEMO_SLOTS = tuple(s for s in Strip.__slots__ if s.endswith("_cache") and s != "_render_cache")


def release(strips) -> int:
    """Empty the memo caches of `strips` and of every strip derived from them (the cycles
    through which they hold themselves); returns how many strips had something cached."""
    todo, seen, emptied = list(strips), set(), 0
    while todo:
        strip = todo.pop()
        if id(strip) in seen:
            continue
        seen.add(id(strip))
        had = False
        for slot in MEMO_SLOTS:
            cache = getattr(strip, slot)
            if cache:
                had = True
                for value in cache._cache.values():
                    todo.extend(value if isinstance(value, list) else (value,))
                cache.clear()
        emptied += had
    return emptied


def _drawn(widget: Widget) -> tuple:
    """The lines `widget` keeps drawn: its styles cache's (the lines with CSS applied) and its
    render cache's (the content's lines)."""
    return widget._styles_cache._cache.values(), widget._render_cache.lines


def forget_lines(widget: Widget) -> None:
    """Drop the lines `widget` keeps drawn (its styles cache: the lines with CSS applied; its
    render cache: the content's lines), released first. Textual draws them again when the
    widget is next shown (refresh)."""
    styled, content = _drawn(widget)
    if styled:
        release(styled)
        widget.refresh()                        # clears the styles cache
    if content:
        release(content)
        widget._render_cache = type(widget._render_cache)(NULL_SIZE, [])


def release_drawn(root: Widget) -> int:
    """Release every line `root` and the widgets in it keep drawn, keeping the lines: what the
    compositor derived from them for earlier frames (cut at other places: a view switch moves
    every cut) is freed; what the next frame needs is derived again. Returns the lines that
    had something cached."""
    return sum(release(styled) + release(content)
               for styled, content in map(_drawn, root.walk_children(with_self=True)))
