"""Take the queue of local changes to the server, in order, and confirm each from the answer.

The engine calls :meth:`Replayer.replay` on its worker connection before every full pass and
before each job, and whenever an operation is queued (here or by another process): RFC 4549
§4, the client's changes go up before the server's come down. The conflict rules are written
down in docs/decisions/0003-local-operations.md; in short:

- flags go as deltas (``+FLAGS.SILENT``/``-FLAGS.SILENT``, RFC 3501 §6.4.6), conditional on
  the MODSEQ we knew where CONDSTORE is on (RFC 7162 §3.1.3); a message changed elsewhere
  meanwhile gets the delta again unconditionally, so changes to different flags both survive;
- a message expunged elsewhere first: the change is dropped with a ``ChangeDropped`` notice;
- a move to a folder deleted elsewhere: rejected, the message stays where it was, and an
  ``OperationFailed`` says why in the server's words;
- our delete against a remote flag change: ``\\Deleted`` is stored unconditionally, delete wins;
- without MOVE (RFC 6851): COPY, ``\\Deleted``, then UID EXPUNGE of just those UIDs (RFC 4315
  §2.1); without UIDPLUS a plain EXPUNGE (RFC 3501 §6.4.3) only when no other message is
  ``\\Deleted``. When another client has marked others, EXPUNGE would take theirs too: ours
  stay on the server marked ``\\Deleted``, the store shows them so again (store == server), an
  ``Expunge`` of just them waits in the queue (retried with backoff, never given up) until
  the folder holds no other ``\\Deleted`` message, and ``OperationHeld`` says so;
- without UIDPLUS the new UID is found by Message-ID among UIDs from the UIDNEXT recorded
  just before the command; that record also makes a replay after a lost answer idempotent.

Connection loss propagates (the engine reconnects and the operation replays again, safely);
a NO the server calls temporary (RFC 5530 UNAVAILABLE, INUSE, SERVERBUG, LIMIT) is retried
with exponential backoff; any other NO or BAD is permanent: the local change is rolled back,
the operation is kept as failed (retryable, discardable), and ``OperationFailed`` is
published after the rollback commits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal, assert_never

from sync.backoff import backoff_ceiling
from sync.imap import (
    CopyUid,
    ImapClient,
    ImapCommandError,
    ServerFeatures,
    UidSet,
    decode_mailbox,
)
from sync.ops.codec import UnreadableOperation, encode, load
from sync.ops.kinds import (
    Append,
    CreateFolder,
    DeleteFolder,
    Expunge,
    FlagChange,
    OperationKind,
    QueuedOp,
    RenameFolder,
    Transfer,
)
from sync.ops.queue import Target, referenced, remap
from sync.store import (
    FolderRow,
    MessageRecord,
    MessageRow,
    PendingOperation,
    Store,
    StoreWriter,
)
from sync.store.events import ChangeDropped, OperationFailed, OperationHeld
from sync.store.records import record_of

__all__ = ["TEMPORARY_CODES", "Replayer"]

log = logging.getLogger(__name__)

# RFC 5530 response codes that say "try again later"; everything else is the server's answer.
TEMPORARY_CODES = frozenset({"UNAVAILABLE", "INUSE", "SERVERBUG", "LIMIT"})
_GONE_CODES = frozenset({"NONEXISTENT", "TRYCREATE"})
_DELETED = "\\Deleted"
_WINDOW = 1000


class _Rejected(Exception):
    """An operation the server refused for good (carries the human message)."""


class _Held(Exception):
    """An operation that cannot go out yet for a reason that may pass (carries the human
    message): retried with backoff like a temporary failure, but never given up."""


class _FolderMissing(_Rejected):
    """A folder the operation names is not on the server (deleted, or renamed elsewhere)."""


FolderRefresher = Callable[[ImapClient, ServerFeatures], Awaitable[None]]


class Replayer:
    """Replays one account's queued operations (the engine's ``OperationReplayer``)."""

    def __init__(
        self,
        store: Store,
        account_name: str,
        *,
        max_attempts: int = 8,
        backoff_initial: float = 2.0,
        backoff_max: float = 300.0,
        clock: Callable[[], float] = time.time,
        batch_flags: bool = True,
        refresh_folders: FolderRefresher | None = None,
    ) -> None:
        self.store = store
        self.account_name = account_name
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._clock = clock
        # Off only to measure what batching saves (benchmarks/bench_ops.py).
        self.batch_flags = batch_flags
        # The engine's folder-list sync: a folder missing on the server may have been renamed
        # elsewhere, and its operations should follow it rather than fail.
        self.refresh_folders = refresh_folders
        self._account_id: int | None = None
        self._selected: str | None = None

    async def _account(self) -> int | None:
        if self._account_id is None:
            for account in await self.store.accounts():
                if account.name == self.account_name:
                    self._account_id = account.id
        return self._account_id

    async def replay(self, client: ImapClient, features: ServerFeatures) -> float | None:
        """Apply every due operation in order; return the seconds until a held-back one is
        due (a temporary failure's backoff), or None when the queue is empty."""
        account_id = await self._account()
        if account_id is None:
            return None
        # The worker connection is shared with folder syncs: never trust an earlier SELECT.
        self._selected = None
        refreshed_for: int | None = None
        while True:
            # A window is enough: a flag batch is at most this long, and the queue is re-read
            # after every step (confirmations rewrite later operations).
            ops = await self.store.pending_operations(account_id, limit=_WINDOW)
            if not ops:
                return None
            now = self._clock()
            if ops[0].next_attempt_at is not None and ops[0].next_attempt_at > now:
                return ops[0].next_attempt_at - now  # order matters: later ones wait too
            try:
                first = load(ops[0])
            except UnreadableOperation as exc:
                # A payload this code cannot read must not wedge the queue behind it.
                await self._park_unreadable(account_id, ops[0], f"unreadable operation: {exc}")
                continue
            batch = _flag_batch(first, ops) if self.batch_flags else [first]
            batch = await self._follow_renames(batch, ops)
            try:
                await self._apply(account_id, batch, client, features)
            except _FolderMissing as missing:
                if self.refresh_folders is not None and refreshed_for != first.id:
                    refreshed_for = first.id  # once per operation: then it is really gone
                    self._selected = None
                    await self.refresh_folders(client, features)
                    continue
                await self._reject(account_id, batch, str(missing))
            except _Rejected as rejected:
                await self._reject(account_id, batch, str(rejected))
            except (KeyError, ValueError, TypeError) as exc:
                # Payloads are checked when decoded; this is the last guard that an operation
                # this code cannot carry out does not wedge the queue behind it.
                await self._reject(account_id, batch, f"unreadable operation: {exc!r}")
            except _Held as held:
                return await self._hold(account_id, batch, str(held), now)
            except ImapCommandError as exc:
                if exc.code in TEMPORARY_CODES and first.attempts + 1 < self.max_attempts:
                    delay = backoff_ceiling(first.attempts, self.backoff_initial, self.backoff_max)
                    async with self.store.write() as unit:
                        for op in batch:
                            await unit.fail_operation(
                                op.id,
                                exc.text or str(exc),
                                give_up=False,
                                next_attempt_at=int(now + delay),
                            )
                    log.info(
                        "%s: operation %d held back %.0f s: %s",
                        self.account_name,
                        first.id,
                        delay,
                        exc,
                    )
                    return delay
                await self._reject(account_id, batch, _human(first, exc))

    async def _follow_renames(
        self, batch: list[QueuedOp], ops: list[PendingOperation]
    ) -> list[QueuedOp]:
        """Name folders as the store knows them now when they were renamed elsewhere (the
        folder-list sync renamed the row); a rename of our own still queued keeps the old
        name, which is the server's until that rename goes out. So do the folders under it:
        the store renamed them along at once, the server does when the RENAME goes out
        (RFC 3501 §6.3.5)."""
        renaming: set[int] = set()
        new_names: list[str] = []
        for pending in ops:
            if pending.kind != "rename_folder":
                continue
            if pending.folder_id is not None:
                renaming.add(pending.folder_id)
            with contextlib.suppress(UnreadableOperation):
                change = load(pending).change
                if isinstance(change, RenameFolder):
                    new_names.append(change.new)

        async def current(folder_id: int) -> FolderRow | None:
            """The folder's row when its store name is the one to use now, else None."""
            if folder_id in renaming:
                return None
            folder = await self.store.folder(folder_id)
            if folder is None or any(
                folder.delimiter and folder.name.startswith(name + folder.delimiter)
                for name in new_names
            ):
                return None
            return folder

        followed: list[QueuedOp] = []
        for op in batch:
            if op.folder_id is not None:
                folder = await current(op.folder_id)
                if folder is not None and folder.name != op.folder_name:
                    op = replace(op, folder_name=folder.name)
            if isinstance(op.change, Transfer):
                dest = await current(op.change.dest_id)
                if dest is not None and dest.name != op.change.dest:
                    op = replace(op, change=replace(op.change, dest=dest.name))
            followed.append(op)
        return followed

    # -- dispatch --------------------------------------------------------------------------

    async def _apply(
        self,
        account_id: int,
        batch: list[QueuedOp],
        client: ImapClient,
        features: ServerFeatures,
    ) -> None:
        op = batch[0]
        change = op.change
        match change:
            case FlagChange():
                await self._flags(account_id, batch, change, client, features)
            case Transfer():
                await self._transfer(account_id, op, change, client, features)
            case Expunge():
                await self._expunge(op, change, client, features)
            case Append():
                await self._append(account_id, op, change, client, features)
            case CreateFolder() | RenameFolder() | DeleteFolder():
                await self._folder_op(op, change, client)
            case _:
                assert_never(change)

    async def _select(self, client: ImapClient, name: str | None, features: ServerFeatures) -> str:
        if name is None:
            raise _FolderMissing("its folder no longer exists")
        mailbox = decode_mailbox(name)
        if self._selected != mailbox:
            self._selected = None
            try:
                await client.select(mailbox, condstore=features.condstore)
            except ImapCommandError as exc:
                if exc.code in TEMPORARY_CODES:
                    raise
                raise _FolderMissing(
                    f"folder {mailbox} is gone from the server: {exc.text}"
                ) from None
            self._selected = mailbox
        return mailbox

    # -- flags -----------------------------------------------------------------------------

    async def _flags(
        self,
        account_id: int,
        batch: list[QueuedOp],
        change: FlagChange,
        client: ImapClient,
        features: ServerFeatures,
    ) -> None:
        # The batch shares the first one's delta (``_flag_batch``); only the UIDs differ.
        add, remove = change.add, change.remove
        uids = sorted(
            {
                uid
                for op in batch
                if isinstance(op.change, FlagChange)
                for uid in op.change.uids
                if uid > 0
            }
        )
        folder_id = batch[0].folder_id
        await self._select(client, batch[0].folder_name, features)
        present = set(await client.uid_search("UID", str(UidSet.of(uids)))) if uids else set()
        present &= set(uids)
        targets = sorted(present)
        if targets:
            since: int | None = None
            if features.condstore and folder_id is not None:
                rows = await self.store.messages(folder_id, targets)
                modseqs = [row.modseq for row in rows]
                if len(rows) == len(targets) and all(modseqs):
                    since = max(m for m in modseqs if m is not None)
            steps: tuple[tuple[Literal["+", "-"], tuple[str, ...]], ...] = (
                ("-", remove),
                ("+", add),
            )
            for mode, flags in steps:
                if not flags:
                    continue
                result = await client.uid_store(
                    UidSet.of(targets),
                    mode,
                    flags,
                    unchangedsince=since,
                )
                if result.modified:
                    log.info(
                        "%s: %s changed elsewhere meanwhile (MODIFIED %s); delta sent again",
                        self.account_name,
                        batch[0].folder_name,
                        result.modified,
                    )
                    # RFC 7162 §3.1.3: changed elsewhere since we looked. Our change is a delta
                    # on other flags, so it goes again: both changes survive.
                    await client.uid_store(result.modified, mode, flags)
        gone = [uid for uid in uids if uid not in present]
        async with self.store.write() as unit:
            if gone and folder_id is not None:
                await unit.remove_messages(folder_id, gone)
                unit.announce(
                    ChangeDropped(
                        account_id,
                        batch[0].id,
                        "flags",
                        f"{len(gone)} message(s) were deleted on another device before the flag"
                        " change reached the server; the change was dropped",
                    )
                )
            for op in batch:
                await unit.finish_operation(op.id)

    # -- move, copy --------------------------------------------------------------------------

    async def _transfer(
        self,
        account_id: int,
        op: QueuedOp,
        change: Transfer,
        client: ImapClient,
        features: ServerFeatures,
    ) -> None:
        uids = change.uids
        provisional = change.provisional
        message_ids = change.message_ids
        dest_id = change.dest_id
        dest = decode_mailbox(change.dest)
        moving = change.kind == "move"
        await self._select(client, op.folder_name, features)
        real = [uid for uid in uids if uid > 0]
        present = set(await client.uid_search("UID", str(UidSet.of(real)))) if real else set()
        present &= set(real)
        landed: dict[int, int] = {}
        if change.dest_uidnext:
            # An earlier attempt sent the command; its answer may have been lost.
            landed = await self._find(
                client,
                dest,
                change.dest_uidnext,
                dict(zip(uids, message_ids, strict=True)),
            )
            await self._select(client, op.folder_name, features)
        todo = [uid for uid in real if uid in present and uid not in landed]
        # Copied, but the original could not be expunged alone (see _remove): left marked.
        kept: list[int] = []
        if moving:
            # Copied by a lost attempt but not yet removed from the source (COPY fallback).
            leftovers = [uid for uid in real if uid in present and uid in landed]
            if leftovers and await self._remove(client, leftovers, features):
                kept.extend(leftovers)
        if todo:
            uidnext = await self._uidnext(client, dest)
            change = replace(change, dest_uidnext=uidnext)
            async with self.store.write() as unit:
                await unit.update_operation(
                    op.id,
                    folder_id=op.folder_id,
                    folder_name=op.folder_name,
                    payload=encode(change),
                )
            try:
                if moving and features.move:
                    copied = await client.uid_move(UidSet.of(todo), dest)
                else:
                    copied = await client.uid_copy(UidSet.of(todo), dest)
                    if moving and await self._remove(client, todo, features):
                        kept.extend(todo)
            except ImapCommandError as exc:
                if exc.code in TEMPORARY_CODES:
                    raise
                refused = _FolderMissing if exc.code in _GONE_CODES else _Rejected
                raise refused(f"could not {change.kind} to {dest}: {exc.text}") from None
            mapping = self._copyuid(copied, features)
            if len(mapping) < len(todo):
                self._selected = None
                mapping.update(
                    await self._find(
                        client,
                        dest,
                        uidnext,
                        {
                            uid: mid
                            for uid, mid in zip(uids, message_ids, strict=True)
                            if uid in todo and uid not in mapping
                        },
                    )
                )
            landed.update(mapping)
        async with self.store.write() as unit:
            resolved: dict[int, Target | None] = {}
            gone = 0
            for uid, new in zip(uids, provisional, strict=True):
                real_uid = landed.get(uid)
                if real_uid is not None:
                    await unit.change_uid(dest_id, new, real_uid)
                    resolved[new] = Target(dest_id, change.dest, real_uid)
                else:
                    # Gone before we got to it, or its new UID is unknowable (no UIDPLUS, no
                    # Message-ID): the provisional row goes; the next sync shows the real one.
                    await unit.remove_messages(dest_id, [new])
                    resolved[new] = None
                    gone += uid not in present
            await remap(unit, account_id, dest_id, resolved, after=op.id)
            if kept and op.folder_id is not None:
                await self._keep_originals(unit, account_id, op, change, kept, landed)
            if gone:
                unit.announce(
                    ChangeDropped(
                        account_id,
                        op.id,
                        change.kind,
                        f"{gone} message(s) were deleted on another device before the {change.kind}"
                        " reached the server; the change was dropped",
                    )
                )
            await unit.finish_operation(op.id)

    async def _keep_originals(
        self,
        unit: StoreWriter,
        account_id: int,
        op: QueuedOp,
        change: Transfer,
        kept: Sequence[int],
        landed: dict[int, int],
    ) -> None:
        """The originals of a COPY fallback that could not be expunged alone: shown again in
        the source as the server has them (marked ``\\Deleted``), and an ``Expunge`` of just
        them queued, which waits until no other message there is marked."""
        assert op.folder_id is not None
        snapshots = {row.uid: row for row in change.rows}
        originals: list[MessageRecord] = []
        for uid in kept:
            snapshot = snapshots.get(uid)
            copy = landed.get(uid)
            if snapshot is None and copy is not None:  # queued before moves kept snapshots
                rows = await unit.messages(change.dest_id, [copy])
                snapshot = _with_uid(rows[0], uid) if rows else None
            if snapshot is not None:
                originals.append(_marked_deleted(snapshot))
        await unit.upsert_messages(op.folder_id, originals)
        follow_up = Expunge(uids=tuple(kept), rows=tuple(originals))
        await unit.enqueue_operation(
            account_id,
            follow_up.kind,
            folder_id=op.folder_id,
            folder_name=op.folder_name,
            payload=encode(follow_up),
        )

    async def _uidnext(self, client: ImapClient, mailbox: str) -> int:
        try:
            status = await client.status(mailbox, ["UIDNEXT"])
        except ImapCommandError as exc:
            if exc.code in TEMPORARY_CODES:
                raise
            raise _FolderMissing(f"folder {mailbox} is gone from the server: {exc.text}") from None
        return status.uidnext or 1

    def _copyuid(self, copied: CopyUid | None, features: ServerFeatures) -> dict[int, int]:
        # Only trusted where UIDPLUS is announced (RFC 4315); otherwise the fallback decides.
        if copied is None or not features.uidplus:
            return {}
        return copied.mapping()

    async def _find(
        self, client: ImapClient, mailbox: str, uidnext: int, wanted: dict[int, str | None]
    ) -> dict[int, int]:
        """Find messages that reached ``mailbox`` at or above ``uidnext`` by Message-ID."""
        found: dict[int, int] = {}
        if not any(wanted.values()):
            return found
        self._selected = None
        await client.select(mailbox)
        self._selected = mailbox
        taken: set[int] = set()
        for uid, message_id in wanted.items():
            if not message_id:
                continue
            # "n:*" always includes the last message, even below n (RFC 3501 §6.4.8).
            hits = await client.uid_search(
                "UID", f"{uidnext}:*", "HEADER", "Message-ID", message_id
            )
            candidates = sorted(hit for hit in hits if hit >= uidnext and hit not in taken)
            if candidates:
                found[uid] = candidates[0]
                taken.add(candidates[0])
        return found

    async def _remove(
        self, client: ImapClient, uids: Sequence[int], features: ServerFeatures
    ) -> int:
        """``\\Deleted`` then expunge just ``uids`` of the selected folder (never others').

        Returns 0 when they are gone, else how many other messages are marked ``\\Deleted``
        (no UIDPLUS: a plain EXPUNGE would remove those too, so ours stay marked).
        """
        await client.uid_store(UidSet.of(uids), "+", [_DELETED])
        if features.uidplus:
            await client.uid_expunge(UidSet.of(uids))  # RFC 4315 §2.1
            return 0
        others = set(await client.uid_search("DELETED")) - set(uids)
        if not others:
            await client.expunge()  # only ours are \Deleted: a plain EXPUNGE is exact
        return len(others)

    # -- expunge -----------------------------------------------------------------------------

    async def _expunge(
        self,
        op: QueuedOp,
        change: Expunge,
        client: ImapClient,
        features: ServerFeatures,
    ) -> None:
        uids = [uid for uid in change.uids if uid > 0]
        folder = await self._select(client, op.folder_name, features)
        # Unconditional: our delete wins over a flag change made elsewhere meanwhile.
        others = await self._remove(client, uids, features) if uids else 0
        if others:
            # Still on the server, marked: shown so here too until the expunge can go.
            marked = tuple(_marked_deleted(row) for row in change.rows if row.uid in uids)
            async with self.store.write() as unit:
                if op.folder_id is not None:
                    shown = {row.uid for row in await unit.messages(op.folder_id, uids)}
                    missing = [row for row in marked if row.uid not in shown]
                    await unit.upsert_messages(op.folder_id, missing)
                # A rollback then restores them as the server has them: marked.
                await unit.update_operation(
                    op.id,
                    folder_id=op.folder_id,
                    folder_name=op.folder_name,
                    payload=encode(replace(change, rows=marked)),
                )
            raise _Held(_held_words(len(uids), folder, others))
        async with self.store.write() as unit:
            await unit.finish_operation(op.id)

    # -- append ------------------------------------------------------------------------------

    async def _append(
        self,
        account_id: int,
        op: QueuedOp,
        change: Append,
        client: ImapClient,
        features: ServerFeatures,
    ) -> None:
        if op.folder_name is None:
            raise _Rejected("its folder no longer exists")
        mailbox = decode_mailbox(op.folder_name)
        provisional = change.provisional
        message_id = change.message_id
        landed: dict[int, int] = {}
        if change.dest_uidnext:
            landed = await self._find(client, mailbox, change.dest_uidnext, {0: message_id})
        if not landed:
            uidnext = await self._uidnext(client, mailbox)
            change = replace(change, dest_uidnext=uidnext)
            async with self.store.write() as unit:
                await unit.update_operation(
                    op.id,
                    folder_id=op.folder_id,
                    folder_name=op.folder_name,
                    payload=encode(change),
                )
            when = datetime.fromtimestamp(change.internaldate, UTC)
            try:
                appended = await client.append(mailbox, change.raw, change.flags, when)
            except ImapCommandError as exc:
                if exc.code in TEMPORARY_CODES:
                    raise
                refused = _FolderMissing if exc.code in _GONE_CODES else _Rejected
                raise refused(f"could not add the message to {mailbox}: {exc.text}") from None
            if appended is not None and features.uidplus and appended.uids:
                landed = {0: next(iter(appended.uids))}
            else:
                landed = await self._find(client, mailbox, uidnext, {0: message_id})
        async with self.store.write() as unit:
            target: Target | None = None
            if op.folder_id is not None and 0 in landed:
                await unit.change_uid(op.folder_id, provisional, landed[0])
                target = Target(op.folder_id, op.folder_name, landed[0])
            elif op.folder_id is not None:
                await unit.remove_messages(op.folder_id, [provisional])
            if op.folder_id is not None:
                await remap(unit, account_id, op.folder_id, {provisional: target}, after=op.id)
            await unit.finish_operation(op.id)

    # -- folders -----------------------------------------------------------------------------

    async def _folder_op(
        self,
        op: QueuedOp,
        change: CreateFolder | RenameFolder | DeleteFolder,
        client: ImapClient,
    ) -> None:
        assert op.folder_name is not None
        name = decode_mailbox(op.folder_name)
        self._selected = None
        try:
            match change:
                case CreateFolder():
                    try:
                        await client.create(name)
                    except ImapCommandError as exc:
                        if exc.code != "ALREADYEXISTS":  # RFC 5530: done by someone: fine
                            raise
                    await client.subscribe(name)
                case RenameFolder():
                    await self._rename(client, op, name, decode_mailbox(change.new))
                case DeleteFolder():
                    try:
                        await client.delete(name)
                    except ImapCommandError as exc:
                        if exc.code != "NONEXISTENT":  # gone already: what we wanted
                            raise
                case _:
                    assert_never(change)
        except ImapCommandError as exc:
            if exc.code in TEMPORARY_CODES:
                raise
            raise _Rejected(_human(op, exc)) from None
        async with self.store.write() as unit:
            await unit.finish_operation(op.id)

    async def _rename(self, client: ImapClient, op: QueuedOp, old: str, new: str) -> None:
        """RENAME, and the subscriptions move with the names.

        RENAME takes the folders under ``old`` along (RFC 3501 §6.3.5) but not their
        subscriptions: servers keep subscriptions by name (§6.3.6; Dovecot leaves them under
        the old names), and an unsubscribed folder is one the engine stops showing.
        """
        folder = await self.store.folder(op.folder_id) if op.folder_id is not None else None
        delimiter = folder.delimiter if folder is not None else None
        inferiors: list[str] = []
        if delimiter:
            prefix = old + delimiter
            # The pattern's own "*"/"%" in a name may match more: keep the real inferiors.
            inferiors = [
                entry.name[len(prefix) :]
                for entry in await client.list_mailboxes(prefix + "*", special_use=False)
                if entry.name.startswith(prefix)
                and "\\subscribed" in {a.lower() for a in entry.attributes}
            ]
        await client.rename(old, new)
        moved = [(old, new)]
        if delimiter:
            moved += [(old + delimiter + rest, new + delimiter + rest) for rest in inferiors]
        for was, now in moved:
            # The RENAME is done: a refused subscription must not roll it back here.
            try:
                await client.subscribe(now)
            except ImapCommandError as exc:
                log.warning("%s: could not subscribe %s: %s", self.account_name, now, exc)
            with contextlib.suppress(ImapCommandError):  # never subscribed: nothing to undo
                await client.unsubscribe(was)

    # -- rejection ---------------------------------------------------------------------------

    async def _hold(
        self, account_id: int, batch: list[QueuedOp], message: str, now: float
    ) -> float:
        """Keep the operation queued, due again after a backoff; say why the first time."""
        first = batch[0]
        delay = backoff_ceiling(first.attempts, self.backoff_initial, self.backoff_max)
        log.info("%s: operation %d waits %.0f s: %s", self.account_name, first.id, delay, message)
        async with self.store.write() as unit:
            for op in batch:
                await unit.fail_operation(
                    op.id, message, give_up=False, next_attempt_at=int(now + delay)
                )
            if first.attempts == 0:
                unit.announce(OperationHeld(account_id, first.id, first.kind, message))
        return delay

    async def _reject(self, account_id: int, batch: list[QueuedOp], message: str) -> None:
        """Roll the local change back, park the operation as failed, and say so (after the
        commit: the event never announces a rollback that did not happen)."""
        log.warning(
            "%s: operation %d (%s) rejected: %s",
            self.account_name,
            batch[0].id,
            batch[0].kind,
            message,
        )
        async with self.store.write() as unit:
            for op in batch:
                await _roll_back(unit, account_id, op)
                await unit.fail_operation(op.id, message, give_up=True)
                unit.announce(OperationFailed(account_id, op.id, op.kind, message))

    async def _park_unreadable(self, account_id: int, op: PendingOperation, message: str) -> None:
        """Park an operation whose payload cannot be read as failed, and say so: it stays in
        the queue, shown (``mailtui queue``), to be discarded. Its local change cannot be
        rolled back without the payload; the next sync shows the server's state."""
        log.warning(
            "%s: operation %d (%s) rejected: %s", self.account_name, op.id, op.kind, message
        )
        async with self.store.write() as unit:
            await unit.fail_operation(op.id, message, give_up=True)
            unit.announce(OperationFailed(account_id, op.id, op.kind, message))


async def _roll_back(unit: StoreWriter, account_id: int, op: QueuedOp) -> None:
    change = op.change
    match change:
        case FlagChange():
            if op.folder_id is not None:
                await unit.change_flags(op.folder_id, change.uids, change.remove, change.add)
        case Transfer():
            dest_id = change.dest_id
            resolved: dict[int, Target | None] = {}
            snapshots = change.rows
            for index, (uid, new) in enumerate(zip(change.uids, change.provisional, strict=True)):
                rows = await unit.messages(dest_id, [new])
                await unit.remove_messages(dest_id, [new])
                if (
                    change.kind == "move"
                    and op.folder_id is not None
                    and op.folder_name is not None
                ):
                    if rows:  # still where we put it: it goes back, with later flag changes
                        await unit.upsert_messages(op.folder_id, [_with_uid(rows[0], uid)])
                    elif index < len(snapshots) and not await referenced(
                        unit, account_id, dest_id, new, after=op.id
                    ):
                        # Its row went with its destination folder, and no later operation
                        # moved or deleted it: it goes back as it was queued.
                        await unit.upsert_messages(op.folder_id, [snapshots[index]])
                    resolved[new] = Target(op.folder_id, op.folder_name, uid)
                else:
                    resolved[new] = None
            await remap(unit, account_id, dest_id, resolved, after=op.id)
        case Expunge():
            if op.folder_id is not None:
                await unit.upsert_messages(op.folder_id, change.rows)
        case Append():
            if op.folder_id is not None:
                await unit.remove_messages(op.folder_id, [change.provisional])
                await remap(unit, account_id, op.folder_id, {change.provisional: None}, after=op.id)
        case CreateFolder():
            if op.folder_id is not None:
                await unit.delete_folder(op.folder_id)
        case RenameFolder():
            if op.folder_id is not None and op.folder_name is not None:
                await unit.rename_folder(
                    op.folder_id,
                    op.folder_name,
                    change.old_display or decode_mailbox(op.folder_name),
                    inferiors=True,
                )
        case DeleteFolder():
            pass  # the folder comes back with the next folder-list sync
        case _:
            assert_never(change)


def _marked_deleted(record: MessageRecord) -> MessageRecord:
    """``record`` with ``\\Deleted`` among its flags (as a kept original is on the server)."""
    if any(flag.lower() == _DELETED.lower() for flag in record.flags):
        return record
    return replace(record, flags=(*record.flags, _DELETED))


def _held_words(count: int, folder: str, others: int) -> str:
    """Why an expunge waits, and what the user sees meanwhile."""
    ours = "1 message stays" if count == 1 else f"{count} messages stay"
    theirs = "1 other message there is" if others == 1 else f"{others} other messages there are"
    return (
        f"{ours} in {folder} marked deleted: {theirs} marked deleted by another client, and"
        " this server cannot expunge only ours (no UIDPLUS); removed once those are expunged"
        " or unmarked"
    )


def _with_uid(row: MessageRow, uid: int) -> MessageRecord:
    return replace(record_of(row), uid=uid)


def _flag_batch(first: QueuedOp, ops: list[PendingOperation]) -> list[QueuedOp]:
    """The first op and the consecutive flag ops that can share its UID STORE: same folder,
    same delta (order between different deltas is kept). ``ops[0]`` is ``first``, undecoded;
    an unreadable one ends the batch (its own turn parks it)."""
    if not isinstance(first.change, FlagChange):
        return [first]
    key = (first.folder_id, first.folder_name, _delta(first.change))
    batch = [first]
    for row in ops[1:]:
        if row.kind != "flags" or row.next_attempt_at is not None:
            break
        try:
            op = load(row)
        except UnreadableOperation:
            break
        if not isinstance(op.change, FlagChange):
            break
        if (op.folder_id, op.folder_name, _delta(op.change)) != key:
            break
        batch.append(op)
    return batch


def _delta(change: FlagChange) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(sorted(change.add)), tuple(sorted(change.remove))


_WHAT: dict[OperationKind, str] = {
    "flags": "change flags",
    "move": "move messages",
    "copy": "copy messages",
    "expunge": "delete messages",
    "append": "add a message",
    "create_folder": "create the folder",
    "rename_folder": "rename the folder",
    "delete_folder": "delete the folder",
}


def _human(op: QueuedOp, exc: ImapCommandError) -> str:
    what = _WHAT[op.kind]
    where = f" in {decode_mailbox(op.folder_name)}" if op.folder_name else ""
    if exc.code in _GONE_CODES:
        return f"could not {what}{where}: the folder no longer exists ({exc.text})"
    return f"could not {what}{where}: the server said {exc.status} {exc.text}"
