"""Typed rows that go into the store (what sync writes) and come out of it (what the UI reads).

All are frozen slots dataclasses: cheap to build for one page, never kept for a whole folder
(whole-folder reads return compact ``array('q')`` columns instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, TypeAlias

__all__ = [
    "AccountRow",
    "FolderMarks",
    "FolderRow",
    "MessageFields",
    "MessageRecord",
    "MessageRow",
    "OutgoingMessage",
    "PendingOperation",
    "SortKey",
    "flag_columns",
    "has_flag",
    "message_fields",
    "message_row",
    "record_of",
]


def has_flag(flags: tuple[str, ...], flag: str) -> bool:
    """Whether ``flag`` is in ``flags``, compared case-insensitively (RFC 3501 2.3.2)."""
    wanted = flag.lower()
    return any(f.lower() == wanted for f in flags)


@dataclass(frozen=True, slots=True)
class SortKey:
    """A position in a folder's list order: arrival time (INTERNALDATE), then UID."""

    sort_value: int
    uid: int


VIRTUAL_SPECIAL_USES: Final = frozenset({"\\all", "\\flagged", "\\important"})
"""Special uses (lower case) of folders that collect copies of mail kept elsewhere."""


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One configured account."""

    id: int
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class FolderMarks:
    """A folder's server state and sync progress, committed with the batch it describes.

    ``uidvalidity``/``uidnext`` as SELECT reports them (RFC 3501 2.3.1.1, 7.1); ``highestmodseq``
    for CONDSTORE/QRESYNC resyncs (RFC 7162 3.1.2.1, 3.2.5).

    ``synced_low_uid``/``synced_high_uid`` bound the UID range known to be complete in the store:
    a newest-first first sync lowers ``synced_low_uid`` batch by batch, so a crash resumes below
    it. ``last_full_sync`` is the epoch second of the last complete reconciliation.
    """

    uidvalidity: int | None = None
    uidnext: int | None = None
    highestmodseq: int | None = None
    synced_low_uid: int | None = None
    synced_high_uid: int | None = None
    last_full_sync: int | None = None


@dataclass(frozen=True, slots=True)
class FolderRow:
    """A folder with its counts and marks, as the folder list and the sync engine read it."""

    id: int
    account_id: int
    name: str
    display_name: str
    delimiter: str | None
    special_use: str | None
    attributes: tuple[str, ...]
    subscribed: bool
    total: int
    unread: int
    marks: FolderMarks

    @property
    def virtual(self) -> bool:
        """Whether this folder shows copies of messages kept in other folders: \\All,
        \\Flagged (RFC 6154) or \\Important (RFC 8457), e.g. Gmail's All Mail, Starred
        and Important. Synced too, every such message would be stored and counted twice."""
        uses = {attribute.lower() for attribute in self.attributes}
        if self.special_use:
            uses.add(self.special_use.lower())
        return not uses.isdisjoint(VIRTUAL_SPECIAL_USES)

    def syncable(self, *, show_all: bool, virtual: bool = False) -> bool:
        """Whether the engine keeps (and the UI lists) this folder: selectable, not a
        virtual view of mail kept elsewhere (unless ``virtual``), and subscribed unless
        ``show_all``; INBOX always."""
        lowered = {attribute.lower() for attribute in self.attributes}
        if "\\noselect" in lowered or "\\nonexistent" in lowered:
            return False
        if not virtual and self.virtual:
            return False
        return show_all or self.subscribed or self.name.upper() == "INBOX"


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message's list-row data as sync writes it (header strings raw, not yet cleaned).

    ``date`` and ``internaldate`` are epoch seconds; ``flags`` as the server spells them;
    ``to``/``cc`` are display strings ("Name <a@b>, ..."); ``references`` the raw header.
    """

    uid: int
    message_id: str | None
    subject: str
    from_name: str
    from_addr: str
    to: str
    cc: str
    date: int
    internaldate: int
    size: int
    flags: tuple[str, ...]
    modseq: int | None
    has_attachment: bool
    in_reply_to: str | None
    references: str | None


# One message row as the store writes it, a plain tuple (no per-message object in a bulk
# sync): uid, sort_value, message_id, subject, from_name, from_addr, to, cc, date,
# internaldate, size, flags (``flag_columns`` text), seen, flagged, modseq, has_attachment,
# in_reply_to, references. Build it with ``message_fields`` (or, for the sync engine's bulk
# path, directly, with ``flag_columns`` for the flag columns).
MessageFields: TypeAlias = tuple[
    int,
    int,
    str | None,
    str,
    str,
    str,
    str,
    str,
    int,
    int,
    int,
    str,
    bool,
    bool,
    int | None,
    bool,
    str | None,
    str | None,
]


