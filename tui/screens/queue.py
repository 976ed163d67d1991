"""The ``Q`` screen: local changes and outgoing mail waiting for the server, with retry/discard.

The app opens it (by key, or by a click on the status bar's pending/failed count) and tells
it when the queue may have changed (``queue_changed``: an `OperationsState`, a `Notice`,
another process's commit); it then re-reads the whole queue from the backend, which is small.
Every string in it (account, folder names, recipients, the server's words) is cleaned and
shown as plain `Text`, never as markup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tui.text import as_text, clean

if TYPE_CHECKING:
    from tui.protocol import Backend, QueueItem

__all__ = ["ConfirmDiscard", "QueueScreen", "describe_wait", "item_prompt"]

log = logging.getLogger(__name__)

ErrorReporter = Callable[[str, BaseException], None]
_LABEL_WIDTH = 8


def describe_wait(seconds: float) -> str:
    """How long until the next try, for people: ``now``, ``in 25 s``, ``in 3 min``, ``in 2 h``."""
    if seconds < 1:
        return "now"
    if seconds < 90:
        return f"in {seconds:.0f} s"
    if seconds < 90 * 60:
        return f"in {seconds / 60:.0f} min"
    return f"in {seconds / 3600:.0f} h"


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count != 1 else ''}"


def item_prompt(item: QueueItem, now: float) -> Table:
    """One queue entry: its state in a column of its own; beside it, the account and what it
    does, the server's last words, and what happens next with the keys that apply (wrapped
    lines stay in their column)."""
    if item.failed:
        label, style = "failed", "bold red"
    elif item.state == "sending":
        label, style = "sending", "bold"
    elif item.backing_off:
        label, style = "retrying", "yellow"
    else:
        label, style = "waiting", ""
    body = Text(no_wrap=False, end="")
    body.append_text(as_text(clean(item.account, max_length=40), "bold"))
    body.append("  ")
    body.append_text(as_text(clean(item.description, max_length=300)))
    if item.error:
        # The server's own words: they say what to fix (a folder gone, a refused address).
        body.append("\n")
        error_style = "red" if item.failed else "dim"
        body.append_text(as_text(clean(item.error, max_length=500), error_style))
    if item.failed:
        detail = f"refused after {_attempts(item.attempts)} · r retries · d discards"
    elif item.state == "sending":
        detail = "being handed to the mail server now"
    elif item.backing_off and item.next_attempt_at is not None:
        wait = describe_wait(item.next_attempt_at - now)
        detail = f"{_attempts(item.attempts)} so far · next try {wait} · r tries now"
    else:
        detail = "goes out in order, as soon as the server can be reached"
    body.append("\n" + detail, style="dim")
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=_LABEL_WIDTH, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(Text(label, style=style), body)
    return grid


def _key(item: QueueItem) -> str:
    return f"{item.kind}:{item.id}"


class ConfirmDiscard(ModalScreen[bool]):
    """Asks before an item is discarded; returns True to discard."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "dismiss(True)", "Discard"),
        Binding("n,escape,q", "dismiss(False)", "Keep"),
    ]

    DEFAULT_CSS = """
    ConfirmDiscard { align: center middle; }
    ConfirmDiscard > Vertical {
        width: 72; max-width: 95%; height: auto; border: thick $error; background: $surface;
        padding: 0 1;
    }
    """

    def __init__(self, item: QueueItem) -> None:
        super().__init__()
        self.item = item

    def compose(self) -> ComposeResult:
        """The question, what the item is, what discarding means, and the keys."""
        item = self.item
        question = Text(no_wrap=False, end="")
        if item.kind == "operation":
            question.append("Discard this change?\n\n", style="bold")
            question.append_text(as_text(clean(item.description, max_length=300), wrap=True))
            question.append(
                "\n\nIt will never reach the server. The server refused it, so it was undone"
                " here when that happened: your messages stay as they are now, and it can no"
                " longer be retried."
            )
        else:
            question.append("Discard this message?\n\n", style="bold")
            question.append_text(as_text(clean(item.description, max_length=300), wrap=True))
            question.append(
                "\n\nIt will not be sent, and is removed from the outbox for good (the draft"
                " it was written from, if any, stays in Drafts)."
            )
        question.append("\n\ny or Enter: discard   n or Esc: keep it", style="dim")
        with Vertical() as box:
            box.border_title = "Discard"
            yield Static(question, id="confirm-text", markup=False)


