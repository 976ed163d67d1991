"""The ``?`` screen: every key binding in force, generated from tui.keys (so none is hidden)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.keys import display_keys, effective_keys, scopes

__all__ = ["HelpScreen", "help_table"]

_SCOPE_TITLES = {
    "app": "Everywhere",
    "list": "Message list",
    "reader": "Reader",
    "folders": "Folder pane",
}


def help_table(keymap: Mapping[str, str] | None = None) -> Table:
    """A table of every binding (keys after the user's keymap, description, binding id)."""
    table = Table(box=None, show_header=True, expand=True, pad_edge=False)
    table.add_column(Text("Keys"), no_wrap=True, style="bold")
    table.add_column(Text("Action"))
    table.add_column(Text("Binding id (for [keys] in the config)"), style="dim", no_wrap=True)
    bindings = effective_keys(keymap)
    for scope in scopes():
        table.add_row(Text(_SCOPE_TITLES[scope], style="bold underline"), Text(""), Text(""))
        for spec, keys in bindings:
            if spec.scope == scope:
                table.add_row(Text(display_keys(keys)), Text(spec.description), Text(spec.id))
        table.add_row(Text(""), Text(""), Text(""))
    return table


class HelpScreen(ModalScreen[None]):
    """Lists every binding; any of q, Esc or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", show=True),
        Binding("j,down", "scroll('down')", show=False),
        Binding("k,up", "scroll('up')", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._keymap = dict(keymap or {})

    def compose(self) -> ComposeResult:
        """The binding table in a scrollable box."""
        with VerticalScroll(id="help-scroll"):
            yield Static(Text("mailtui key bindings", style="bold"), markup=False)
            yield Static(help_table(self._keymap), id="help-table", markup=False)

    def action_scroll(self, direction: str) -> None:
        """Scroll the table."""
        scroll = self.query_one("#help-scroll", VerticalScroll)
        if direction == "down":
            scroll.scroll_down(animate=False)
        else:
            scroll.scroll_up(animate=False)