@lru_cache(maxsize=4096)
def flag_columns(flags: tuple[str, ...]) -> tuple[str, bool, bool]:
    """The stored flags text (sorted, de-duplicated: the same set always compares equal, so a
    no-change resync is a no-op) and the seen and flagged columns (RFC 3501 2.3.2: flags are
    case-insensitive). A folder has few distinct flag sets: each is analysed once."""
    return " ".join(sorted(set(flags))), has_flag(flags, "\\Seen"), has_flag(flags, "\\Flagged")


def message_fields(record: MessageRecord) -> MessageFields:
    """The row tuple the store writes for ``record``."""
    flags_text, seen, flagged = flag_columns(record.flags)
    return (
        record.uid,
        record.internaldate,
        record.message_id,
        record.subject,
        record.from_name,
        record.from_addr,
        record.to,
        record.cc,
        record.date,
        record.internaldate,
        record.size,
        flags_text,
        seen,
        flagged,
        record.modseq,
        record.has_attachment,
        record.in_reply_to,
        record.references,
    )


def record_of(row: MessageRow) -> MessageRecord:
    """The ``MessageRecord`` that would write ``row`` back (to restore or copy it)."""
    return MessageRecord(
        uid=row.uid,
        message_id=row.message_id,
        subject=row.subject,
        from_name=row.from_name,
        from_addr=row.from_addr,
        to=row.to,
        cc=row.cc,
        date=row.date,
        internaldate=row.internaldate,
        size=row.size,
        flags=row.flags,
        modseq=row.modseq,
        has_attachment=row.has_attachment,
        in_reply_to=row.in_reply_to,
        references=row.references,
    )


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One message as a list row or the reader needs it."""

    folder_id: int
    uid: int
    message_id: str | None
    subject: str
    from_name: str
    from_addr: str
    to: str
    cc: str
    date: int
    internaldate: int
    size: int
    flags: tuple[str, ...]
    modseq: int | None
    has_attachment: bool
    in_reply_to: str | None
    references: str | None
    seen: bool
    flagged: bool
    has_body: bool

    @property
    def sort_key(self) -> SortKey:
        """This row's position in list order (pass it as ``after=`` for the next page)."""
        return SortKey(self.internaldate, self.uid)

    @property
    def answered(self) -> bool:
        """Whether the message carries ``\\Answered``."""
        return has_flag(self.flags, "\\Answered")

    @property
    def draft(self) -> bool:
        """Whether the message carries ``\\Draft``."""
        return has_flag(self.flags, "\\Draft")

    @property
    def deleted(self) -> bool:
        """Whether the message carries ``\\Deleted`` (marked, not yet expunged)."""
        return has_flag(self.flags, "\\Deleted")


@dataclass(frozen=True, slots=True)
class PendingOperation:
    """A local change waiting to reach the server (replayed in ``id`` order).

    ``folder_name`` is the server name at the time it was queued: the folder may be renamed or
    deleted before the operation goes out (``folder_id`` then becomes None). ``payload`` is
    JSON text whose meaning depends on ``kind``; the operations code owns both (the typed
    values in ``sync.ops.kinds``, written and read, versioned, by ``sync.ops.codec``).
    ``next_attempt_at`` (epoch seconds) holds a temporarily failed operation back until then.
    """

    id: int
    account_id: int
    kind: str
    folder_id: int | None
    folder_name: str | None
    payload: str
    created_at: int
    attempts: int
    last_error: str | None
    failed: bool
    next_attempt_at: int | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message in the outbox, kept until the SMTP server accepted it.

    ``state`` is ``queued``, ``sending`` (handed to the SMTP server, answer not recorded yet)
    or ``failed``; ``after_send`` is the JSON that ``sync.outbox`` acts on once it is sent.
    """

    id: int
    account_id: int
    raw: bytes
    envelope_from: str
    recipients: tuple[str, ...]
    created_at: int
    attempts: int
    next_attempt_at: int | None
    last_error: str | None
    failed: bool
    state: str = "queued"
    after_send: str = "{}"


def message_row(row: Sequence[Any]) -> MessageRow:
    """A ``MessageRow`` from a row selected as the store's ``MESSAGE_COLUMNS``, in order."""
    return MessageRow(
        folder_id=row[0],
        uid=row[1],
        message_id=row[2],
        subject=row[3],
        from_name=row[4],
        from_addr=row[5],
        to=row[6],
        cc=row[7],
        date=row[8],
        internaldate=row[9],
        size=row[10],
        flags=tuple(row[11].split()),
        modseq=row[12],
        has_attachment=bool(row[13]),
        in_reply_to=row[14],
        references=row[15],
        seen=bool(row[16]),
        flagged=bool(row[17]),
        has_body=bool(row[18]),
    )
