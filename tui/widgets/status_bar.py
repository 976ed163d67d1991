"""The status bar: per-account connection state, queued and failed operations, last action.

Clicking the pending/failed count posts `StatusBar.QueueClicked` (the app opens the queue).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from tui.text import as_text, clean

__all__ = ["StatusBar"]


class StatusBar(Static):
    """One line: ``work: online · mail: connecting…   3 pending, 1 failed   Archived 2``."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    class QueueClicked(Message):
        """The pending/failed count was clicked."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text(""), id=id, markup=False)
        self._states: dict[str, str] = {}
        self._pending = 0
        self._failed = 0
        self._note = ""
        # Cells [start, end) of the pending/failed count in the line, when shown.
        self._count_cells: tuple[int, int] | None = None

    def set_connection(self, account: str, state: str) -> None:
        """Show an account's connection state (``online``, ``offline: retry in 30 s``...)."""
        self._states[account] = state
        self._redraw()

    def set_operations(self, pending: int, failed: int) -> None:
        """Show how many local changes wait for the server and how many failed."""
        self._pending, self._failed = pending, failed
        self._redraw()

    def set_note(self, note: str) -> None:
        """Show the outcome of the last action."""
        self._note = note
        self._redraw()

    @property
    def text(self) -> str:
        """The bar's text (for tests)."""
        return self._build().plain

    def _build(self) -> Text:
        line = Text(no_wrap=True, end="")
        for index, (account, state) in enumerate(self._states.items()):
            if index:
                line.append(" · ")
            line.append_text(as_text(clean(account, max_length=40), "bold"))
            line.append(": ")
            line.append_text(as_text(clean(state, max_length=80)))
        self._count_cells = None
        if self._pending or self._failed:
            line.append("   ")
            start = cell_len(line.plain)
            line.append(f"{self._pending} pending")
            if self._failed:
                line.append(f", {self._failed} failed", style="bold red")
            self._count_cells = (start, cell_len(line.plain))
        if self._note:
            line.append("   ")
            line.append_text(as_text(clean(self._note, max_length=200)))
        return line

    def _redraw(self) -> None:
        self.update(self._build())

    def on_click(self, event: events.Click) -> None:
        """A click on the pending/failed count asks for the queue."""
        offset = event.get_content_offset(self)
        span = self._count_cells
        if offset is not None and span is not None and span[0] <= offset.x < span[1]:
            event.stop()
            self.post_message(self.QueueClicked())
