"""Every key binding of the TUI, in one table, rebindable through the config's ``keys`` mapping.

Each binding has a stable id (``"list.down"``); the config maps ids to Textual key strings
(``keys = { "list.down" = "j,down,ctrl+n" }``), which `App.set_keymap` applies. Defaults follow
mutt/aerc habits. The help screen and the command palette are generated from this table, so
nothing can be bound without being documented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding

__all__ = [
    "DEFAULT_KEYS",
    "KeySpec",
    "KeymapError",
    "Scope",
    "bindings_for",
    "display_keys",
    "effective_keys",
    "validate_keymap",
]

Scope = Literal["app", "list", "reader", "folders"]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One rebindable binding: its id, default keys, Textual action and help text."""

    id: str
    keys: str
    action: str
    description: str
    scope: Scope
    show: bool = True
    priority: bool = False

    def binding(self) -> Binding:
        """Return the Textual `Binding` for this spec (the keymap may replace its keys)."""
        return Binding(
            self.keys,
            self.action,
            self.description,
            show=self.show,
            priority=self.priority,
            id=self.id,
        )


DEFAULT_KEYS: tuple[KeySpec, ...] = (
    # Application-wide.
    KeySpec("app.quit", "q", "back_or_quit", "Back/Quit", "app"),
    KeySpec("app.help", "question_mark", "help", "Help", "app"),
    KeySpec("app.switch_pane", "tab", "switch_pane", "Pane", "app", show=False),
    KeySpec("app.filter", "slash", "filter", "Filter", "app"),
    KeySpec("app.search", "F", "search", "Search all folders", "app"),
    KeySpec("app.undo", "z", "undo", "Undo", "app", show=False),
    KeySpec("app.queue", "Q", "queue", "Queue of changes and outgoing mail", "app", show=False),
    KeySpec("app.palette", "ctrl+p", "command_palette", "Commands", "app", show=False),
    # Message list: movement.
    KeySpec("list.down", "j,down", "cursor_down", "Next message", "list", show=False),
    KeySpec("list.up", "k,up", "cursor_up", "Previous message", "list", show=False),
    KeySpec("list.top", "g,home", "cursor_top", "First (newest) message", "list", show=False),
    KeySpec("list.bottom", "G,end", "cursor_bottom", "Last (oldest) message", "list", show=False),
    KeySpec("list.page_down", "pagedown,ctrl+f", "page_down", "Page down", "list", show=False),
    KeySpec("list.page_up", "pageup,ctrl+b", "page_up", "Page up", "list", show=False),
    KeySpec("list.open", "enter", "open", "Open", "list"),
    KeySpec("list.select", "space", "toggle_select", "Select", "list", show=False),
    KeySpec(
        "list.clear_selection", "escape", "clear_selection", "Clear selection", "list", show=False
    ),
    # Message list: actions on the selection, or the cursor's message when none is selected.
    KeySpec("list.delete", "d", "request('delete')", "Delete", "list"),
    KeySpec("list.archive", "a", "request('archive')", "Archive", "list"),
    KeySpec("list.move", "m", "request('move')", "Move", "list"),
    KeySpec("list.flag", "exclamation_mark", "request('flag')", "Flag", "list", show=False),
    KeySpec("list.toggle_read", "N", "request('toggle_read')", "Read/unread", "list", show=False),
    KeySpec("list.reply", "r", "request('reply')", "Reply", "list"),
    KeySpec("list.reply_all", "R", "request('reply_all')", "Reply all", "list", show=False),
    KeySpec("list.forward", "f", "request('forward')", "Forward", "list", show=False),
    KeySpec("list.compose", "c", "request('compose')", "Compose", "list", show=False),
    # Message list: threads (the app swaps the list's source).
    KeySpec("list.threads", "T", "app.toggle_threads", "Threads/flat", "list", show=False),
    KeySpec(
        "list.thread_fold", "v", "app.toggle_thread", "Expand/collapse thread", "list", show=False
    ),
    # Reader pane.
    KeySpec("reader.down", "j,down", "scroll_down", "Scroll down", "reader", show=False),
    KeySpec("reader.up", "k,up", "scroll_up", "Scroll up", "reader", show=False),
    KeySpec("reader.page_down", "space,pagedown", "page_down", "Page down", "reader", show=False),
    KeySpec("reader.page_up", "pageup", "page_up", "Page up", "reader", show=False),
    KeySpec("reader.top", "g,home", "scroll_home", "Top", "reader", show=False),
    KeySpec("reader.bottom", "G,end", "scroll_end", "Bottom", "reader", show=False),
    # Reader pane: the list's actions on the open message, as in mutt's pager and aerc's
    # viewer; J/K step to the next/previous message without going back to the list.
    KeySpec("reader.reply", "r", "message_action('reply')", "Reply", "reader"),
    KeySpec(
        "reader.reply_all", "R", "message_action('reply_all')", "Reply all", "reader", show=False
    ),
    KeySpec("reader.forward", "f", "message_action('forward')", "Forward", "reader", show=False),
    KeySpec("reader.delete", "d", "message_action('delete')", "Delete", "reader"),
    KeySpec("reader.archive", "a", "message_action('archive')", "Archive", "reader", show=False),
    KeySpec("reader.move", "m", "message_action('move')", "Move", "reader", show=False),
    KeySpec(
        "reader.flag", "exclamation_mark", "message_action('flag')", "Flag", "reader", show=False
    ),
    KeySpec(
        "reader.toggle_read",
        "N",
        "message_action('toggle_read')",
        "Read/unread",
        "reader",
        show=False,
    ),
    KeySpec("reader.next_message", "J", "step(1)", "Next message", "reader"),
    KeySpec("reader.previous_message", "K", "step(-1)", "Previous message", "reader", show=False),
    # Reader pane: attachments, links, source (issue 7).
    KeySpec("reader.save", "s", "save_attachment", "Save attachment", "reader"),
    KeySpec("reader.save_all", "S", "save_all_attachments", "Save all", "reader", show=False),
    KeySpec(
        "reader.next_attachment",
        "right_square_bracket",
        "select_attachment(1)",
        "Next attachment",
        "reader",
        show=False,
    ),
    KeySpec(
        "reader.previous_attachment",
        "left_square_bracket",
        "select_attachment(-1)",
        "Previous attachment",
        "reader",
        show=False,
    ),
    KeySpec("reader.open_attachment", "v", "open_attachment", "Open attachment", "reader"),
    KeySpec("reader.open_link", "o", "open_link", "Open link", "reader"),
    # Not Tab/shift+Tab as in w3m: they move between the panes (see Reader.action_select_link).
    KeySpec("reader.next_link", "n", "select_link(1)", "Highlight next link", "reader", show=False),
    KeySpec(
        "reader.previous_link",
        "p",
        "select_link(-1)",
        "Highlight previous link",
        "reader",
        show=False,
    ),
    KeySpec(
        "reader.follow_link",
        "enter",
        "follow_link",
        "Open the highlighted link (or type a link's number, then Enter)",
        "reader",
        show=False,
    ),
    KeySpec("reader.source", "H,vertical_line", "toggle_source", "Source", "reader"),
    # Folder pane.
    KeySpec("folders.down", "j", "cursor_down", "Next folder", "folders", show=False),
    KeySpec("folders.up", "k", "cursor_up", "Previous folder", "folders", show=False),
)

