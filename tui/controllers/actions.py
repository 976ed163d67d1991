"""What the message list's actions do: operations on messages (delete, archive, move, flag,
read) sent to the backend, writing mail (a new message, a reply, a forward, a draft taken up
again), and undo.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.dom import DOMNode

from tui.controllers import start_worker
from tui.errors import ReportError
from tui.protocol import (
    ActionRequest,
    Archive,
    Backend,
    ComposeKind,
    ComposeStart,
    ConsumingRequest,
    Delete,
    Move,
    SetFlagged,
    SetRead,
)
from tui.widgets.folder_tree import FolderTree
from tui.widgets.message_list import MessageList
from tui.widgets.reader import Reader

__all__ = ["ActionController"]

_COMPOSE_KINDS: dict[str, ComposeKind] = {
    "reply": "reply",
    "reply_all": "reply_all",
    "forward": "forward",
    "compose": "compose",
}


def _request_for(
    action: str, folder_id: int, uids: tuple[int, ...], value: bool | None
) -> Delete | Archive | SetFlagged | SetRead | None:
    """The typed request for a message list action (None: not an operation on messages).
    A toggle without a target state means "turn it on"."""
    match action:
        case "delete":
            return Delete(folder_id, uids)
        case "archive":
            return Archive(folder_id, uids)
        case "flag":
            return SetFlagged(folder_id, uids, True if value is None else value)
        case "toggle_read":
            return SetRead(folder_id, uids, True if value is None else value)
    return None


class ActionController:
    """Carries out the list's actions through the backend and says how it went.

    ``host`` runs the compose worker and pushes the dialogs (through its app); the getters
    give the panes; ``open_message`` and ``close_reader`` are the reader controller's;
    ``note`` writes the status bar's note.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        host: DOMNode,
        message_list: Callable[[], MessageList],
        folder_tree: Callable[[], FolderTree],
        reader: Callable[[], Reader],
        open_message: Callable[[int, int], None],
        close_reader: Callable[[], None],
        note: Callable[[str], None],
        report_error: ReportError,
    ) -> None:
        self._backend = backend
        self._host = host
        self._message_list = message_list
        self._folder_tree = folder_tree
        self._reader = reader
        self._open_message = open_message
        self._close_reader = close_reader
        self._note = note
        self._report_error = report_error
        self.reader_next: tuple[int, int, int] | None = None
        """(listed row id, folder id, UID) to open when the message open in the reader goes
        (deleted, archived, moved from the reader, as mutt's pager does); None: close it."""

    async def requested(
        self, action: str, folder_id: int, uids: tuple[int, ...], value: bool | None
    ) -> None:
        """Carry out a list action (`MessageList.ActionRequested`) on ``uids``."""
        kind = _COMPOSE_KINDS.get(action)
        if kind is not None:
            await self.compose(kind, folder_id, uids[0] if uids else None)
            return
        if action == "move":
            self._pick_move_target(folder_id, uids)
            return
        request = _request_for(action, folder_id, uids, value)
        if request is None:
            self._report_error(
                action.replace("_", " ").capitalize(),
                ValueError(f"unknown action {action!r}"),
            )
            return
        await self.perform(request)

    async def perform(self, request: ActionRequest) -> None:
        """Send a request to the backend; a message moved away leaves the reader."""
        try:
            summary = await self._backend.perform(request)
        except Exception as error:  # the backend reports; the UI must stay up
            self._report_error(request.title, error)
            return
        if isinstance(request, ConsumingRequest):
            self._message_list().clear_selection()
            reader = self._reader()
            if reader.display and reader.uid in request.uids:
                following, self.reader_next = self.reader_next, None
                if following is None:
                    self._close_reader()
                else:
                    row, folder_id, uid = following
                    self._message_list().move_cursor_to_uid(row)
                    self._open_message(folder_id, uid)
        if not request.implicit:
            self._note(summary)

    async def undo(self) -> None:
        """Undo the last operation."""
        try:
            summary = await self._backend.undo()
        except Exception as error:
            self._report_error("Undo", error)
            return
        self._note(summary or "Nothing to undo")

    def _pick_move_target(self, folder_id: int, uids: tuple[int, ...]) -> None:
        from tui.screens.folder_picker import FolderPicker  # loaded when first used, not at start

        folders = [f for f in self._folder_tree().folders() if f.id != folder_id]

        async def chosen(dest: int | None) -> None:
            if dest is not None:
                await self.perform(Move(folder_id, uids, dest))

        self._host.app.push_screen(FolderPicker(folders), chosen)

    # ----------------------------------------------------------------- writing mail

    def is_drafts(self, folder_id: int) -> bool:
        """Whether the folder is the Drafts folder (RFC 6154 \\Drafts): a message there is
        offered for editing, as mutt's "recall"."""
        return any(
            folder.id == folder_id and folder.special_use == "\\Drafts"
            for folder in self._folder_tree().folders()
        )

    def offer_resume(self, folder_id: int, uid: int) -> None:
        """Ask whether to edit a draft again or read it."""
        from tui.screens.compose import ResumeOffer  # loaded when first used, not at start

        async def chosen(edit: bool | None) -> None:
            if edit:
                await self.compose("resume", folder_id, uid)
            elif edit is not None:
                self._open_message(folder_id, uid)

        self._host.app.push_screen(ResumeOffer(), chosen)

    async def compose(self, kind: ComposeKind, folder_id: int, uid: int | None) -> None:
        """Start writing a message (``uid``: the one replied to, forwarded or resumed)."""
        try:
            start = await self._backend.compose(kind, folder_id, uid)
        except Exception as error:
            self._report_error(kind.replace("_", " ").capitalize(), error)
            return
        if isinstance(start, str):
            self._note(start)
        else:
            # A worker: the flow waits on screens (push_screen_wait) and on the editor. Not
            # exclusive: one message being written does not stop another.
            start_worker(
                self._host,
                partial(self._write_message, start),
                name="Writing a message",
                group="compose",
                exclusive=False,
            )

    async def _write_message(self, start: ComposeStart) -> None:
        from tui.compose_flow import run_compose  # loaded when first used, not at start

        self._note(await run_compose(self._host.app, self._backend, start, self._report_error))
