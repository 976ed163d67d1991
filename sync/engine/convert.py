"""FETCH results to store records: the one place server data is shaped for the store.

Strings stay raw here (the store keeps what the server said); cleaning for display happens at
the UI's edge with ``sync.clean.clean_text``.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence

from sync.imap import Address, FetchResult
from sync.mime.charsets import decode_header_bytes
from sync.store import MessageRecord

__all__ = ["HEADER_FIELDS_SECTION", "format_addresses", "record_from_fetch", "stored_flags"]

# RFC 3501 §6.4.5: BODY.PEEK does not set \Seen. References is not in ENVELOPE.
HEADER_FIELDS_SECTION = "BODY.PEEK[HEADER.FIELDS (REFERENCES)]"
_FOLDED = re.compile(r"\r?\n[ \t]+")


def stored_flags(flags: Sequence[str] | None) -> tuple[str, ...]:
    """The flags worth keeping: ``\\Recent`` belongs to one session (RFC 3501 §2.3.2) and is
    gone from IMAP4rev2 (RFC 9051), so it is never stored."""
    if not flags:
        return ()
    return tuple(flag for flag in flags if flag.lower() != "\\recent")


def format_addresses(addresses: Sequence[Address]) -> str:
    """Render ENVELOPE addresses as ``Name <a@b>, c@d`` (group members listed plainly)."""
    rendered: list[str] = []
    for address in addresses:
        mail = address.email
        if not mail:
            continue
        rendered.append(
            email.utils.formataddr((address.name or "", mail)) if address.name else mail
        )
    return ", ".join(rendered)


def _epoch_of_date_header(value: str | None) -> int | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    try:
        return int(parsed.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def _references(item: FetchResult) -> str | None:
    raw = item.section(HEADER_FIELDS_SECTION)
    if not raw:
        return None
    text = _FOLDED.sub(" ", decode_header_bytes(raw)).strip()
    _, _, value = text.partition(":")
    return value.strip() or None


def record_from_fetch(item: FetchResult) -> MessageRecord:
    """Build the store's record of one message from its FETCH response.

    Requires UID; everything else degrades gracefully (a server may send NIL anywhere).
    """
    if item.uid is None:
        raise ValueError("FETCH response without UID")
    envelope = item.envelope
    internaldate = int(item.internaldate.timestamp()) if item.internaldate is not None else 0
    sender = envelope.from_[0] if envelope is not None and envelope.from_ else None
    date = _epoch_of_date_header(envelope.date if envelope is not None else None)
    return MessageRecord(
        uid=item.uid,
        message_id=envelope.message_id if envelope is not None else None,
        subject=(envelope.subject or "") if envelope is not None else "",
        from_name=(sender.name or "") if sender is not None else "",
        from_addr=sender.email if sender is not None else "",
        to=format_addresses(envelope.to) if envelope is not None else "",
        cc=format_addresses(envelope.cc) if envelope is not None else "",
        date=date if date is not None else internaldate,
        internaldate=internaldate,
        size=item.size or 0,
        flags=stored_flags(item.flags),
        modseq=item.modseq,
        has_attachment=item.bodystructure.has_attachment if item.bodystructure else False,
        in_reply_to=envelope.in_reply_to if envelope is not None else None,
        references=_references(item),
    )
