"""FETCH results to store records: the one place server data is shaped for the store.

Strings stay raw here (the store keeps what the server said); cleaning for display happens at
the UI's edge with ``sync.clean.clean_text``.

Two ways in, with the same results:

- :func:`record_from_fetch`: from a typed :class:`~sync.imap.FetchResult` (the exact parser);
- :func:`header_row`: the first sync's bulk path, straight from a FETCH response's text to
  the store's row tuple with one regular expression, for the responses of the shape servers
  send for :func:`~sync.engine.folder_sync.header_items` (no literal in a BODYSTRUCTURE, no
  group syntax in From/To/Cc, quoted strings with only the two RFC 3501 escapes, UTF-8...).
  Anything else returns None and takes the exact path. Tests check that both agree.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sync.imap import Address, FetchResult, ImapParseError
from sync.imap.lexer import RawResponse, tokenize
from sync.imap.parser import header_value, nstring_value, parse_bodystructure
from sync.mime.charsets import decode_header_bytes
from sync.store import MessageFields, MessageRecord, flag_columns

__all__ = [
    "HEADER_FIELDS_SECTION",
    "format_addresses",
    "header_row",
    "record_from_fetch",
    "stored_flags",
]

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


# Midnight (UTC epoch) of each (year, month, day) of a Date header seen, or None for a day
# that does not exist; mail of a folder spans few days per message.
_HEADER_DAYS: dict[tuple[str, str, str], int | None] = {}


def _epoch_of_date_header(value: str | None) -> int | None:
    if not value:
        return None
    match = _DATE.match(value)
    if match is not None:
        day, month_name, year, hour, minute, second, sign, off_h, off_m = match.groups()
        key = (year, month_name, day)
        start = _HEADER_DAYS.get(key, -1)
        if start == -1:
            month = _MONTHS.get(month_name.lower())
            try:  # datetime validates the day, as the slow path would
                start = (
                    int(datetime(int(year), month, int(day), tzinfo=UTC).timestamp())
                    if month is not None
                    else None
                )
            except ValueError:
                start = None
            if len(_HEADER_DAYS) > 20_000:
                _HEADER_DAYS.clear()
            _HEADER_DAYS[key] = start
        if start is not None:
            hours, minutes, seconds = int(hour), int(minute), int(second or 0)
            if hours < 24 and minutes < 60 and seconds < 60:  # as datetime checks them
                offset = (int(off_h) * 3600 + int(off_m) * 60) * (1 if sign == "+" else -1)
                return start + hours * 3600 + minutes * 60 + seconds - offset
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    try:
        return int(parsed.timestamp())
    except (OverflowError, OSError, ValueError):
        return None


def _references(item: FetchResult) -> str | None:
    return _references_of(item.section(HEADER_FIELDS_SECTION))


def _references_of(raw: bytes | None) -> str | None:
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


# ------------------------------------------------------------------ the first sync's bulk path

# Grammar pieces (RFC 3501 §9), possessive so that a response that does not fit fails fast.
# A quoted string with only the escapes RFC 3501 allows (\" and \\); a literal marker (its
# bytes are cut out by the assembler and kept in order in RawResponse.literals).
_QUOTED = r'"[^"\\\r\n]*+(?:\\["\\][^"\\\r\n]*+)*+"'
_LITERAL = r"\{[0-9]+\+?\}\r\n"
_NSTRING = rf"(?:NIL|{_QUOTED}|{_LITERAL})"
_ADDRESS = rf"\({_NSTRING} {_NSTRING} {_NSTRING} {_NSTRING}\)"
_ADDRESSES = rf"(?:NIL|\((?:{_ADDRESS})++\))"


def _nested(depth: int) -> str:
    """A parenthesised body of at most ``depth`` nested levels: atoms, numbers, NIL and
    quoted strings (a literal inside sends the response to the exact path)."""
    inner = rf'(?:[^()"\r\n{{}}\\]++|{_QUOTED})*+'
    for _ in range(depth):
        inner = rf'(?:[^()"\r\n{{}}\\]++|{_QUOTED}|\({inner}\))*+'
    return rf"\({inner}\)"


# The Date header as nearly all mail writes it (RFC 5322 §3.3), its parts captured: one of
# the values _DATE reads the same way. Any other spelling is read by _epoch_of_date_header.
_DATE_HEADER = (
    r'"(?:[A-Za-z]{3}, )?(?P<dday>[0-9]{1,2}) (?P<dmonth>[A-Za-z]{3}) (?P<dyear>[0-9]{4})'
    r" (?P<dhour>[0-9]{1,2}):(?P<dminute>[0-9]{2})(?::(?P<dsecond>[0-9]{2}))?"
    r' (?P<dsign>[+-])(?P<dzone_h>[0-9]{2})(?P<dzone_m>[0-9]{2})(?: [^"\\\r\n]*+)?"'
)
_ITEM = (
    r"(?:UID (?P<uid>[0-9]+)"
    r"|FLAGS \((?P<flags>(?:\\?[^\x00-\x20()\"{}\[\]\x7f\\%*]++(?: (?=[^)]))?)*+)\)"
    # RFC 3501 §9 date-time, exactly as the exact parser takes it (anything else: exact path).
    r'|INTERNALDATE "(?P<iday> [0-9]|[0-9][0-9])-(?P<imonth>[A-Za-z]{3})-(?P<iyear>[0-9]{4})'
    r" (?P<ihour>[0-9][0-9]):(?P<iminute>[0-9][0-9]):(?P<isecond>[0-9][0-9])"
    r' (?P<isign>[+-])(?P<izone_h>[0-9][0-9])(?P<izone_m>[0-9][0-9])"'
    r"|RFC822\.SIZE (?P<size>[0-9]+)"
    r"|MODSEQ \((?P<modseq>[0-9]+)\)"
    rf"|ENVELOPE \((?P<date>{_DATE_HEADER}|{_NSTRING}) (?P<subject>{_NSTRING})"
    rf" (?P<from>{_ADDRESSES})"
    rf" {_ADDRESSES} {_ADDRESSES} (?P<to>{_ADDRESSES}) (?P<cc>{_ADDRESSES}) {_ADDRESSES}"
    rf" (?P<in_reply_to>{_NSTRING}) (?P<message_id>{_NSTRING})\)"
    rf"|BODYSTRUCTURE (?P<bodystructure>{_nested(8)})"
    rf"|BODY\[HEADER\.FIELDS \(REFERENCES\)\] (?P<references>{_NSTRING}))"
)
# Items in any order, each once or more (the last one counts, as in the exact parser).
_HEADER_FETCH = re.compile(
    rf"\* [0-9]+ FETCH \((?:{_ITEM}(?: (?=[A-Z])|(?=\)\r\n\Z)))++\)\r\n\Z", re.ASCII
)
_ADDRESS_PARTS = re.compile(rf"\(({_NSTRING}) ({_NSTRING}) ({_NSTRING}) ({_NSTRING})\)", re.ASCII)
_GROUPS = (
    "uid",
    "flags",
    "iday",
    "size",
    "modseq",
    "date",
    "subject",
    "in_reply_to",
    "message_id",
    "bodystructure",
    "references",
)
K = TypeVar("K")
V = TypeVar("V")
_CACHE_LIMIT = 20_000
# Midnight (UTC epoch) of each INTERNALDATE day seen; a folder spans few days per message.
_DAY_STARTS: dict[str, int] = {}
# The same senders and recipient lists recur through a folder: each raw list is shaped once.
_SENDERS: dict[str, tuple[str, str]] = {}
_RECIPIENTS: dict[str, str] = {}
# A folder has few distinct flag lists: each FLAGS text is shaped (flag_columns) once. The
# key None (no FLAGS item) stands for no flags.
_FLAG_ROWS: dict[str | None, tuple[str, bool, bool]] = {}


def _remember(cache: dict[K, V], key: K, value: V) -> None:
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _value(text: str, token: str, start: int, literals: list[bytes]) -> str | bytes | None:
    """One nstring token as the exact lexer gives it: None, unescaped text, or the bytes of
    the literal (literals are numbered by the line breaks before them)."""
    first = token[0]
    if first == '"':
        value = token[1:-1]
        return value.replace('\\"', '"').replace("\\\\", "\\") if "\\" in value else value
    if first == "{":
        return literals[text.count("\r\n", 0, start)]
    return None


def _id_value(text: str, token: str, start: int, literals: list[bytes]) -> str | None:
    """A Message-ID or In-Reply-To token as the exact path keeps it (no RFC 2047)."""
    if token[0] == '"' and "\\" not in token:  # the usual case
        return token[1:-1]
    value = _value(text, token, start, literals)
    return value if value is None or type(value) is str else nstring_value(value)


def _internal_epoch(match: re.Match[str]) -> int | None:
    """INTERNALDATE (RFC 3501 §9 date-time, from the groups of _HEADER_FETCH) as epoch
    seconds, as the exact parser computes it (None where it would refuse the value)."""
    day_text, month_name, year, hour, minute, second, sign, zone_h, zone_m = match.group(
        "iday", "imonth", "iyear", "ihour", "iminute", "isecond", "isign", "izone_h", "izone_m"
    )
    key = f"{day_text}-{month_name}-{year}"
    day = _DAY_STARTS.get(key)
    if day is None:
        month = _MONTHS.get(month_name.lower())
        if month is None:
            return None
        try:
            day = int(datetime(int(year), month, int(day_text), tzinfo=UTC).timestamp())
        except ValueError:
            return None
        _remember(_DAY_STARTS, key, day)
    hours, minutes, seconds = int(hour), int(minute), int(second)
    offset = int(zone_h) * 3600 + int(zone_m) * 60
    if hours > 23 or minutes > 59 or seconds > 59 or offset >= 86_400:
        return None
    if sign == "-":
        offset = -offset
    return day + hours * 3600 + minutes * 60 + seconds - offset


def _date_header_epoch(match: re.Match[str]) -> int | None:
    """The Date header's epoch from the groups of _DATE_HEADER, as _epoch_of_date_header
    computes it (its slow path where the fields do not make a valid time)."""
    day_text, month_name, year, hour, minute, second, sign, zone_h, zone_m = match.group(
        "dday", "dmonth", "dyear", "dhour", "dminute", "dsecond", "dsign", "dzone_h", "dzone_m"
    )
    start = _HEADER_DAYS.get((year, month_name, day_text), -1)
    if start is not None and start != -1:
        hours, minutes, seconds = int(hour), int(minute), int(second or 0)
        if hours < 24 and minutes < 60 and seconds < 60:
            offset = (int(zone_h) * 3600 + int(zone_m) * 60) * (1 if sign == "+" else -1)
            return start + hours * 3600 + minutes * 60 + seconds - offset
    token = match.group("date")
    return _epoch_of_date_header(token[1:-1])


def _address_list(text: str, start: int, end: int, literals: list[bytes]) -> list[Address] | None:
    """The addresses of an ENVELOPE list in ``text[start:end]``; None for group syntax
    (RFC 3501 §7.4.2: a NIL host), which the exact path handles."""
    out = []
    for match in _ADDRESS_PARTS.finditer(text, start, end):
        host = _value(text, match.group(4), match.start(4), literals)
        if host is None:
            return None
        name = _value(text, match.group(1), match.start(1), literals)
        mailbox = _value(text, match.group(3), match.start(3), literals)
        out.append(Address(header_value(name), nstring_value(mailbox), nstring_value(host)))
    return out


def _shaped(
    cache: dict[str, V],
    shape: Callable[[list[Address]], V],
    text: str,
    start: int,
    end: int,
    literals: list[bytes],
) -> V | None:
    """The ENVELOPE address list in ``text[start:end]`` made into a column by ``shape``,
    remembered by its raw text in ``cache``; None where the exact path decides."""
    key = text[start:end]
    found = cache.get(key)
    if found is None:
        addresses = _address_list(text, start, end, literals)
        if addresses is None:
            return None
        found = shape(addresses)
        if "\r\n" not in key:  # literals differ between messages: never cached
            _remember(cache, key, found)
    return found


def _first_sender(addresses: list[Address]) -> tuple[str, str]:
    """The first From address as (name, email)."""
    first = addresses[0] if addresses else None
    return (first.name or "", first.email) if first is not None else ("", "")


def _has_attachment(bodystructure: str) -> bool | None:
    """BodyStructure.has_attachment from the BODYSTRUCTURE text. It can only be true with a
    disposition ``attachment`` or a ``filename``/``name`` parameter, so text holding neither
    word is answered at once; the rest is parsed exactly (None: the exact path decides)."""
    lowered = bodystructure.lower()
    if "attachment" not in lowered and "name" not in lowered:
        return False
    try:
        values = tokenize(bodystructure)
        if len(values) != 1:
            return None
        return parse_bodystructure(values[0]).has_attachment
    except (ImapParseError, ValueError, TypeError, IndexError, RecursionError):
        return None


def header_row(raw: RawResponse) -> tuple[int, MessageFields] | None:
    """The store row of one FETCH response to :func:`~sync.engine.folder_sync.header_items`,
    as ``(uid, row)``, or None when the response is not of the usual shape (then the exact
    path, ``record_from_fetch`` of the parsed result, gives the row). For
    :meth:`~sync.imap.ImapClient.uid_fetch_rows`.
    """
    data = raw.text
    if data[:2] != b"* ":
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    match = _HEADER_FETCH.match(text)
    if match is None:
        return None
    (
        uid_text,
        flags_text,
        internaldate_day,
        size_text,
        modseq_text,
        date_token,
        subject_token,
        in_reply_to_token,
        message_id_token,
        bodystructure,
        references_token,
    ) = match.group(*_GROUPS)
    if uid_text is None or date_token is None:  # not an answer with an ENVELOPE
        return None
    literals = raw.literals

    flag_row = _FLAG_ROWS.get(flags_text)
    if flag_row is None:
        words = flags_text.split(" ") if flags_text else []
        if "NIL" in words:
            return None
        flag_row = flag_columns(stored_flags(words))
        _remember(_FLAG_ROWS, flags_text, flag_row)
    internaldate = 0
    if internaldate_day is not None:
        epoch = _internal_epoch(match)
        if epoch is None:
            return None
        internaldate = epoch
    has_attachment = False
    if bodystructure is not None:
        found = _has_attachment(bodystructure)
        if found is None:
            return None
        has_attachment = found

    # Looked up here first (the usual case: a sender and recipients seen before).
    start, end = match.span("from")
    sender = _SENDERS.get(text[start:end]) or _shaped(
        _SENDERS, _first_sender, text, start, end, literals
    )
    start, end = match.span("to")
    to = _RECIPIENTS.get(text[start:end]) or _shaped(
        _RECIPIENTS, format_addresses, text, start, end, literals
    )
    start, end = match.span("cc")
    cc = _RECIPIENTS.get(text[start:end]) or _shaped(
        _RECIPIENTS, format_addresses, text, start, end, literals
    )
    if sender is None or to is None or cc is None:
        return None
    if match.start("dday") >= 0:  # the usual spelling, its parts matched already
        date = _date_header_epoch(match)
    else:
        date_value = _value(text, date_token, match.start("date"), literals)
        date = _epoch_of_date_header(
            date_value
            if date_value is None or type(date_value) is str
            else nstring_value(date_value)
        )
    subject_value = _value(text, subject_token, match.start("subject"), literals)
    if type(subject_value) is not str or "=?" in subject_value:
        subject_value = header_value(subject_value)
    message_id = _id_value(text, message_id_token, match.start("message_id"), literals)
    in_reply_to = _id_value(text, in_reply_to_token, match.start("in_reply_to"), literals)
    references = None
    if references_token is not None:
        if (
            references_token[0] == "{"
            and text.find("\r\n", match.end("references")) == len(text) - 2
        ):  # the last literal of the response (the usual case): no need to count
            section: str | bytes | None = literals[-1]
        else:
            section = _value(text, references_token, match.start("references"), literals)
        references = _references_of(
            section.encode("utf-8") if isinstance(section, str) else section
        )
    stored, seen, flagged = flag_row
    uid = int(uid_text)
    return uid, (
        uid,
        internaldate,
        message_id,
        subject_value or "",
        sender[0],
        sender[1],
        to,
        cc,
        date if date is not None else internaldate,
        internaldate,
        int(size_text) if size_text is not None else 0,
        stored,
        seen,
        flagged,
        int(modseq_text) if modseq_text is not None else None,
        has_attachment,
        in_reply_to,
        references,
    )
