"""The key hints line at the bottom: the keys of the focused pane, and the palette key.

Why not Textual's ``Footer``: it recomposes on every focus change, mounting one widget per
key (and styling each through the CSS), which costs tens of milliseconds each time the
focus moves from the list to the reader, that is on every Enter, and again at start-up.
This widget draws the same hints as one line (Line API): a focus change re-reads the active
bindings, and repaints the line only when the hints differ.

What is shown follows ``Footer``: the active bindings of the focused widget and its
ancestors with ``show=True``, one per action (the first key), disabled ones dimmed, and the
command palette's key at the right. A click on a hint presses its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

__all__ = ["Hint", "KeyHints"]

_PALETTE_ACTIONS = frozenset({"command_palette", "app.command_palette"})


@dataclass(frozen=True, slots=True)
class Hint:
    """One key hint: the key to press, how it is shown, what it does, whether it works now."""

    key: str
    display: str
    description: str
    enabled: bool = True


class KeyHints(Widget, can_focus=False):
    """One line of key hints for the focused pane (a light ``Footer``)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-hints--key",
        "key-hints--description",
        "key-hints--separator",
    }

    DEFAULT_CSS = """
    KeyHints {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyHints > .key-hints--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyHints > .key-hints--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyHints > .key-hints--separator { color: $foreground 20%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._hints: tuple[Hint, ...] = ()
        self._palette: Hint | None = None
        self._stale = True
        self._line: Strip | None = None  # the painted line, for the width it was made at
        # Cells [start, end) of each hint on the line, for clicks.
        self._spans: list[tuple[int, int, Hint]] = []

    @property
    def hints(self) -> tuple[Hint, ...]:
        """The hints shown at the left, in order (the palette's is `palette_hint`)."""
        self._update_hints()
        return self._hints

    @property
    def palette_hint(self) -> Hint | None:
        """The command palette's key, shown at the right (None: no palette)."""
        self._update_hints()
        return self._palette

    @property
    def text(self) -> str:
        """The line as plain text (for tests)."""
        return self._make_line(self.size.width or 200).text

    def on_mount(self) -> None:
        """Follow the screen's bindings (focus changes, keymap changes, enabled actions)."""
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        """Stop following the screen's bindings."""
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        # Read when painted, not now: a burst of changes (focus moving through several
        # widgets) costs one read of the active bindings.
        if not self._stale:
            self._stale = True
            self.refresh()

    def _update_hints(self) -> None:
        if not self._stale or not self.is_attached:
            return
        self._stale = False
        app = self.app
        hints: list[Hint] = []
        palette: Hint | None = None
        actions: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if binding.action in _PALETTE_ACTIONS:
                if palette is None and app.ENABLE_COMMAND_PALETTE:
                    palette = Hint(
                        key, app.get_key_display(binding), binding.description, active.enabled
                    )
                continue
            if not binding.show or binding.action in actions:
                continue
            actions.add(binding.action)  # one hint per action: its first key
            hints.append(
                Hint(key, app.get_key_display(binding), binding.description, active.enabled)
            )
        if tuple(hints) != self._hints or palette != self._palette:
            self._hints, self._palette = tuple(hints), palette
            self._line = None

    def notify_style_update(self) -> None:
        """The theme changed: make the line again with its colours."""
        self._line = None
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        """The hints line (the widget is one line high)."""
        width = self.size.width
        if y != 0:
            return Strip.blank(width, self.rich_style)
        self._update_hints()
        line = self._line
        if line is None or line.cell_length != width:
            line = self._line = self._make_line(width)
        return line

    def _make_line(self, width: int) -> Strip:
        self._update_hints()
        base = self.rich_style
        key_style = base + self.get_component_rich_style("key-hints--key")
        text_style = base + self.get_component_rich_style("key-hints--description")
        spans: list[tuple[int, int, Hint]] = []
        left: list[Segment] = []  # the focused pane's hints, cut where the palette's begins
        x = 0
        for hint in self._hints:
            segments, cells = _hint_segments(hint, key_style, text_style)
            left += segments
            spans.append((x, x + cells, hint))
            x += cells
        right: list[Segment] = []
        right_width = 0
        palette = self._palette
        if palette is not None:
            separator = base + self.get_component_rich_style("key-hints--separator")
            segments, cells = _hint_segments(palette, key_style, text_style)
            right = [Segment("▏", separator), *segments]
            right_width = 1 + cells
            if right_width > width:
                right, right_width = [], 0
        room = width - right_width
        strip = Strip(left, x).adjust_cell_length(max(room, 0), base)
        spans = [(start, min(end, room), hint) for start, end, hint in spans if start < room]
        if palette is not None and right:
            spans.append((room + 1, width, palette))
            strip = Strip.join([strip, Strip(right, right_width)])
        self._spans = spans
        return strip

    def on_click(self, event: events.Click) -> None:
        """A click on a hint presses its key (a disabled one rings the bell)."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for start, end, hint in self._spans:
            if start <= offset.x < end:
                event.stop()
                if hint.enabled:
                    self.app.simulate_key(hint.key)
                else:
                    self.app.bell()
                return


def _hint_segments(hint: Hint, key_style: Style, text_style: Style) -> tuple[list[Segment], int]:
    """One hint as segments (`` key `` then ``description ``; dimmed when disabled) and its
    width in cells."""
    extra = Style() if hint.enabled else Style(dim=True)
    key_text = f" {hint.display} "
    segments = [Segment(key_text, key_style + extra)]
    text = f"{hint.description} " if hint.description else ""
    if text:
        segments.append(Segment(text, text_style + extra))
    return segments, cell_len(key_text) + cell_len(text)
