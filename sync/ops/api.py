"""What the UI (and anything else) calls to change mail: optimistic, queued, never lost.

Every call is one ``store.write()`` unit: the store changes (rows flagged, moved, removed,
added as provisional rows) *and* the operation is queued, atomically, so a kill -9 keeps both
or neither; the store's events go out after the commit, so the UI shows the change in the
same frame. The engine's replayer (``sync.ops.replay``) later takes the queue to the server
in order (RFC 4549 §4: local changes go up before server changes come down).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Literal, assert_never

from sync.imap import encode_mailbox
from sync.ops.codec import UnreadableOperation, encode, load
from sync.ops.kinds import (
    Append,
    CreateFolder,
    DeleteFolder,
    Expunge,
    FlagChange,
    RenameFolder,
    Transfer,
)
from sync.ops.queue import allocate_provisional
from sync.store import FolderRow, MessageRecord, PendingOperation, Store, StoreWriter
from sync.store.records import record_of

__all__ = ["Operations", "OperationsError", "Queued"]

SEEN = "\\Seen"
FLAGGED = "\\Flagged"
DRAFT = "\\Draft"


class OperationsError(Exception):
    """The change cannot be queued (no such folder or operation; nothing was changed)."""


@dataclass(frozen=True, slots=True)
class Queued:
    """What a call queued: the operation's id (for ``discard``/``retry``; None when there was
    nothing to do, e.g. the messages are gone), and for moves, copies and appends the
    provisional UIDs the messages have in the destination meanwhile (source UID ->
    provisional UID; an append's key is 0), which is what an undo needs: move them back."""

    operation_id: int | None
    provisional: dict[int, int]


class Operations:
    """The local-change API over one store (all accounts)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- flags -----------------------------------------------------------------------------

    async def mark_read(self, folder_id: int, uids: Iterable[int], read: bool = True) -> Queued:
        """Set (or clear) ``\\Seen``."""
        return await self.set_keywords(
            folder_id, uids, add=[SEEN] if read else [], remove=[] if read else [SEEN]
        )

    async def flag(self, folder_id: int, uids: Iterable[int], flagged: bool = True) -> Queued:
        """Set (or clear) ``\\Flagged``."""
        return await self.set_keywords(
            folder_id, uids, add=[FLAGGED] if flagged else [], remove=[] if flagged else [FLAGGED]
        )

    async def set_keywords(
        self,
        folder_id: int,
        uids: Iterable[int],
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> Queued:
        """Add and remove flags or keywords (``$Forwarded``, ``$Junk``...) as a delta, so a
        concurrent change of another flag on another device survives (RFC 3501 §6.4.6)."""
        # A flag both added and removed is added (the store applies removals first, and so
        # does the replay).
        adding = {flag.lower() for flag in add}
        removing = [flag for flag in remove if flag.lower() not in adding]
        async with self.store.write() as unit:
            return await self._flags(unit, folder_id, list(uids), list(add), removing)

    async def _flags(
        self,
        unit: StoreWriter,
        folder_id: int,
        uids: list[int],
        add: list[str],
        remove: list[str],
    ) -> Queued:
        folder = await self._folder(folder_id)
        rows = await unit.messages(folder_id, uids)
        if not rows or not (add or remove):
            return Queued(None, {})
        await unit.change_flags(folder_id, [row.uid for row in rows], add, remove)
        change = FlagChange(tuple(row.uid for row in rows), tuple(add), tuple(remove))
        op = await unit.enqueue_operation(
            folder.account_id,
            change.kind,
            folder_id=folder_id,
            folder_name=folder.name,
            payload=encode(change),
        )
        return Queued(op, {})

    # -- moving ----------------------------------------------------------------------------

    async def move(self, folder_id: int, uids: Iterable[int], dest_folder_id: int) -> Queued:
        """Move messages to another folder of the same account (RFC 6851)."""
        async with self.store.write() as unit:
            return await self._transfer(unit, "move", folder_id, list(uids), dest_folder_id)

    async def copy(self, folder_id: int, uids: Iterable[int], dest_folder_id: int) -> Queued:
        """Copy messages to another folder of the same account (RFC 3501 §6.4.7)."""
        async with self.store.write() as unit:
            return await self._transfer(unit, "copy", folder_id, list(uids), dest_folder_id)

    async def delete(self, folder_id: int, uids: Iterable[int]) -> Queued:
        """Move to Trash; in Trash (or with no Trash folder), delete for good."""
        folder = await self._folder(folder_id)
        trash = await self._special(folder.account_id, "\\Trash")
        async with self.store.write() as unit:
            if trash is None or trash.id == folder_id:
                return await self._expunge(unit, folder, list(uids))
            return await self._transfer(unit, "move", folder_id, list(uids), trash.id)

    async def archive(
        self, folder_id: int, uids: Iterable[int], *, archive_folder: str | None = None
    ) -> Queued:
        """Move to the configured archive folder (its name as shown or on the server), else
        to the special-use ``\\Archive`` folder (RFC 6154), else to the ``\\All`` folder:
        on Gmail, which has no ``\\Archive``, moving to All Mail is what archiving is (the
        message loses the Inbox label and stays in All Mail)."""
        folder = await self._folder(folder_id)
        target: FolderRow | None = None
        if archive_folder is not None:
            for candidate in await self.store.folders(folder.account_id):
                if archive_folder in (candidate.name, candidate.display_name):
                    target = candidate
        else:
            target = await self._special(folder.account_id, "\\Archive")
            if target is None:
                target = await self._special(folder.account_id, "\\All")
        if target is None:
            raise OperationsError(f"no archive folder ({archive_folder or 'special-use'})")
        return await self.move(folder_id, uids, target.id)

    async def _transfer(
        self,
        unit: StoreWriter,
        kind: Literal["move", "copy"],
        folder_id: int,
        uids: list[int],
        dest_id: int,
    ) -> Queued:
        folder = await self._folder(folder_id)
        dest = await self._folder(dest_id)
        if dest.account_id != folder.account_id:
            raise OperationsError("moving between accounts is not supported")
        if dest_id == folder_id and kind == "move":
            raise OperationsError("the messages are in that folder already")
        rows = await unit.messages(folder_id, uids)
        if not rows:
            return Queued(None, {})
        provisional = await allocate_provisional(unit, dest_id, len(rows))
        await unit.copy_messages(
            folder_id, dest_id, [(row.uid, new) for row, new in zip(rows, provisional, strict=True)]
        )
        if kind == "move":
            await unit.remove_messages(folder_id, [row.uid for row in rows])
        change = Transfer(
            kind=kind,
            uids=tuple(row.uid for row in rows),
            provisional=tuple(provisional),
            message_ids=tuple(row.message_id for row in rows),
            dest_id=dest_id,
            dest=dest.name,
            dest_uidnext=None,
            # To put them back if the move is refused after their provisional rows are gone
            # (the destination was deleted and the folder list synced first).
            rows=tuple(record_of(row) for row in rows) if kind == "move" else (),
        )
        op = await unit.enqueue_operation(
            folder.account_id,
            kind,
            folder_id=folder_id,
            folder_name=folder.name,
            payload=encode(change),
        )
        return Queued(op, {row.uid: new for row, new in zip(rows, provisional, strict=True)})

    async def expunge(self, folder_id: int, uids: Iterable[int]) -> Queued:
        """Delete for good: ``\\Deleted`` and UID EXPUNGE of just these UIDs (RFC 4315)."""
        folder = await self._folder(folder_id)
        async with self.store.write() as unit:
            return await self._expunge(unit, folder, list(uids))

    async def _expunge(self, unit: StoreWriter, folder: FolderRow, uids: list[int]) -> Queued:
        rows = await unit.messages(folder.id, uids)
        if not rows:
            return Queued(None, {})
        await unit.remove_messages(folder.id, [row.uid for row in rows])
        change = Expunge(
            uids=tuple(row.uid for row in rows), rows=tuple(record_of(row) for row in rows)
        )
        op = await unit.enqueue_operation(
            folder.account_id,
            change.kind,
            folder_id=folder.id,
            folder_name=folder.name,
            payload=encode(change),
        )
        return Queued(op, {})

    # -- new messages ----------------------------------------------------------------------

    async def append(
        self,
        folder_id: int,
        raw: bytes,
        flags: Sequence[str] = (),
        *,
        internaldate: int | None = None,
    ) -> Queued:
        """Add a message to a folder (sending files the sent copy this way; RFC 3501
        §6.3.11); it shows at once as a provisional row, with its body."""
        async with self.store.write() as unit:
            return await self._append(unit, folder_id, raw, list(flags), internaldate)

    async def save_draft(
        self, account_id: int, raw: bytes, replace_uid: int | None = None
    ) -> Queued:
        """Save a draft in the Drafts folder, replacing the previous version when given
        (which may itself still be provisional: the chain resolves it)."""
        drafts = await self._special(account_id, "\\Drafts")
        if drafts is None:
            raise OperationsError("this account has no Drafts folder")
        async with self.store.write() as unit:
            queued = await self._append(unit, drafts.id, raw, [DRAFT, SEEN], None)
            if replace_uid is not None:
                await self._expunge(unit, drafts, [replace_uid])
            return queued

    async def _append(
        self,
        unit: StoreWriter,
        folder_id: int,
        raw: bytes,
        flags: list[str],
        internaldate: int | None,
    ) -> Queued:
        folder = await self._folder(folder_id)
        when = int(time.time()) if internaldate is None else internaldate
        [provisional] = await allocate_provisional(unit, folder_id, 1)
        record = record_from_raw(raw, provisional, flags, when)
        await unit.upsert_messages(folder_id, [record])
        await unit.store_body(folder_id, provisional, raw)
        change = Append(
            raw=raw,
            flags=tuple(flags),
            internaldate=when,
            provisional=provisional,
            message_id=record.message_id,
            dest_uidnext=None,
        )
        op = await unit.enqueue_operation(
            folder.account_id,
            change.kind,
            folder_id=folder_id,
            folder_name=folder.name,
            payload=encode(change),
        )
        return Queued(op, {0: provisional})

    # -- folders ---------------------------------------------------------------------------

    async def create_folder(self, account_id: int, name: str) -> Queued:
        """Create a folder (``name`` as shown; the server name is its modified UTF-7)."""
        folders = await self.store.folders(account_id)
        delimiter = next((f.delimiter for f in folders if f.delimiter), "/")
        server_name = encode_mailbox(name)
        if any(f.name == server_name for f in folders):
            raise OperationsError(f"a folder named {name!r} exists already")
        async with self.store.write() as unit:
            folder_id = await unit.upsert_folder(
                account_id,
                server_name,
                display_name=name,
                delimiter=delimiter,
                special_use=None,
                subscribed=True,
            )
            op = await unit.enqueue_operation(
                account_id,
                CreateFolder.kind,
                folder_id=folder_id,
                folder_name=server_name,
                payload=encode(CreateFolder()),
            )
        return Queued(op, {})

    async def rename_folder(self, folder_id: int, new_name: str) -> Queued:
        """Rename a folder (``new_name`` as shown); its messages stay with it, and the folders
        under it move along, as the server's RENAME moves them (RFC 3501 §6.3.5)."""
        folder = await self._folder(folder_id)
        if folder.name.upper() == "INBOX":
            # RFC 3501 §6.3.5: renaming INBOX moves its messages and leaves INBOX (and the
            # folders under it) where they are: a move, not a rename.
            raise OperationsError("INBOX cannot be renamed")
        server_name = encode_mailbox(new_name)
        if any(f.name == server_name for f in await self.store.folders(folder.account_id)):
            raise OperationsError(f"a folder named {new_name!r} exists already")
        async with self.store.write() as unit:
            await unit.rename_folder(folder_id, server_name, new_name, inferiors=True)
            change = RenameFolder(
                new=server_name, new_display=new_name, old_display=folder.display_name
            )
            op = await unit.enqueue_operation(
                folder.account_id,
                change.kind,
                folder_id=folder_id,
                folder_name=folder.name,
                payload=encode(change),
            )
        return Queued(op, {})

    async def delete_folder(self, folder_id: int) -> Queued:
        """Delete a folder and the messages in it."""
        folder = await self._folder(folder_id)
        async with self.store.write() as unit:
            await unit.delete_folder(folder_id)
            op = await unit.enqueue_operation(
                folder.account_id,
                DeleteFolder.kind,
                folder_name=folder.name,
                payload=encode(DeleteFolder()),
            )
        return Queued(op, {})

    # -- the queue -------------------------------------------------------------------------

    async def discard(self, operation_id: int) -> None:
        """Forget a failed operation (its local change was rolled back when it failed)."""
        async with self.store.write() as unit:
            op = await unit.operation(operation_id)
            if op is None:
                raise OperationsError(f"no operation {operation_id}")
            if not op.failed:
                raise OperationsError(
                    f"operation {operation_id} is not failed; it may still go out"
                )
            await unit.finish_operation(operation_id)

    async def retry(self, operation_id: int) -> Queued:
        """Queue a failed operation again: its local change is made again (it was rolled
        back) and it goes to the end of the queue."""
        async with self.store.write() as unit:
            op = await unit.operation(operation_id)
            if op is None or not op.failed:
                raise OperationsError(f"no failed operation {operation_id}")
            await unit.finish_operation(operation_id)
            try:
                change = load(op).change
            except UnreadableOperation as exc:
                raise OperationsError(str(exc)) from None
            match change:
                case CreateFolder() | DeleteFolder() | RenameFolder():
                    # The folder ops' local side may not be repeatable: requeue the op as it is.
                    again = await unit.enqueue_operation(
                        op.account_id,
                        change.kind,
                        folder_id=op.folder_id,
                        folder_name=op.folder_name,
                        payload=encode(change),
                    )
                    return Queued(again, {})
                case FlagChange(uids=uids, add=add, remove=remove):
                    return await self._flags(
                        unit, _folder_id(op), list(uids), list(add), list(remove)
                    )
                case Transfer():
                    folder_id = _folder_id(op)
                    # The destination may have been deleted and made again meanwhile: by name.
                    dest = await self.store.folder(change.dest_id)
                    if dest is None:
                        dest = await self.store.folder_by_name(op.account_id, change.dest)
                    if dest is None:
                        raise OperationsError(f"the folder {change.dest} does not exist")
                    return await self._transfer(
                        unit, change.kind, folder_id, list(change.uids), dest.id
                    )
                case Expunge(uids=uids):
                    folder = await self._folder(_folder_id(op))
                    return await self._expunge(unit, folder, list(uids))
                case Append():
                    return await self._append(
                        unit,
                        _folder_id(op),
                        change.raw,
                        list(change.flags),
                        change.internaldate,
                    )
                case _:
                    assert_never(change)

    # -- helpers ---------------------------------------------------------------------------

    async def _folder(self, folder_id: int) -> FolderRow:
        folder = await self.store.folder(folder_id)
        if folder is None:
            raise OperationsError(f"no folder with id {folder_id}")
        return folder

    async def _special(self, account_id: int, use: str) -> FolderRow | None:
        for folder in await self.store.folders(account_id):
            if folder.special_use == use:
                return folder
        return None


def _folder_id(op: PendingOperation) -> int:
    """The folder a message operation names (gone when its folder was deleted)."""
    if op.folder_id is None:
        raise OperationsError("its folder no longer exists")
    return op.folder_id


def _decoded(value: str | None) -> str:
    if not value:
        return ""
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def record_from_raw(raw: bytes, uid: int, flags: Sequence[str], internaldate: int) -> MessageRecord:
    """A provisional list row for a message we add ourselves (until the server's own)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    name, address = email.utils.parseaddr(_decoded(headers.get("From")))
    try:
        date = int(email.utils.parsedate_to_datetime(headers.get("Date", "")).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        date = internaldate
    message_id = headers.get("Message-ID")
    return MessageRecord(
        uid=uid,
        message_id=message_id.strip() if message_id else None,
        subject=_decoded(headers.get("Subject")),
        from_name=name,
        from_addr=address,
        to=_decoded(headers.get("To")),
        cc=_decoded(headers.get("Cc")),
        date=date,
        internaldate=internaldate,
        size=len(raw),
        flags=tuple(flags),
        modseq=None,
        has_attachment=False,
        in_reply_to=headers.get("In-Reply-To"),
        references=headers.get("References"),
    )
