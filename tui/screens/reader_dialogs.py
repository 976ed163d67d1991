"""The reader's small dialogs: a one-line prompt (a folder, a link number) and a choice.

Both take their text as plain `Text` built by the caller from cleaned strings, so nothing a
sender wrote is parsed as markup here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

__all__ = ["ChoiceScreen", "PromptScreen"]

_BOX_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 84; max-width: 95%; height: auto; border: thick $primary; background: $surface;
    padding: 0 1;
}}
{name} > Vertical > Input {{ margin-top: 1; }}
"""


class PromptScreen(ModalScreen[str | None]):
    """Asks for one line (prefilled); returns it on Enter, or None on Esc."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    DEFAULT_CSS = _BOX_CSS.format(name="PromptScreen")

    def __init__(
        self, title: str, question: Text, value: str = "", *, input_type: str = "text"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.value = value
        self.input_type = input_type

    def compose(self) -> ComposeResult:
        """The question, the input, the keys."""
        text = self.question.copy()
        text.append("\n\nEnter: accept   Esc: cancel", style="dim")
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static(text, id="prompt-text", markup=False)
            yield Input(
                self.value,
                id="prompt-input",
                type="integer" if self.input_type == "integer" else "text",
                select_on_focus=False,
            )

    def on_mount(self) -> None:
        """Focus the input, cursor at the end of the prefilled value."""
        box = self.query_one(Input)
        box.focus()
        box.cursor_position = len(box.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)


class ChoiceScreen(ModalScreen[str | None]):
    """Shows ``body`` and offers ``choices`` as (key, result, label); returns the result of the
    key pressed, ``enter_result`` on Enter (when set), or None on Esc/q."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss(None)", "Cancel")]

    DEFAULT_CSS = _BOX_CSS.format(name="ChoiceScreen")

    def __init__(
        self,
        title: str,
        body: Text,
        choices: Sequence[tuple[str, str, str]],
        *,
        enter_result: str | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.choices = tuple(choices)
        self.enter_result = enter_result

    def compose(self) -> ComposeResult:
        """The body, then one line naming every key."""
        text = self.body.copy()
        keys = [
            f"{key}{' or Enter' if result == self.enter_result else ''}: {label}"
            for key, result, label in self.choices
        ]
        keys.append("Esc: cancel")
        text.append("\n\n" + "   ".join(keys), style="dim")
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static(text, id="choice-text", markup=False)

    def on_key(self, event: events.Key) -> None:
        """A choice's key answers; Enter answers ``enter_result``."""
        if event.key == "enter" and self.enter_result is not None:
            event.stop()
            self.dismiss(self.enter_result)
            return
        for key, result, _ in self.choices:
            if event.character == key:
                event.stop()
                self.dismiss(result)
                return
