"""Reconcile one folder of the store with its server folder.

The algorithm, and the RFC sections it follows:

1. SELECT, with ``(QRESYNC (uidvalidity modseq))`` when the server has QRESYNC enabled and we
   know both (RFC 7162 §3.2.5), else with ``(CONDSTORE)`` (RFC 7162 §3.1.8).
2. UIDVALIDITY differs from ours: every UID we hold is meaningless (RFC 3501 §2.3.1.1, RFC 9051
   §2.3.1.1). The folder is reset (bodies are kept by content and re-linked by Message-ID and
   size as the messages come back) and synced from scratch.
3. Changes to known messages: with QRESYNC, the VANISHED (EARLIER) and FETCH responses of the
   SELECT (RFC 7162 §3.2.5.1, §3.2.10); with CONDSTORE, ``UID FETCH 1:high (FLAGS)
   (CHANGEDSINCE modseq)`` (RFC 7162 §3.1.4) plus a UID SEARCH to find expunges; otherwise a
   full ``UID FETCH low:high (FLAGS)`` scan, which also finds expunges (RFC 4549 §4.3).
4. New messages: ``UID FETCH high+1:*``, keeping only UIDs above ``high``: a range ending in
   ``*`` always includes the last message, even when its UID is below the range (RFC 3501
   §6.4.8, RFC 9051 §6.4.9).
5. First sync (or its resumption): newest first, in batches. Each batch is committed together
   with the progress mark ``synced_low_uid`` (everything from it up to ``synced_high_uid`` is in
   the store), as isync commits its state with its high-water marks, so a kill -9 at any point
   resumes below the last committed batch and never duplicates (the store is keyed by UID).

HIGHESTMODSEQ is recorded as the SELECT reported it, only after the changes it covers are
committed; anything changed later has a higher MODSEQ and is reported again next time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from sync.engine.convert import (
    HEADER_FIELDS_SECTION,
    header_row,
    record_from_fetch,
    stored_flags,
)
from sync.engine.events import EngineEvent, FolderSynced, NewMail, SyncProgress
from sync.imap import (
    FetchResult,
    ImapClient,
    QresyncParams,
    SelectResult,
    ServerFeatures,
    UidSet,
    decode_mailbox,
)
from sync.store import (
    FolderMarks,
    FolderRow,
    MessageFields,
    MessageRecord,
    Store,
    message_fields,
)

__all__ = ["FolderSynchronizer", "header_items"]

log = logging.getLogger(__name__)


def header_items(features: ServerFeatures) -> list[str]:
    """The FETCH items a list row needs (bodies come later, on demand or by prefetch)."""
    items = [
        "UID",
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODYSTRUCTURE",
        HEADER_FIELDS_SECTION,
    ]
    if features.condstore:
        items.append("MODSEQ")
    return items


@dataclass(slots=True)
class _Tally:
    added: int = 0
    removed: int = 0
    changed: int = 0


class FolderSynchronizer:
    """Brings folders of one account up to date over one selected-state connection."""

    def __init__(
        self,
        client: ImapClient,
        store: Store,
        features: ServerFeatures,
        *,
        account: str,
        publish: Callable[[EngineEvent], None] | None = None,
        first_batch: int = 200,
        batch_size: int = 16384,
        chunk_size: int = 40000,
    ) -> None:
        self.client = client
        self.store = store
        self.features = features
        self.account = account
        self._publish = publish or (lambda event: None)
        self.first_batch = first_batch
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self._items = header_items(features)

    async def sync(self, folder: FolderRow, *, announce_new: bool = False) -> FolderSynced:
        """Reconcile ``folder``; return what changed. ``announce_new`` publishes ``NewMail``
        for unread messages that arrived since the last sync (live mode)."""
        marks = folder.marks
        # The store keeps the server's spelling (modified UTF-7); the client encodes names.
        mailbox = decode_mailbox(folder.name)
        use_qresync = (
            self.features.qresync
            and marks.uidvalidity is not None
            and marks.highestmodseq is not None
        )
        if use_qresync:
            assert marks.uidvalidity is not None and marks.highestmodseq is not None
            selected = await self.client.select(
                mailbox,
                qresync=QresyncParams(marks.uidvalidity, marks.highestmodseq),
            )
        else:
            selected = await self.client.select(mailbox, condstore=self.features.condstore)
        uidvalidity = selected.uidvalidity or 0
        tally = _Tally()

        if marks.uidvalidity is not None and marks.uidvalidity != uidvalidity:
            log.info(
                "%s/%s: UIDVALIDITY %s -> %s, re-syncing",
                self.account,
                folder.name,
                marks.uidvalidity,
                uidvalidity,
            )
            async with self.store.write() as unit:
                await unit.reset_folder(folder.id, uidvalidity)
            marks = FolderMarks(uidvalidity=uidvalidity)
            use_qresync = False

        modseq_usable = (
            self.features.condstore and selected.highestmodseq is not None and not selected.nomodseq
        )
        select_modseq = selected.highestmodseq if modseq_usable else None

        if marks.synced_high_uid is None:
            marks = await self._start_first_sync(folder, selected, uidvalidity, select_modseq)
        else:
            marks = await self._apply_changes(
                folder, marks, selected, use_qresync=use_qresync, tally=tally
            )
            marks = replace(marks, highestmodseq=select_modseq)
            async with self.store.write() as unit:
                await unit.set_folder_marks(folder.id, marks)
            marks = await self._fetch_new(folder, marks, selected, tally, announce_new)

        await self._backfill(folder, marks, tally)
        result = FolderSynced(self.account, folder.name, tally.added, tally.removed, tally.changed)
        self._publish(result)
        return result

    async def _start_first_sync(
        self,
        folder: FolderRow,
        selected: SelectResult,
        uidvalidity: int,
        select_modseq: int | None,
    ) -> FolderMarks:
        if selected.uidnext is not None:
            high = selected.uidnext - 1
        else:  # servers must send UIDNEXT (RFC 3501 §6.3.1), but ask rather than guess
            found = await self.client.uid_search("ALL") if selected.exists else []
            high = max(found, default=0)
        marks = FolderMarks(
            uidvalidity=uidvalidity,
            uidnext=selected.uidnext,
            highestmodseq=select_modseq,
            synced_low_uid=high + 1,
            synced_high_uid=high,
        )
        async with self.store.write() as unit:
            await unit.set_folder_marks(folder.id, marks)
        return marks

    async def _apply_changes(
        self,
        folder: FolderRow,
        marks: FolderMarks,
        selected: SelectResult,
        *,
        use_qresync: bool,
        tally: _Tally,
    ) -> FolderMarks:
        """Flag changes and expunges among the UIDs we already hold."""
        high = marks.synced_high_uid or 0
        low = marks.synced_low_uid or 1
        removed: list[int] = []
        updates: list[tuple[int, Sequence[str], int | None]] = []
        if high < 1 or low > high:
            return marks
        if use_qresync:
            # RFC 7162 §3.2.5.1: VANISHED (EARLIER) lists UIDs expunged since our MODSEQ.
            removed = [uid for uid in _iter_uids(selected.vanished, high) if uid <= high]
            updates = _flag_updates(selected.changes, high)
        elif marks.highestmodseq is not None and self.features.condstore:
            changed = await self.client.uid_fetch(
                f"1:{high}", ["UID", "FLAGS"], changedsince=marks.highestmodseq
            )
            updates = _flag_updates(changed, high)
            removed = await self._missing_uids(folder, low, high)
        else:
            everything = await self.client.uid_fetch(f"{low}:{high}", ["UID", "FLAGS"])
            updates = _flag_updates(everything, high)
            present = {uid for uid, _, _ in updates}
            held = await self.store.folder_uids(folder.id)
            removed = [uid for uid in held if low <= uid <= high and uid not in present]
        if removed or updates:
            before = await self.store.message_count(folder.id)
            async with self.store.write() as unit:
                await unit.remove_messages(folder.id, removed)
                await unit.set_flags(folder.id, updates)
            tally.removed += before - await self.store.message_count(folder.id)
            tally.changed += len(updates)
        return marks

    async def _missing_uids(self, folder: FolderRow, low: int, high: int) -> list[int]:
        """UIDs we hold in [low, high] that the server no longer has (RFC 4549 §4.3)."""
        on_server = set(await self.client.uid_search("UID", f"{low}:{high}"))
        held = await self.store.folder_uids(folder.id)
        return [uid for uid in held if low <= uid <= high and uid not in on_server]

    async def _fetch_new(
        self,
        folder: FolderRow,
        marks: FolderMarks,
        selected: SelectResult,
        tally: _Tally,
        announce_new: bool,
    ) -> FolderMarks:
        high = marks.synced_high_uid or 0
        if selected.uidnext is not None and selected.uidnext - 1 <= high:
            return replace(marks, uidnext=selected.uidnext)
        if selected.exists == 0:
            return replace(marks, uidnext=selected.uidnext)
        announced: list[MessageRecord] = []
        async for batch in self.client.uid_fetch_iter(f"{high + 1}:*", self._items):
            # RFC 3501 §6.4.8: "n:*" includes the last message even when its UID is below n.
            records = [record_from_fetch(item) for item in batch if (item.uid or 0) > high]
            if not records:
                continue
            top = max(record.uid for record in records)
            marks = replace(marks, synced_high_uid=max(top, marks.synced_high_uid or 0))
            async with self.store.write() as unit:
                await unit.upsert_messages(folder.id, records)
                await unit.set_folder_marks(folder.id, marks)
            tally.added += len(records)
            if announce_new:
                announced.extend(r for r in records if "\\seen" not in _lower(r.flags))
        uidnext = selected.uidnext
        if uidnext is None or uidnext <= (marks.synced_high_uid or 0):
            uidnext = (marks.synced_high_uid or 0) + 1
        marks = replace(marks, uidnext=uidnext)
        async with self.store.write() as unit:
            await unit.set_folder_marks(folder.id, marks)
        for record in announced:
            self._publish(
                NewMail(
                    self.account,
                    folder.name,
                    folder.id,
                    record.uid,
                    record.from_name or record.from_addr,
                    record.subject,
                )
            )
        return marks

    async def _backfill(self, folder: FolderRow, marks: FolderMarks, tally: _Tally) -> None:
        """Fetch what lies below ``synced_low_uid``, newest first.

        UIDs go out in chunks, newest chunk first (the first one small, so the newest mail
        shows at once). Within a chunk the FETCH streams: rows are committed as they arrive,
        while the server keeps sending, and the progress mark moves below the chunk only
        with its last rows. A crash inside a chunk fetches that chunk again, which rewrites
        nothing (rows are keyed by UID and unchanged rows are not rewritten).

        Fetching and committing overlap: batches go to :meth:`_commit_batches` through a
        short queue, in order, and the next chunk's UID FETCH goes out as soon as the last
        one completes, not after its rows are committed. So the server, our parser and
        SQLite's thread (which runs without the GIL while it steps) work at the same time.
        Each batch is still one unit of work, committed in fetch order, and a chunk's last
        batch carries its progress mark: what is committed is always a prefix of what was
        fetched, so the crash guarantee above is unchanged.
        """
        low = marks.synced_low_uid or 1
        if low <= 1:
            if marks.last_full_sync is None:
                async with self.store.write() as unit:
                    await unit.set_folder_marks(
                        folder.id, replace(marks, synced_low_uid=1, last_full_sync=_now())
                    )
            return
        pending = sorted(await self.client.uid_search("UID", f"1:{low - 1}"), reverse=True)
        pending = [uid for uid in pending if uid < low]
        if not pending:
            async with self.store.write() as unit:
                await unit.set_folder_marks(
                    folder.id, replace(marks, synced_low_uid=1, last_full_sync=_now())
                )
            return
        total = len(pending) + await self.store.message_count(folder.id)
        progress = _Progress(done=total - len(pending), total=total)
        # Two batches in flight at most: memory stays bounded when SQLite is the slower.
        # Batches are big because each unit of work costs the store's thread a few waits for
        # the GIL, held by the event loop while it parses (about 5 ms each, the switch
        # interval): 4,096 rows per unit made SQLite the bottleneck, 16,384 do not.
        batches: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=2)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._commit_batches(folder, batches, tally, progress))
                await self._fetch_batches(pending, marks, batches)
                await batches.put(None)
        except BaseExceptionGroup as group:
            # Callers handle IMAP and store errors by type, as before the TaskGroup: the
            # error that stopped the backfill, not a group around it.
            raise _first_error(group) from None

    async def _fetch_batches(
        self,
        pending: list[int],
        marks: FolderMarks,
        batches: asyncio.Queue[_Batch | None],
    ) -> None:
        """Fetch ``pending`` (newest first) chunk by chunk; queue exact-size batches, each
        chunk's last one with the marks that record the chunk as done."""
        position = 0
        size = self.first_batch
        while position < len(pending):
            chunk = pending[position : position + size]
            position += len(chunk)
            size = self.chunk_size
            wanted = set(chunk)
            buffered: list[MessageFields] = []
            # Rows straight from the wire (header_row); what it leaves, the exact parser.
            async for rows, results in self.client.uid_fetch_rows(
                UidSet.of(chunk), self._items, header_row
            ):
                buffered += rows
                buffered += [
                    message_fields(record_from_fetch(i)) for i in results if i.uid in wanted
                ]
                while len(buffered) >= self.batch_size:
                    await batches.put(_Batch(buffered[: self.batch_size], None))
                    del buffered[: self.batch_size]
            finished = position >= len(pending)
            marks = replace(
                marks,
                synced_low_uid=1 if finished else min(chunk),
                last_full_sync=_now() if finished else marks.last_full_sync,
            )
            await batches.put(_Batch(buffered, marks))
            if position == len(chunk):  # the first, newest chunk
                # The newest page goes in before anything else competes with its commit:
                # it is what the screen shows first.
                await batches.join()

    async def _commit_batches(
        self,
        folder: FolderRow,
        batches: asyncio.Queue[_Batch | None],
        tally: _Tally,
        progress: _Progress,
    ) -> None:
        """Commit queued batches in order, one unit of work each, until the end marker."""
        while (batch := await batches.get()) is not None:
            async with self.store.write() as unit:
                await unit.upsert_rows(folder.id, batch.rows)
                if batch.marks is not None:
                    await unit.set_folder_marks(folder.id, batch.marks)
            progress.done += len(batch.rows)
            tally.added += len(batch.rows)
            self._publish(SyncProgress(self.account, folder.name, progress.done, progress.total))
            batches.task_done()


@dataclass(slots=True)
class _Batch:
    """Rows to commit together, and the marks to commit with them (a chunk's last batch)."""

    rows: list[MessageFields]
    marks: FolderMarks | None


@dataclass(slots=True)
class _Progress:
    done: int
    total: int


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """The first exception inside ``group`` (groups nest when TaskGroups do)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _iter_uids(uids: UidSet, high: int) -> Iterable[int]:
    for low_end, high_end in uids.ranges:
        start = low_end if low_end is not None else high
        stop = high_end if high_end is not None else high
        yield from range(start, min(stop, high) + 1)


def _flag_updates(
    items: Iterable[FetchResult], high: int
) -> list[tuple[int, Sequence[str], int | None]]:
    return [
        (item.uid, stored_flags(item.flags), item.modseq)
        for item in items
        if item.uid is not None and item.flags is not None and item.uid <= high
    ]


def _lower(flags: Iterable[str]) -> set[str]:
    return {flag.lower() for flag in flags}


def _now() -> int:
    return int(time.time())
