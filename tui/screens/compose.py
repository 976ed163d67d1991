"""Screens for writing mail: the built-in editor (when no ``$EDITOR`` is set) and the
confirm bar shown after editing (``y`` send, ``e`` edit again, ``p`` postpone, ``q`` discard).

Everything shown from a draft (addresses and subjects may come from hostile mail) is cleaned
and given to widgets as `Content`, never as markup.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.suggester import Suggester
from textual.widgets import Input, Label, Static, TextArea

from sync.compose import Draft, DraftSyntaxError, complete_address, text_to_draft
from tui.text import as_content, clean

__all__ = [
    "AddressSuggester",
    "ComposeEditor",
    "ConfirmBar",
    "ConfirmChoice",
    "PathSuggester",
    "ResumeOffer",
]

_SEPARATOR = ", "

ConfirmChoice = Literal["send", "edit", "postpone", "discard"]
"""What the confirm bar offers once a message is written."""


class AddressSuggester(Suggester):
    """Completes the last address of a comma-separated list from addresses seen in mail
    (``sync.compose.complete_address``: most used first); accept with the right arrow."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.pairs = list(pairs)

    async def get_suggestion(self, value: str) -> str | None:
        """The value with its last item completed, or None."""
        head, comma, last = value.rpartition(",")
        lead = last[: len(last) - len(last.lstrip())]
        prefix = last.strip()
        if len(prefix) < 2:
            return None
        start = f"{head}{comma}{lead}"
        folded = prefix.casefold()
        # The Input shows only what extends the typed text, so offer a candidate whose
        # display form (or bare address) starts with the prefix.
        for candidate in complete_address(prefix, self.pairs):
            for form in (candidate.display(), candidate.email):
                if form.casefold().startswith(folded) and len(form) > len(prefix):
                    return start + prefix + form[len(prefix) :]
        return None


