"""A small hand-made corpus with known answers for every query operator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sync.sample_mail import make_message
from sync.store import MessageRecord, Store
from sync.store.search import index_pending_bodies


def epoch(day: str, hour: int = 12) -> int:
    """Epoch seconds of ``day`` (YYYY-MM-DD) at ``hour`` UTC."""
    return int(datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Mail:
    """One corpus message: where it lives, its list-row data, and its body text (or None)."""

    name: str
    folder: str
    uid: int
    subject: str
    sender: tuple[str, str]
    to: str
    day: str
    flags: tuple[str, ...] = ()
    body: str | None = None
    cc: str = ""
    attachment: bool = False
    message_id: str = field(default="")


CORPUS = (
    Mail(
        "A1",
        "INBOX",
        1,
        "Lunch on Thursday?",
        ("Maria Schmidt", "maria.schmidt@example.de"),
        "Alex <alex@example.org>",
        "2025-01-10",
        (),
        "Shall we try the new ramen place?",
    ),
    Mail(
        "A2",
        "INBOX",
        2,
        "Quarterly report draft",
        ("James O'Brien", "jobrien@example.ie"),
        "Alex <alex@example.org>",
        "2025-01-12",
        ("\\Seen", "\\Flagged"),
        "Attached the quarterly report. Budget numbers inside.",
        cc="Priya Natarajan <priya@example.in>",
        attachment=True,
    ),
    Mail(
        "A3",
        "INBOX",
        3,
        "Re: Lunch on Thursday?",
        ("Alex", "alex@example.org"),
        "Maria Schmidt <maria.schmidt@example.de>",
        "2025-01-11",
        ("\\Seen", "\\Answered"),
        "Ramen sounds great",
    ),
    Mail(
        "A4",
        "INBOX",
        4,
        "Überweisung bestätigt",
        ("Bank of Example", "alerts@bank.example"),
        "Alex <alex@example.org>",
        "2025-01-15",
        (),
        "Ihre Überweisung wurde ausgeführt.",
    ),
    Mail(
        "A5",
        "INBOX",
        5,
        "Build failed: main",
        ("", "ops+alerts@monitoring.example.net"),
        "Alex <alex@example.org>",
        "2025-01-20",
        ("\\Seen",),
        None,
    ),
    Mail(
        "A6",
        "INBOX",
        6,
        "Photos from the weekend",
        ("José García", "jgarcia@example.es"),
        "Alex <alex@example.org>",
        "2025-01-05",
        ("\\Seen", "\\Draft"),
        "report repository photos",
        attachment=True,
    ),
    Mail(
        "B1",
        "Archive",
        1,
        "Contract final version",
        ("Léa Dubois", "lea.dubois@example.fr"),
        "Alex <alex@example.org>",
        "2024-12-20",
        ("\\Seen",),
        "the quarterly budget is attached; lunch later",
    ),
    Mail(
        "C10",
        "Lists/python",
        10,
        "[python-dev] Proposal: drop 3.9",
        ("Sam Taylor", "sam@example.org"),
        "python-dev@python.example",
        "2025-01-18",
        ("\\Flagged",),
        "We should drop Python 3.9 support",
    ),
)


def record_of(mail: Mail) -> MessageRecord:
    """The list row sync would write for ``mail``."""
    when = epoch(mail.day)
    return MessageRecord(
        uid=mail.uid,
        message_id=mail.message_id or f"<{mail.name}@corpus.example>",
        subject=mail.subject,
        from_name=mail.sender[0],
        from_addr=mail.sender[1],
        to=mail.to,
        cc=mail.cc,
        date=when,
        internaldate=when,
        size=1000 + mail.uid,
        flags=mail.flags,
        modseq=None,
        has_attachment=mail.attachment,
        in_reply_to=None,
        references=None,
    )


def raw_of(mail: Mail) -> bytes:
    """A raw message whose body is ``mail.body``."""
    assert mail.body is not None
    return make_message(
        mail.uid, subject=mail.subject, body=mail.body, message_id=f"<{mail.name}@corpus.example>"
    )


async def build(store: Store) -> dict[str, tuple[int, int]]:
    """Write the corpus (rows, bodies, index); return name -> (folder_id, uid)."""
    where: dict[str, tuple[int, int]] = {}
    async with store.write() as unit:
        account = await unit.ensure_account("acct", "alex@example.org")
        folders: dict[str, int] = {}
        for name in ("INBOX", "Archive", "Lists/python"):
            folders[name] = await unit.upsert_folder(
                account, name, display_name=name, delimiter="/", special_use=None
            )
        for mail in CORPUS:
            await unit.upsert_messages(folders[mail.folder], [record_of(mail)])
            where[mail.name] = (folders[mail.folder], mail.uid)
        for mail in CORPUS:
            if mail.body is not None:
                await unit.store_body(folders[mail.folder], mail.uid, raw_of(mail))
    while await index_pending_bodies(store):
        pass
    return where