class QueueScreen(ModalScreen[None]):
    """The queue of every account: what waits, what failed and why; ``r`` retries, ``d``
    discards (after asking), Esc or ``q`` closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
        Binding("d,delete", "discard", "Discard"),
        Binding("escape,q", "close", "Close"),
        Binding("j", "move(1)", show=False),
        Binding("k", "move(-1)", show=False),
    ]

    DEFAULT_CSS = """
    QueueScreen { align: center middle; }
    QueueScreen > Vertical {
        width: 90%; height: 80%; border: round $primary; background: $surface; padding: 0 1;
    }
    QueueScreen #queue-items { height: 1fr; border: none; }
    QueueScreen #queue-summary { height: 1; }
    QueueScreen #queue-note { height: auto; max-height: 3; }
    """

    def __init__(
        self,
        backend: Backend,
        *,
        report_error: ErrorReporter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.backend = backend
        self._report_error = report_error
        self._clock = clock
        self.items: list[QueueItem] = []
        """What the view shows now (tests read it)."""
        self.loaded = False
        """Whether the queue has been read at least once."""
        self._ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        """A summary line, the items, the outcome of the last retry/discard; keys below."""
        with Vertical() as box:
            box.border_title = "Waiting for the server"
            yield Static(Text("Reading the queue…"), id="queue-summary", markup=False)
            yield OptionList(id="queue-items")
            yield Static(Text(""), id="queue-note", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        """Read the queue; count down the next tries while the view is open."""
        self.query_one("#queue-items", OptionList).focus()
        self.queue_changed()
        self._ticker = self.set_interval(1.0, self._tick)

    @property
    def option_list(self) -> OptionList:
        """The list of items."""
        return self.query_one("#queue-items", OptionList)

    def queue_changed(self) -> None:
        """The queue may have changed: read it again."""
        self._reload()

    @work(group="queue-read", exclusive=True, exit_on_error=False, name="Reading the queue")
    async def _reload(self) -> None:
        # Exclusive: a burst of queue events costs one read, the last one.
        try:
            items = list(await self.backend.queue_items())
        except Exception as error:
            self._error("Reading the queue", error)
            return
        self._show(items)

    def _show(self, items: Sequence[QueueItem]) -> None:
        options = self.option_list
        keep = self.highlighted_item
        index = options.highlighted
        self.items = list(items)
        self.loaded = True
        now = self._clock()
        options.clear_options()
        options.add_options(Option(item_prompt(item, now), id=_key(item)) for item in self.items)
        if self.items:
            keys = [_key(item) for item in self.items]
            if keep is not None and _key(keep) in keys:
                options.highlighted = keys.index(_key(keep))
            else:  # it went out or was discarded: stay at about the same place
                options.highlighted = min(index or 0, len(self.items) - 1)
        self.query_one("#queue-summary", Static).update(self._summary())

    def _summary(self) -> Text:
        failed = sum(item.failed for item in self.items)
        waiting = len(self.items) - failed
        if not self.items:
            return Text("Nothing is waiting for the server.", style="bold")
        line = Text(no_wrap=True, end="")
        line.append(f"{waiting} waiting", style="bold")
        if failed:
            line.append(f", {failed} failed", style="bold red")
        line.append("   oldest first, in the order they go out", style="dim")
        return line

    def _tick(self) -> None:
        # Only the countdowns change with time: redraw when one is shown.
        if any(item.backing_off for item in self.items):
            self._show(self.items)

    @property
    def highlighted_item(self) -> QueueItem | None:
        """The item under the cursor."""
        index = self.option_list.highlighted
        if index is None or not 0 <= index < len(self.items):
            return None
        return self.items[index]

    def _note(self, text: str, style: str = "") -> None:
        self.query_one("#queue-note", Static).update(as_text(clean(text), style, wrap=True))

    def _error(self, what: str, error: BaseException) -> None:
        if self._report_error is not None:
            self._report_error(what, error)
        else:
            log.error("%s failed", what, exc_info=error)
        self._note(f"{what} failed: {str(error).strip() or type(error).__name__}", "red")

    # ----------------------------------------------------------------- actions

    def action_close(self) -> None:
        """Close the view."""
        self.dismiss(None)

    def action_move(self, delta: int) -> None:
        """j/k move the cursor."""
        options = self.option_list
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else 0
            options.highlighted = min(max(current + delta, 0), options.option_count - 1)

    async def action_retry(self) -> None:
        """Try the highlighted item again: a failed one is queued again, one held back by a
        temporary failure is tried now."""
        item = self.highlighted_item
        if item is None:
            return
        if not item.retryable:
            self._note("It is waiting its turn already: nothing to retry.")
            return
        try:
            summary = await self.backend.retry(item)
        except Exception as error:
            self._error("Retry", error)
            self.queue_changed()
            return
        self._note(summary)
        self.queue_changed()

    def action_discard(self) -> None:
        """Discard the highlighted failed item, after asking."""
        item = self.highlighted_item
        if item is None:
            return
        if not item.discardable:
            self._note("Only a failed item can be discarded: this one may be going out now.")
            return

        async def answered(confirmed: bool | None) -> None:
            if not confirmed:
                self._note("Kept.")
                return
            try:
                summary = await self.backend.discard(item)
            except Exception as error:
                self._error("Discard", error)
            else:
                self._note(summary)
            self.queue_changed()

        self.app.push_screen(ConfirmDiscard(item), answered)
