"""Writing a message from the interface: the editor round trip and the send/postpone choice.

The flow (run as one app worker per message):

1. the backend prepares a `ComposeStart` (a new message, a reply or a forward of the message
   under the cursor, or a resumed draft);
2. the draft is edited in ``$EDITOR`` (else ``$VISUAL``) in its text form
   (``sync.compose.draft_to_text``), with the app suspended; without an editor set, in the
   built-in editor screen;
3. the confirm bar asks, as mutt does: ``y`` send, ``e`` edit again, ``p`` postpone (to
   Drafts), ``q`` discard.

The editor gets a private file (0600 in a 0700 directory: a draft may hold anything). When
what was saved cannot be read back, the editor opens again on the same text with the error
as a comment line at the top; nothing the user typed is thrown away. An empty file, or the
template saved unchanged, cancels.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from tui.protocol import ComposeStart

if TYPE_CHECKING:  # sync.compose (email, MIME) loads when a message is first written
    from textual.app import App

    from sync.compose import Draft
    from tui.screens.compose import ConfirmChoice

__all__ = [
    "ERROR_PREFIX",
    "ComposeBackend",
    "EditOutcome",
    "edit_in_editor",
    "editor_command",
    "run_compose",
    "strip_error_lines",
]

ERROR_PREFIX: Final = "# mailtui: "
"""Starts the comment line that explains a parse error; removed when the file is read."""


class ComposeBackend(Protocol):
    """What the flow needs from the backend besides `ComposeStart`."""

    async def send_draft(self, start: ComposeStart, draft: Draft) -> str:
        """Queue ``draft`` for sending (the sync engine sends it); return a summary."""
        ...

    async def postpone_draft(self, start: ComposeStart, draft: Draft) -> str:
        """File ``draft`` in the Drafts folder; return a summary."""
        ...

    async def address_pairs(self, account: str) -> Sequence[tuple[str, str]]:
        """``(name, address)`` pairs seen in the account's mail, for completion."""
        ...


@dataclass(frozen=True, slots=True)
class EditOutcome:
    """What an editor round trip gave: a draft, or nothing (cancelled). ``kept`` is the
    file the text was left in when it could not be read back and the user gave up."""

    draft: Draft | None
    kept: Path | None = None


def editor_command(environ: Mapping[str, str]) -> list[str] | None:
    """The editor to run, split like a shell word list: ``$EDITOR``, else ``$VISUAL``;
    None when neither is set (the built-in editor is used)."""
    for name in ("EDITOR", "VISUAL"):
        value = environ.get(name, "").strip()
        if value:
            try:
                argv = shlex.split(value)
            except ValueError:
                continue  # unbalanced quotes: not a command we can run
            if argv:
                return argv
    return None


def strip_error_lines(text: str) -> str:
    """The text without the error comment lines this module put at its top."""
    lines = text.split("\n")
    while lines and lines[0].startswith(ERROR_PREFIX):
        lines.pop(0)
    return "\n".join(lines)


@contextlib.contextmanager
def _private_file() -> Iterator[Path]:
    # mkdtemp makes the directory 0700; the file is created 0600 and exclusively.
    directory = Path(tempfile.mkdtemp(prefix="mailtui-"))
    path = directory / "draft.eml"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    keep = False
    try:
        yield path
    except _KeepFile:
        keep = True
        raise
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


class _KeepFile(Exception):
    """Leave the file where it is (it holds text that could not be read back)."""


def _run_editor(argv: Sequence[str], path: Path) -> int:
    # The editor owns the terminal: inherit stdin/stdout/stderr.
    return subprocess.run([*argv, str(path)], check=False).returncode


async def edit_in_editor(
    app: App[Any],
    draft: Draft,
    argv: Sequence[str],
    *,
    run: Callable[[Sequence[str], Path], int] = _run_editor,
) -> EditOutcome:
    """Edit ``draft`` in the external editor ``argv`` until it reads back, or is cancelled.

    The app is suspended while the editor runs (not in headless tests), and the editor runs
    in a thread, so the sync keeps going meanwhile. A parse error reopens the editor with
    the error at the top; saving that unchanged gives up, leaving the text in its private
    file (``EditOutcome.kept``) rather than losing it.
    """
    from sync.compose import DraftSyntaxError, draft_to_text, text_to_draft

    template = draft_to_text(draft)
    text = template
    error: str | None = None
    try:
        with _private_file() as path:
            while True:
                written = text
                if error is not None:
                    written = f"{ERROR_PREFIX}{error} (fix it and save; this line goes)\n{text}"
                path.write_text(written, encoding="utf-8")
                await _suspended_run(app, run, argv, path)
                saved = path.read_text(encoding="utf-8", errors="replace")
                edited = strip_error_lines(saved)
                if not edited.strip() or (error is None and edited == template):
                    return EditOutcome(None)
                if error is not None and saved == written:
                    raise _KeepFile  # saved untouched after an error: the user gave up
                try:
                    parsed = await asyncio.to_thread(text_to_draft, edited, draft)
                except DraftSyntaxError as exc:
                    error = str(exc)
                    text = edited
                    continue
                return EditOutcome(parsed)
    except _KeepFile:
        return EditOutcome(None, kept=path)


async def _suspended_run(
    app: App[Any], run: Callable[[Sequence[str], Path], int], argv: Sequence[str], path: Path
) -> None:
    if app.is_headless:  # tests: no terminal to hand over
        await asyncio.to_thread(run, argv, path)
        return
    # batch_update keeps the app from painting while the terminal belongs to the editor.
    with app.batch_update(), app.suspend():
        await asyncio.to_thread(run, argv, path)


async def run_compose(
    app: App[Any],
    backend: ComposeBackend,
    start: ComposeStart,
    report_error: Callable[[str, BaseException], None],
    *,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Edit, confirm and send/postpone/discard one message; return the status line.

    Send and postpone failures (no recipient, a missing Drafts folder) are reported and
    the confirm bar comes back: the draft is never dropped by an error.
    """
    from tui.screens.compose import ComposeEditor, ConfirmBar  # Textual screens

    argv = editor_command(os.environ if environ is None else environ)
    draft = start.draft
    while True:
        if argv is not None:
            outcome = await edit_in_editor(app, draft, argv)
            if outcome.kept is not None:
                return f"Not understood; your text is kept in {outcome.kept}"
            edited = outcome.draft
        else:
            pairs = await backend.address_pairs(start.account)
            edited = await app.push_screen_wait(ComposeEditor(draft, pairs))
        if edited is None:
            return "Cancelled: nothing sent"
        draft = edited
        while True:
            choice: ConfirmChoice = await app.push_screen_wait(ConfirmBar(draft))
            if choice == "edit":
                break
            if choice == "discard":
                return "Discarded"
            try:
                if choice == "send":
                    return await backend.send_draft(start, draft)
                return await backend.postpone_draft(start, draft)
            except Exception as error:  # shown; the draft stays on the confirm bar
                report_error("Sending" if choice == "send" else "Postponing", error)