class PathSuggester(Suggester):
    """Completes a file path from the file system (``~`` expanded); directories end in
    ``/`` so the next part can be completed in turn."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        """The first entry (by name) of the directory that extends the typed path."""
        if not value:
            return None
        # Listing a directory may block (network mounts): off the event loop.
        return await asyncio.to_thread(_complete_path, value)


def _complete_path(value: str) -> str | None:
    expanded = Path(value).expanduser()
    directory, stem = (expanded, "") if value.endswith("/") else (expanded.parent, expanded.name)
    try:
        names = sorted(entry.name for entry in os.scandir(directory))
    except OSError:
        return None
    for name in names:
        # Hidden entries only when asked for by a leading dot.
        if name.startswith(stem) and name != stem and (stem or not name.startswith(".")):
            rest = name[len(stem) :]
            if (directory / name).is_dir():
                rest += "/"
            return value + rest
    return None


class ComposeEditor(Screen[Draft | None]):
    """The built-in editor: To, Cc, Bcc, Subject, attachments and the body.

    ``ctrl+s`` reads the fields back through ``sync.compose.text_to_draft`` (the same
    checks as the ``$EDITOR`` path) and returns the draft; an error is shown and nothing
    is lost. ``escape`` cancels. Enter in the Attach field adds that file.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "done", "Done", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    DEFAULT_CSS = """
    ComposeEditor { layout: vertical; }
    ComposeEditor > #fields { height: auto; }
    ComposeEditor .row { height: 1; }
    ComposeEditor .row Label { width: 9; padding: 0 1 0 0; text-align: right; }
    /* One line per header, as in a mail client; the focused field is highlighted. */
    ComposeEditor .row Input { width: 1fr; height: 1; border: none; padding: 0 1; }
    ComposeEditor .row Input:focus { background: $boost; }
    ComposeEditor #attached { height: auto; max-height: 4; padding: 0 0 0 9; }
    ComposeEditor #compose-error { height: auto; color: $error; padding: 0 1; }
    ComposeEditor #compose-help { height: 1; color: $text-muted; padding: 0 1; }
    ComposeEditor #body { height: 1fr; }
    """

    def __init__(self, draft: Draft, pairs: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.draft = draft
        self.attachments: list[Path] = list(draft.attachments)
        self._addresses = AddressSuggester(pairs)

    def compose(self) -> ComposeResult:
        """Header fields, attachment list, body, help line."""
        fields = (
            ("To", "to", _SEPARATOR.join(self.draft.to)),
            ("Cc", "cc", _SEPARATOR.join(self.draft.cc)),
            ("Bcc", "bcc", _SEPARATOR.join(self.draft.bcc)),
        )
        with Vertical(id="fields"):
            for label, name, value in fields:
                with Horizontal(classes="row"):
                    yield Label(as_content(clean(label)))
                    yield Input(value, id=name, suggester=self._addresses, select_on_focus=False)
            with Horizontal(classes="row"):
                yield Label(as_content(clean("Subject")))
                yield Input(self.draft.subject, id="subject", select_on_focus=False)
            with Horizontal(classes="row"):
                yield Label(as_content(clean("Attach")))
                yield Input(
                    placeholder="path of a file, Enter adds it",
                    id="attach",
                    suggester=PathSuggester(),
                )
            yield Static(id="attached")
            yield Static(id="compose-error")
        yield TextArea(self.draft.body, id="body", soft_wrap=True)
        yield Static(
            as_content(clean("ctrl+s done · Esc cancel · → accepts a completion · Tab next field")),
            id="compose-help",
        )

    def on_mount(self) -> None:
        """Start in To when it is empty (a new message, a forward), else in the body."""
        self._show_attachments()
        if self.draft.to:
            self.query_one("#body", TextArea).focus()
        else:
            self.query_one("#to", Input).focus()

    def _show_attachments(self) -> None:
        names = ", ".join(str(path) for path in self.attachments)
        text = f"Attached: {names}" if names else ""
        self.query_one("#attached", Static).update(as_content(clean(text, max_length=500)))

    def _show_error(self, text: str) -> None:
        self.query_one("#compose-error", Static).update(as_content(clean(text, max_length=500)))

    @on(Input.Submitted, "#attach")
    def _add_attachment(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            return
        path = Path(value).expanduser()
        if not path.is_file():
            self._show_error(f"No such file: {path}")
            return
        self.attachments.append(path)
        event.input.value = ""
        self._show_error("")
        self._show_attachments()

    def as_text(self) -> str:
        """The fields in the ``draft_to_text`` form (header lines, blank line, body)."""

        def value(name: str) -> str:
            # A field is one header line: a newline pasted in must not start another.
            return " ".join(self.query_one(f"#{name}", Input).value.split())

        lines = [
            f"From: {self.draft.from_}",
            f"To: {value('to')}",
            f"Cc: {value('cc')}",
            f"Bcc: {value('bcc')}",
        ]
        if self.draft.reply_to:
            lines.append(f"Reply-To: {_SEPARATOR.join(self.draft.reply_to)}")
        lines.append(f"Subject: {value('subject')}")
        lines.extend(f"Attach: {path}" for path in self.attachments)
        return "\n".join(lines) + "\n\n" + self.query_one("#body", TextArea).text

    def action_done(self) -> None:
        """Read the fields back into a draft and return it (or show what is wrong)."""
        try:
            draft = text_to_draft(self.as_text(), self.draft)
        except DraftSyntaxError as error:
            self._show_error(f"{error.problem}")
            return
        self.dismiss(draft)

    def action_cancel(self) -> None:
        """Leave without a draft."""
        self.dismiss(None)


class ConfirmBar(ModalScreen[ConfirmChoice]):
    """After editing: what to do with the message, one key each (mutt's compose menu)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "choose('send')", "Send"),
        Binding("e", "choose('edit')", "Edit again"),
        Binding("p", "choose('postpone')", "Postpone"),
        Binding("q", "choose('discard')", "Discard"),
    ]

    DEFAULT_CSS = """
    ConfirmBar { align: center bottom; background: $background 40%; }
    ConfirmBar > Vertical {
        height: auto; width: 100%; border-top: solid $primary; background: $surface;
        padding: 0 1;
    }
    ConfirmBar #confirm-keys { text-style: bold; }
    """

    def __init__(self, draft: Draft) -> None:
        super().__init__()
        self.draft = draft

    def compose(self) -> ComposeResult:
        """A summary of the message and the four choices."""
        draft = self.draft
        recipients = [*draft.to, *draft.cc, *draft.bcc]
        shown = ", ".join(recipients[:3]) + (
            f" and {len(recipients) - 3} more" if len(recipients) > 3 else ""
        )
        lines = [
            f"To: {shown or '(nobody yet)'}",
            f"Subject: {draft.subject or '(no subject)'}",
        ]
        attached = len(draft.attachments) + len(draft.carried)
        if attached:
            lines.append(f"{attached} attachment{'s' if attached != 1 else ''}")
        with Vertical():
            for line in lines:
                yield Static(as_content(clean(line, max_length=200)))
            yield Static(
                as_content(clean("y send, e edit again, p postpone (Drafts), q discard")),
                id="confirm-keys",
            )

    def action_choose(self, choice: ConfirmChoice) -> None:
        """Return the choice."""
        self.dismiss(choice)


class ResumeOffer(ModalScreen[bool | None]):
    """Enter on a message in Drafts: edit it (``e``), read it (``v``), or neither (Esc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "dismiss(True)", "Edit the draft"),
        Binding("v,enter", "dismiss(False)", "Read it"),
        Binding("escape,q", "dismiss(None)", "Cancel"),
    ]

    DEFAULT_CSS = """
    ResumeOffer { align: center bottom; background: $background 40%; }
    ResumeOffer > Static {
        height: auto; width: 100%; border-top: solid $primary; background: $surface;
        padding: 0 1; text-style: bold;
    }
    """

    def compose(self) -> ComposeResult:
        """One line: the choices."""
        yield Static(as_content(clean("A draft: e edit it, v read it, Esc cancel")))
