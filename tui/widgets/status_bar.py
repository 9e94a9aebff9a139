"""The one-line status bar: source, mode, window, loading. Repaints without a layout pass."""
from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class StatusBar(Widget):
    """`text` is Rich markup; changing it repaints this line only (fixed size: no re-layout of
    the screen, which a Static.update would cost on every tick)."""

    DEFAULT_CSS = "StatusBar { height: 1; width: 1fr; }"
    text = reactive("", layout=False)

    def render(self) -> Text:
        text = Text.from_markup(self.text, overflow="ellipsis")
        text.no_wrap = True
        return text
