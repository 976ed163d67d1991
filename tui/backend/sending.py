"""Writing mail from the interface: drafts to edit, the outbox, Drafts, address completion.

`Sending` starts a draft (new, reply, forward, or resumed from Drafts), queues a finished one
in the outbox with its follow-ups, and postpones one to Drafts. It reads the original's body
through `MessageBodies` (the backend's downloads), so it never touches a connection itself.
The compose and outbox modules load on first use: they bring the email package along.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Protocol

from sync.store import FolderRow, Store
from tui.backend.supervisor import EngineSupervisor
from tui.protocol import ComposeKind, ComposeStart

if TYPE_CHECKING:
    from sync.compose import Draft

__all__ = ["MessageBodies", "Sending"]


class MessageBodies(Protocol):
    """Raw messages, downloaded when not stored (the backend's `body` and `whole_body`)."""

    async def body(self, folder_id: int, uid: int) -> bytes | None:
        """The message, text first for a large one; None when the server lacks it."""
        ...

    async def whole_body(self, folder_id: int, uid: int) -> bytes | None:
        """The whole message, attachments and all; None when the server lacks it."""
        ...


class Sending:
    """Compose, send and postpone for the accounts ``supervisor`` holds."""

    def __init__(self, store: Store, supervisor: EngineSupervisor, bodies: MessageBodies) -> None:
        self.store = store
        self.supervisor = supervisor
        self.bodies = bodies

    async def compose(
        self, kind: ComposeKind, folder_id: int, uid: int | None
    ) -> ComposeStart | str:
        """A draft to edit: new (from the folder's account), a reply or forward of the
        message (its body downloaded if needed), or a draft from the Drafts folder.

        Raises the backend's `BodyUnavailable` when the original cannot be downloaded now.
        """
        from sync.compose import Draft, account_address, forward_draft, reply_draft

        folder = await self.store.folder(folder_id)
        accounts = self.supervisor.by_id
        runtime = accounts.get(folder.account_id) if folder is not None else None
        if runtime is None:
            runtime = next(iter(self.supervisor.accounts.values()), None)
        if runtime is None:
            return "No account is set up"
        account = runtime.config
        if kind == "compose":
            return ComposeStart(Draft(from_=account_address(account)), account.name)
        if uid is None:
            return "No message here to answer"
        if kind == "resume":
            from sync.outbox import resume_draft

            async def fetch(row: FolderRow, draft_uid: int) -> bytes | None:
                return await self.bodies.whole_body(row.id, draft_uid)  # attachments and all

            _, draft = await resume_draft(self.store, account, folder_id, uid, fetch=fetch)
            return ComposeStart(draft, account.name, draft_uid=uid)
        # A forward carries the attachments along; a reply needs the text only.
        download = self.bodies.whole_body if kind == "forward" else self.bodies.body
        raw = await download(folder_id, uid)
        if raw is None:
            return "That message is not on the server yet: answer it once it is"
        # Parsing a big message (MIME walk, attachments decoded) off the event loop.
        if kind == "forward":
            draft = await asyncio.to_thread(forward_draft, raw, account)
        else:
            draft = await asyncio.to_thread(
                partial(reply_draft, raw, account, reply_all=kind == "reply_all")
            )
        return ComposeStart(draft, account.name, original=(folder_id, uid, draft.reply_kind))

    async def send_draft(self, start: ComposeStart, draft: Draft) -> str:
        """Put the message in the outbox, with its follow-ups (Sent copy, \\Answered or
        $Forwarded, the draft removed); the engine sends it now, or once online."""
        from sync.outbox import queue_message

        runtime = self.supervisor.account_named(start.account)
        account = runtime.config
        await queue_message(
            self.store, account, draft, original=start.original, draft_uid=start.draft_uid
        )
        if account.smtp_host is None:
            return f"Queued, but {runtime.info.name} has no outgoing mail server (smtp_host)"
        if runtime.sync is None:
            return "Queued: it goes out from the mailtui that syncs this account"
        if runtime.unreachable:
            return "Queued: it goes out once the server is back (Q shows the queue)"
        return "Sending… (Q shows the queue)"

    async def postpone_draft(self, start: ComposeStart, draft: Draft) -> str:
        """File the message in the Drafts folder, replacing the draft it was resumed from."""
        from sync.outbox import save_draft

        runtime = self.supervisor.account_named(start.account)
        await save_draft(self.store, runtime.config, draft, replace_uid=start.draft_uid)
        return "Postponed: saved in Drafts"

    async def address_pairs(self, account: str) -> Sequence[tuple[str, str]]:
        """Senders and recipients of the account's newest mail, for address completion."""
        from sync.store.addresses import address_pairs

        return await address_pairs(self.store, self.supervisor.account_named(account).info.id)
