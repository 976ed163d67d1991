"""FETCH results to store records: the one place server data is shaped for the store.

Strings stay raw here (the store keeps what the server said); cleaning for display happens at
the UI's edge with ``sync.clean.clean_text``.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence
from datetime import UTC, datetime

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


_NEEDS_QUOTES = re.compile(r'[()<>\[\]:;@\\,."]')


def format_addresses(addresses: Sequence[Address]) -> str:
    """Render ENVELOPE addresses as ``Name <a@b>, c@d`` (group members listed plainly).

    Names are quoted when RFC 5322 specials require it; this runs for every message of a
    first sync, so it avoids ``email.utils.formataddr`` (which also re-encodes names).
    """
    rendered: list[str] = []
    for address in addresses:
        mail = address.email
        if not mail:
            continue
        name = address.name
        if not name:
            rendered.append(mail)
        elif _NEEDS_QUOTES.search(name):
            escaped = name.replace("\\", "\\\\").replace('"', '\\"')
            rendered.append(f'"{escaped}" <{mail}>')
        else:
            rendered.append(f"{name} <{mail}>")
    return ", ".join(rendered)


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# The RFC 5322 §3.3 date-time nearly every message uses; anything else takes the slow path.
_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s+([+-])(\d{2})(\d{2})\b"
)


def _epoch_of_date_header(value: str | None) -> int | None:
    if not value:
        return None
    match = _DATE.match(value)
    if match is not None:
        day, month_name, year, hour, minute, second, sign, off_h, off_m = match.groups()
        month = _MONTHS.get(month_name.lower())
        if month is not None:
            try:  # datetime validates the fields, as the slow path would
                moment = datetime(
                    int(year), month, int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC
                )
            except ValueError:
                moment = None
            if moment is not None:
                offset = (int(off_h) * 3600 + int(off_m) * 60) * (1 if sign == "+" else -1)
                return int(moment.timestamp()) - offset
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
    if not raw or len(raw) <= 2:  # most messages: no References, the section is just CRLF
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
