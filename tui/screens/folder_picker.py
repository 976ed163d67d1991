"""The ``m`` (move) folder picker: type a few letters, pick from the fuzzy-matched folders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from tui.folder_order import sort_folders
from tui.protocol import FolderInfo
from tui.text import as_content, clean

__all__ = ["FolderPicker", "fuzzy_score"]


def fuzzy_score(query: str, candidate: str) -> int | None:
    """Score ``candidate`` for ``query`` typed as a subsequence; None when it does not match.

    Higher is better: consecutive letters and matches at word starts count more, so "arc"
    ranks "Archive" above "Lists/research".
    """
    if not query:
        return 0
    haystack = candidate.casefold()
    score = 0
    position = -1
    previous = -2
    for char in query.casefold():
        position = haystack.find(char, position + 1)
        if position < 0:
            return None
        score += 1
        if position == previous + 1:
            score += 3
        if position == 0 or not haystack[position - 1].isalnum():
            score += 5
        previous = position
    return score * 100 - len(candidate)


class FolderPicker(ModalScreen[int | None]):
    """Returns the chosen folder id, or None when dismissed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    DEFAULT_CSS = """
    FolderPicker { align: center middle; }
    FolderPicker > Vertical {
        width: 60; max-width: 90%; height: 20; border: round $primary; background: $surface;
    }
    FolderPicker OptionList { height: 1fr; }
    """

    def __init__(self, folders: Sequence[FolderInfo], title: str = "Move to") -> None:
        super().__init__()
        self._folders = sort_folders(folders)
        self._title = title

    def compose(self) -> ComposeResult:
        """A query box above the matching folders."""
        with Vertical() as box:
            box.border_title = self._title
            yield Input(placeholder="folder…", id="picker-query")
            yield OptionList(id="picker-options")

    def on_mount(self) -> None:
        """Show every folder before anything is typed."""
        self._refill("")
        self.query_one("#picker-query", Input).focus()

    @on(Input.Changed, "#picker-query")
    def _query_changed(self, event: Input.Changed) -> None:
        self._refill(event.value)

    @on(Input.Submitted, "#picker-query")
    def _query_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one("#picker-options", OptionList)
        if options.highlighted is not None:
            option = options.get_option_at_index(options.highlighted)
            self.dismiss(int(option.id) if option.id is not None else None)

    @on(OptionList.OptionSelected, "#picker-options")
    def _option_selected(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id
        self.dismiss(int(option_id) if option_id is not None else None)

    def action_move(self, delta: int) -> None:
        """Move the highlight while typing."""
        options = self.query_one("#picker-options", OptionList)
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else 0
            options.highlighted = min(max(current + delta, 0), options.option_count - 1)

    def _refill(self, query: str) -> None:
        scored: list[tuple[int, FolderInfo]] = []
        for folder in self._folders:
            name = folder.display_name or folder.name
            score = fuzzy_score(query, name)
            if score is not None:
                scored.append((score, folder))
        if query:
            scored.sort(key=lambda item: -item[0])
        options = self.query_one("#picker-options", OptionList)
        options.clear_options()
        options.add_options(
            Option(as_content(clean(f.display_name or f.name)), id=str(f.id)) for _, f in scored
        )
        if scored:
            options.highlighted = 0