_BY_ID = {spec.id: spec for spec in DEFAULT_KEYS}

# Textual names for keys whose character is not a valid identifier; used for display only.
_KEY_DISPLAY = {
    "question_mark": "?",
    "exclamation_mark": "!",
    "slash": "/",
    "space": "Space",
    "pagedown": "PgDn",
    "pageup": "PgUp",
    "escape": "Esc",
    "enter": "Enter",
    "tab": "Tab",
    "down": "↓",
    "up": "↑",
    "home": "Home",
    "end": "End",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "vertical_line": "|",
}


class KeymapError(ValueError):
    """A ``keys`` mapping in the config names an unknown binding or binds nothing."""


def bindings_for(scope: Scope) -> list[Binding]:
    """Return the Textual bindings for one scope (a widget's or the app's ``BINDINGS``)."""
    return [spec.binding() for spec in DEFAULT_KEYS if spec.scope == scope]


def validate_keymap(keymap: Mapping[str, str]) -> dict[str, str]:
    """Check a user keymap (binding id -> comma-separated Textual keys) and return a copy.

    Raises `KeymapError` naming the first unknown id or empty key list.
    """
    result: dict[str, str] = {}
    for binding_id, keys in keymap.items():
        if binding_id not in _BY_ID:
            known = ", ".join(sorted(_BY_ID))
            raise KeymapError(f"unknown key binding {binding_id!r}; known bindings: {known}")
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise KeymapError(f"key binding {binding_id!r} has no keys")
        result[binding_id] = ",".join(parts)
    return result


def effective_keys(keymap: Mapping[str, str] | None = None) -> list[tuple[KeySpec, str]]:
    """Return every binding with the keys in force once ``keymap`` is applied."""
    overrides = keymap or {}
    return [(spec, overrides.get(spec.id, spec.keys)) for spec in DEFAULT_KEYS]


def display_keys(keys: str) -> str:
    """Format a comma-separated Textual key list for people: ``"j,down"`` -> ``"j ↓"``."""
    return " ".join(_display_one(key.strip()) for key in keys.split(",") if key.strip())


def _display_one(key: str) -> str:
    *modifiers, name = key.split("+")
    shown = _KEY_DISPLAY.get(name, name)
    if modifiers:
        return "+".join([*(m.capitalize() for m in modifiers), shown])
    return shown


def scopes() -> Iterable[Scope]:
    """The binding scopes in the order the help screen shows them."""
    return ("app", "list", "reader", "folders")
