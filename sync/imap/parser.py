"""The pure parser: one complete response (see :mod:`sync.imap.lexer`) in, a typed result out.

No I/O and no state beyond arguments. Anything that does not follow the grammar of
RFC 3501 §9 (and the extensions cited below) raises :class:`ImapParseError`; no other
exception escapes :func:`parse_response`.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sync.imap.errors import ImapParseError
from sync.imap.lexer import RawResponse, Value, decode_text, tokenize
from sync.imap.types import (
    Address,
    AppendUid,
    BodyStructure,
    Capability,
    Continuation,
    CopyUid,
    Enabled,
    Envelope,
    ESearch,
    Exists,
    Expunge,
    FetchResult,
    FlagsUpdate,
    IdResponse,
    ListEntry,
    MailboxStatus,
    Namespace,
    NamespaceResponse,
    OtherUntagged,
    Recent,
    Response,
    SearchResponse,
    Tagged,
    UidSet,
    UntaggedStatus,
    Vanished,
    new_body_structure,
)
from sync.imap.utf7 import decode_mailbox

try:  # the project's charset rules (UTF-8, then cp1252, never raising)
    from sync.mime.charsets import decode_encoded_words, decode_header_bytes
except ImportError:  # pragma: no cover - only while sync.mime is absent

    def decode_header_bytes(data: bytes, fallback_label: str | None = None) -> str:
        """UTF-8, else cp1252 (fallback used only when sync.mime is missing)."""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")

    def decode_encoded_words(value: str, fallback_label: str | None = None) -> str:
        """Fallback: RFC 2047 via the standard library."""
        from email.header import decode_header, make_header

        try:
            return str(make_header(decode_header(value)))
        except (ValueError, LookupError):
            return value


__all__ = [
    "header_value",
    "nstring_value",
    "parse_appenduid",
    "parse_bodystructure",
    "parse_copyuid",
    "parse_envelope",
    "parse_fetch_items",
    "parse_internaldate",
    "parse_response",
    "parse_responses",
]

_STATUS_WORDS = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})
_NUMBERED = re.compile(r"\* (\d+) ([A-Za-z]+)")
_KEYWORD = re.compile(r"\* ([A-Za-z][A-Za-z0-9.=-]*)")
_TAGGED = re.compile(r"([^\x00-\x20()*+%\"\\{]+) ([A-Za-z]+)")
_RESP_TEXT = re.compile(r" ?(?:\[([^\]\s]+)(?: ([^\]]*))?\])? ?(.*?)\r?\n?\Z", re.DOTALL)
_DATE = re.compile(
    r"( \d|\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\Z", re.ASCII
)
_MONTHS = {
    name: index
    for index, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_ZONES: dict[str, timezone] = {}
_SPECIAL_USE = {
    name.lower(): name
    for name in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
}


def parse_response(raw: RawResponse, *, utf8_names: bool = False) -> Response:
    """Parse one complete response. ``utf8_names`` is set once ``UTF8=ACCEPT`` is enabled
    (RFC 6855: mailbox names are then UTF-8, not modified UTF-7)."""
    text, raw8 = decode_text(raw.text)
    try:
        return _dispatch(text, raw.literals, raw8, utf8_names)
    except ImapParseError:
        raise
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        OverflowError,
        RecursionError,  # absurd nesting: 50,000 parentheses
    ) as exc:
        raise ImapParseError(f"malformed response ({exc.__class__.__name__})", raw.text) from None


# --- the batch fast path for runs of FETCH responses ---
#
# Building the value tree token by token in Python costs more than everything else together
# for a big UID FETCH. A run of FETCH responses is instead rewritten as JSON with a fixed
# number of C-speed passes over the whole run (str.split/join/replace and compiled regular
# expressions; no Python work per token) and decoded by ``json``:
#
# - quoted strings (RFC 3501 §4.3) are JSON strings once ``\"`` and ``\\`` are their only
#   escapes (anything else inside them, a control character for instance, makes ``json``
#   fail, which sends the run to the exact path);
# - outside them, atoms (with their body section: ``BODY[HEADER.FIELDS (X)]``) become JSON
#   strings, ``NIL`` becomes ``null``, numbers stay numbers, parentheses become brackets and
#   single spaces commas; any other character outside an atom (a tab, a brace, two spaces,
#   a digit glued to an atom) sends the run to the exact path;
# - each literal (RFC 3501 §4.3, RFC 3516 §4.2 ``~{n}``) becomes an empty JSON object whose
#   hook returns the literal's bytes, in order: literal bytes never pass through a text
#   codec, so 8-bit bytes, NULs and CRLFs come back exactly as received.
#
# Each response is decoded on its own and must be exactly one list, so a parenthesis missing
# in one response cannot borrow one from the next. Anything unusual, and any error at all,
# sends the run through the exact token-by-token path, so both paths give the same results
# (property tests in tests/imap check this).

_QUOTED_SPLIT = re.compile(r'("[^"\\\r\n]*(?:\\["\\][^"\\\r\n]*)*")')
_FETCH_PREFIX = re.compile(r"\* (\d+) FETCH (?=\()")
# Placeholders while rewriting: \x00 a literal, \x01 a quoted string, \x02 a joint between
# separators, \x03 the boundary between two responses, \x04 NIL. None may occur in the input.
# What the assembler cut a literal at: the marker and its CRLF (RFC 3501 §4.3, RFC 7888),
# and with the "~" of a literal8 (RFC 3516 §4.2).
_LITERAL_MARKER = re.compile(r"\{[0-9]+\+?\}\r\n")
_LITERAL8_MARKER = re.compile(r"~?\{[0-9]+\+?\}\r\n")
# An atom as the exact lexer reads it (with a section and partial: BODY[HEADER]<0>), except
# that it must start with a letter, "\\" or "$" (numbers stay outside, as JSON numbers; an
# atom starting otherwise is left among the separators, which sends the run to the exact
# path). A narrow first character makes the search for the next atom much faster.
_ATOM_SPLIT = re.compile(
    r'([A-Za-z\\$][^\x00-\x20()"{\[\x7f]*(?:\[[^\]\x00-\x1f\x7f]*\](?:<[0-9]+>)?)?)'
)
# What may remain between atoms and quoted strings.
_SEPARATORS = re.compile(r"[ ()0-9\x00-\x04]*\Z")


def _reject_float(text: str) -> object:
    raise ValueError("not an IMAP number")


_JSON = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_float)


def _fetch_run_json(texts: list[str], with_literals: bool) -> list[str]:
    """Rewrite the item lists of a run of FETCH responses to one JSON document each (see
    above); raises ``ValueError`` when the run needs the exact path."""
    body = "\x03".join(texts)
    # (Plain "in" tests: far faster than one regular-expression search for all of them.)
    if (
        "\x00" in body
        or "\x01" in body
        or "\x02" in body
        or "\x04" in body
        or body.count("\x03") >= len(texts)
    ):
        raise ValueError("needs the exact path")
    if with_literals:
        # A pattern starting with a literal "{" is searched for at C speed; "~" would not be.
        body = (_LITERAL8_MARKER if "~{" in body else _LITERAL_MARKER).sub("\x00", body)
    if '\\"' in body:
        # An escaped quote: split with the exact quoted-string grammar (slower, still batch).
        parts = _QUOTED_SPLIT.split(body)
        parts[1::2] = [text[1:-1] for text in parts[1::2]]
    else:
        parts = body.split('"')
        if len(parts) % 2 == 0:
            raise ValueError("unbalanced quotes")
        inside = "".join(parts[1::2])
        # JSON knows escapes that RFC 3501 quoted strings do not (\n, \u...): only \\ may pass.
        if "\\" in inside and "\\" in inside.replace("\\\\", ""):
            raise ValueError("needs the exact path")
    outside = "\x01".join(parts[0::2])
    if "\\" in outside:
        outside = outside.replace("\\", "\\\\")  # \Seen, for JSON
    # NIL is most of the atoms: one replace instead of thousands of matches below. A NIL
    # inside a longer atom ("$NILS") leaves the rest of the atom glued to it, which JSON
    # refuses ('null"S"'), so such runs take the exact path.
    tokens = _ATOM_SPLIT.split(outside.replace("NIL", "\x04"))
    separators = "\x02".join(tokens[0::2])
    if _SEPARATORS.match(separators) is None:
        raise ValueError("needs the exact path")
    tokens[0::2] = (
        separators.replace(" ", ",")
        .replace(")(", "),(")
        .replace("(", "[")
        .replace(")", "]")
        .replace("\x00", "{}")
        .replace("\x04", "null")
        .split("\x02")
    )
    parts[0::2] = '"'.join(tokens).split("\x01")
    return '"'.join(parts).split("\x03")


def _fast_fetch_run(texts: list[str], seqs: list[int], literals: list[bytes]) -> list[FetchResult]:
    """Parse a run of FETCH responses at once; raises on anything unusual."""
    documents = _fetch_run_json(texts, bool(literals))
    if literals:
        feed = iter(literals)
        scan = json.JSONDecoder(
            object_pairs_hook=lambda _pairs: next(feed),
            parse_float=_reject_float,
            parse_constant=_reject_float,
        ).scan_once  # type: ignore[attr-defined]  # the C scanner json itself uses
    else:
        scan = _JSON.scan_once  # type: ignore[attr-defined]
    out: list[FetchResult] = []
    for seq, document in zip(seqs, documents, strict=True):
        items, end = scan(document, 0)
        if end != len(document) or type(items) is not list:
            raise ValueError("not one parenthesised list")
        out.append(parse_fetch_items(seq, items))
    if literals and next(feed, None) is not None:
        raise ValueError("literal without marker")
    return out


def parse_responses(raws: list[RawResponse], *, utf8_names: bool = False) -> list[Response]:
    """Parse many responses (e.g. all those completed by one read). Same results as
    :func:`parse_response` on each, faster for runs of FETCH responses.

    A response that does not parse raises :class:`ImapParseError`; the caller loses only
    the responses after it in this list (the connection is then unusable anyway).
    """
    # The cyclic collector is left as the process set it (no gc.disable here): a library
    # must not change a process global. Its full collections cost about 10% of a bulk parse
    # whose results are all kept; the first sync's uid_fetch_rows path does not notice.
    out: list[Response] = []
    texts: list[str] = []
    seqs: list[int] = []
    literals: list[bytes] = []
    pending: list[RawResponse] = []
    match_prefix = _FETCH_PREFIX.match
    for raw in raws:
        try:
            text = raw.text.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        match = match_prefix(text)
        if match is not None and text.endswith("\r\n"):
            texts.append(text[match.end() : -2])
            seqs.append(int(match.group(1)))
            if raw.literals:
                literals += raw.literals
            pending.append(raw)
            continue
        if pending:
            out += _flush_fetch_run(texts, seqs, literals, pending, utf8_names)
            texts, seqs, literals, pending = [], [], [], []
        out.append(parse_response(raw, utf8_names=utf8_names))
    if pending:
        out += _flush_fetch_run(texts, seqs, literals, pending, utf8_names)
    return out


def _flush_fetch_run(
    texts: list[str],
    seqs: list[int],
    literals: list[bytes],
    raws: list[RawResponse],
    utf8_names: bool,
) -> list[Response]:
    try:
        return list(_fast_fetch_run(texts, seqs, literals))
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        RecursionError,
        StopIteration,
        ImapParseError,
    ):
        return [parse_response(raw, utf8_names=utf8_names) for raw in raws]


def _dispatch(text: str, literals: list[bytes], raw8: bool, utf8_names: bool) -> Response:
    if text.startswith("* "):
        numbered = _NUMBERED.match(text)
        if numbered is not None:
            number = int(numbered.group(1))
            keyword = numbered.group(2).upper()
            rest = numbered.end()
            if keyword == "FETCH":
                values = tokenize(text, literals, rest, raw8=raw8)
                if len(values) != 1 or type(values[0]) is not list:
                    raise ImapParseError("FETCH without a parenthesised list", text)
                return parse_fetch_items(number, values[0])
            _expect_end(text, rest, literals)
            if keyword == "EXISTS":
                return Exists(number)
            if keyword == "EXPUNGE":
                return Expunge(number)
            if keyword == "RECENT":
                return Recent(number)
            return OtherUntagged(keyword, text[2:].rstrip("\r\n"))
        match = _KEYWORD.match(text)
        if match is None:
            raise ImapParseError("untagged response without a keyword", text)
        keyword = match.group(1).upper()
        rest = match.end()
        if keyword in _STATUS_WORDS:
            code, value, message = _resp_text(text, rest)
            return UntaggedStatus(keyword, code, value, message)
        handler = _UNTAGGED.get(keyword)
        if handler is None:
            return OtherUntagged(keyword, text[2:].rstrip("\r\n"))
        return handler(tokenize(text, literals, rest, raw8=raw8), utf8_names)
    if text.startswith("+"):
        return Continuation(text[2:].rstrip("\r\n") if text.startswith("+ ") else "")
    match = _TAGGED.match(text)
    if match is None or match.group(2).upper() not in ("OK", "NO", "BAD"):
        raise ImapParseError("not an IMAP response", text)
    code, value, message = _resp_text(text, match.end())
    return Tagged(match.group(1), match.group(2).upper(), code, value, message)


def _expect_end(text: str, position: int, literals: list[bytes]) -> None:
    if text[position:].strip(" \r\n") or literals:
        raise ImapParseError("unexpected data after response", text)


def _resp_text(text: str, position: int) -> tuple[str | None, str | None, str]:
    """``[CODE value] text`` (RFC 3501 §7.1): the code upper-cased."""
    match = _RESP_TEXT.match(text, position)
    if match is None:  # pragma: no cover - the pattern matches any string
        raise ImapParseError("bad response text", text)
    code, value, message = match.groups()
    return (code.upper() if code else None), value, message


# --- value helpers ---


def _show(value: object) -> str:
    """A short excerpt for error messages: bounded in depth and length, never recursing far."""
    return reprlib.repr(value)


def _number(value: Value | int) -> int:
    if type(value) is int:  # from the batch fast path (JSON integers)
        return value
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    raise ImapParseError("expected a number", _show(value))


def _nnumber(value: Value) -> int | None:
    return None if value is None else _number(value)


def _string(value: Value) -> str | None:
    """An nstring as text (8-bit bytes decoded UTF-8, else cp1252), no RFC 2047."""
    if value is None or type(value) is str:
        return value
    if type(value) is bytes:
        return decode_header_bytes(value)
    raise ImapParseError("expected a string", _show(value))


# Display names repeat across a folder (the same senders, From = Sender = Reply-To), so
# decoded encoded-words are remembered; the cache is emptied when it grows large.
_DECODED: dict[str, str] = {}


def _decode_words(value: str) -> str:
    decoded = _DECODED.get(value)
    if decoded is None:
        if len(_DECODED) > 20_000:
            _DECODED.clear()
        decoded = _DECODED[value] = decode_encoded_words(value)
    return decoded


def _header_text(value: Value) -> str | None:
    """An nstring from a header (subject, display name): RFC 2047 words decoded, lazily."""
    if type(value) is str:
        return _decode_words(value) if "=?" in value else value
    if value is None:
        return None
    if type(value) is bytes:
        decoded = decode_header_bytes(value)
        return _decode_words(decoded) if "=?" in decoded else decoded
    raise ImapParseError("expected a string", _show(value))


def nstring_value(value: Value) -> str | None:
    """An nstring (quoted string, literal bytes or NIL) as the parser gives it in typed
    results: text as is, 8-bit bytes decoded (UTF-8, else cp1252), no RFC 2047 decoding."""
    return _string(value)


def header_value(value: Value) -> str | None:
    """An nstring from a header (a subject, a display name) as the parser gives it in typed
    results: as :func:`nstring_value`, with RFC 2047 encoded words decoded."""
    return _header_text(value)


def _list(value: Value) -> list[Value]:
    if type(value) is list:
        return value
    raise ImapParseError("expected a parenthesised list", _show(value))


def _atoms(value: Value) -> tuple[str, ...]:
    items = _list(value)
    for item in items:
        if type(item) is not str:
            raise ImapParseError("expected atoms", _show(value))
    return tuple(items)  # type: ignore[arg-type]  # checked just above


_DAYS: dict[str, tuple[int, int, int]] = {}


def parse_internaldate(value: str) -> datetime:
    """``"17-Jul-1996 02:44:25 -0700"`` (RFC 3501 §9 date-time) to an aware datetime."""
    match = _DATE.match(value)
    if match is None:
        raise ImapParseError("bad INTERNALDATE", value)
    # A folder's messages share few days and zones: both are looked up, not recomputed.
    day = _DAYS.get(value[:11])
    if day is None:
        month_number = _MONTHS.get(match.group(2).upper())
        if month_number is None:
            raise ImapParseError("bad INTERNALDATE month", value)
        day = (int(match.group(3)), month_number, int(match.group(1)))
        if len(_DAYS) > 50_000:
            _DAYS.clear()
        _DAYS[value[:11]] = day
    zone = _ZONES.get(value[21:])
    if zone is None:
        sign, zone_h, zone_m = match.group(7, 8, 9)
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
        zone = _ZONES[value[21:]] = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(*day, int(value[12:14]), int(value[15:17]), int(value[18:20]), 0, zone)
    except ValueError:
        raise ImapParseError("bad INTERNALDATE", value) from None


# The same people appear on thousands of messages: their Address objects are shared.
_ADDRESSES: dict[tuple[object, object, object], Address] = {}


def _addresses(value: Value) -> tuple[Address, ...]:
    """An ENVELOPE address list, with RFC 3501 §7.4.2 group syntax: ``(NIL NIL "name" NIL)``
    opens a group, ``(NIL NIL NIL NIL)`` closes it."""
    if value is None:
        return ()
    out: list[Address] = []
    group: str | None = None
    group_empty = False
    for item in _list(value):
        if type(item) is not list or len(item) != 4:
            raise ImapParseError("bad address", _show(item))
        name, _route, mailbox, host = item
        if group is None and host is not None:
            key = (name, mailbox, host)
            try:
                address = _ADDRESSES.get(key)
            except TypeError:  # a list where a string belongs: reported below
                address = None
            if address is not None:
                out.append(address)
                continue
        if host is None:
            if mailbox is None:
                if group is not None and group_empty:
                    out.append(Address(None, None, None, group))
                group = None
            else:
                group = _header_text(mailbox)
                group_empty = True
            continue
        address = Address(_header_text(name), _string(mailbox), _string(host), group)
        if group is None:
            if len(_ADDRESSES) > 20_000:
                _ADDRESSES.clear()
            _ADDRESSES[(name, mailbox, host)] = address
        out.append(address)
        group_empty = False
    if group is not None and group_empty:
        out.append(Address(None, None, None, group))
    return tuple(out)


def parse_envelope(value: Value) -> Envelope:
    """An ENVELOPE value (RFC 3501 §7.4.2) to :class:`Envelope`."""
    fields = value if type(value) is list else _list(value)
    if len(fields) != 10:
        raise ImapParseError("ENVELOPE needs 10 fields", _show(value))
    date, subject, from_, sender, reply_to, to, cc, bcc, in_reply_to, message_id = fields
    authors = _addresses(from_)
    # Sender and Reply-To default to From (RFC 3501 §7.4.2): usually the very same list.
    return Envelope(
        date if type(date) is str else _string(date),
        subject if type(subject) is str and "=?" not in subject else _header_text(subject),
        authors,
        authors if sender == from_ else _addresses(sender),
        authors if reply_to == from_ else _addresses(reply_to),
        _addresses(to),
        _addresses(cc) if cc is not None else (),
        _addresses(bcc) if bcc is not None else (),
        in_reply_to if in_reply_to is None or type(in_reply_to) is str else _string(in_reply_to),
        message_id if type(message_id) is str else _string(message_id),
    )


def _params(value: Value) -> dict[str, str]:
    if value is None:
        return {}
    items = value if type(value) is list else _list(value)
    if len(items) % 2:
        raise ImapParseError("odd parameter list", _show(value))
    out: dict[str, str] = {}
    for index in range(0, len(items), 2):
        key = items[index]
        if type(key) is not str:
            key = _string(key)
        param = items[index + 1]
        if type(param) is not str or "=?" in param:
            param = _header_text(param)
        if key is None or param is None:
            raise ImapParseError("NIL parameter", _show(value))
        out[key.lower()] = param
    return out


def _language(value: Value) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is list:
        return tuple(item for item in map(_string, value) if item is not None)
    text = _string(value)
    return () if text is None else (text,)


def _extension(
    fields: list[Value], start: int
) -> tuple[str | None, dict[str, str], tuple[str, ...], str | None]:
    """Disposition, its parameters, language and location from ``fields[start:]``."""
    count = len(fields)
    if count <= start:
        return None, {}, (), None
    disposition: str | None = None
    disposition_params: dict[str, str] = {}
    if fields[start] is not None:
        pair = _list(fields[start])
        if len(pair) != 2:
            raise ImapParseError("bad body disposition", _show(pair))
        name = _string(pair[0])
        disposition = name.lower() if name is not None else None
        disposition_params = _params(pair[1])
    language = _language(fields[start + 1]) if count > start + 1 else ()
    location = _string(fields[start + 2]) if count > start + 2 else None
    return disposition, disposition_params, language, location


def parse_bodystructure(value: Value, depth: int = 0) -> BodyStructure:
    """A BODY/BODYSTRUCTURE value (RFC 3501 §7.4.2, §9 ``body``) to :class:`BodyStructure`."""
    if depth > 100:
        raise ImapParseError("BODYSTRUCTURE nested too deep", "")
    fields = value if type(value) is list else _list(value)
    if not fields:
        raise ImapParseError("empty BODYSTRUCTURE", "")
    count = len(fields)
    if type(fields[0]) is list:  # body-type-mpart: 1*body SP media-subtype [SP ext]
        nested = 0
        while nested < count and type(fields[nested]) is list:
            nested += 1
        parts = tuple([parse_bodystructure(part, depth + 1) for part in fields[:nested]])
        if nested >= count:
            raise ImapParseError("multipart without subtype", _show(value))
        subtype = _string(fields[nested]) or ""
        params = _params(fields[nested + 1]) if count > nested + 1 else {}
        disposition, disposition_params, language, location = _extension(fields, nested + 2)
        return new_body_structure(
            "multipart",
            subtype.lower(),
            params,
            None,
            None,
            None,
            None,
            None,
            None,
            disposition,
            disposition_params,
            language,
            location,
            parts,
            None,
            None,
        )
    if count < 7:
        raise ImapParseError("body part needs 7 fields", _show(value))
    raw_type, raw_subtype, raw_params, raw_id, raw_description, raw_encoding = fields[:6]
    media_type = (raw_type if type(raw_type) is str else _string(raw_type) or "").lower()
    subtype = (raw_subtype if type(raw_subtype) is str else _string(raw_subtype) or "").lower()
    body_id = None if raw_id is None else _string(raw_id)
    description = None if raw_description is None else _header_text(raw_description)
    encoding = raw_encoding if type(raw_encoding) is str else _string(raw_encoding)
    size = _number(fields[6])
    position = 7
    lines: int | None = None
    message: BodyStructure | None = None
    envelope: Envelope | None = None
    if media_type == "text":
        if count < 8:
            raise ImapParseError("text part without line count", _show(value))
        lines = _number(fields[7])
        position = 8
    elif media_type == "message" and subtype in ("rfc822", "global") and count >= 10:
        envelope = parse_envelope(fields[7])
        message = parse_bodystructure(fields[8], depth + 1)
        lines = _number(fields[9])
        position = 10
    md5 = _string(fields[position]) if count > position else None
    disposition, disposition_params, language, location = _extension(fields, position + 1)
    return new_body_structure(
        media_type,
        subtype,
        _params(raw_params),
        body_id,
        description,
        encoding.lower() if encoding else None,
        size,
        lines,
        md5,
        disposition,
        disposition_params,
        language,
        location,
        (),
        message,
        envelope,
    )


def _section_bytes(value: Value) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8")  # a quoted string: its octets, as received
    raise ImapParseError("expected a section value", _show(value))


def parse_fetch_items(seq: int, items: list[Value]) -> FetchResult:
    """The parenthesised item list of ``* n FETCH (...)`` (RFC 3501 §7.4.2) to a result."""
    if len(items) % 2:
        raise ImapParseError("FETCH item without value", _show(items)[:200])
    result = FetchResult(seq)
    for index in range(0, len(items), 2):
        key = items[index]
        value = items[index + 1]
        if key == "UID":
            result.uid = _number(value)
        elif key == "FLAGS":
            result.flags = _atoms(value)
        elif key == "ENVELOPE":
            result.envelope = parse_envelope(value)
        elif key == "INTERNALDATE":
            if type(value) is not str:
                raise ImapParseError("bad INTERNALDATE", _show(value))
            result.internaldate = parse_internaldate(value)
        elif key == "RFC822.SIZE":
            result.size = _number(value)
        elif key == "MODSEQ":  # RFC 7162 §3.1.4: MODSEQ (n)
            modseq = _list(value)
            if len(modseq) != 1:
                raise ImapParseError("bad MODSEQ", _show(value))
            result.modseq = _number(modseq[0])
        elif key == "BODYSTRUCTURE" or key == "BODY":
            result.bodystructure = parse_bodystructure(value)
        elif type(key) is not str:
            raise ImapParseError("FETCH item name is not an atom", _show(key))
        else:
            upper = key.upper()
            if upper != key:
                items[index] = upper
                return parse_fetch_items(seq, items)  # rare: a server spelling items in lower case
            if upper.startswith(("BODY[", "BINARY[", "RFC822")) and not upper.startswith(
                "RFC822.SIZE"
            ):
                result.sections[upper] = _section_bytes(value)
            else:
                result.extra[upper] = _from_json(value)
    return result


def _from_json(value: Value | int) -> Value:
    """An item value as the exact path gives it: the batch path decodes numbers as ``int``."""
    if type(value) is int:
        return str(value)
    if type(value) is list:
        return [_from_json(item) for item in value]
    return value  # type: ignore[return-value]  # str, bytes or None


# --- other untagged responses ---


def _capability(values: list[Value], utf8_names: bool) -> Capability:
    return Capability(frozenset(atom.upper() for atom in _atoms(values)))


def _enabled(values: list[Value], utf8_names: bool) -> Enabled:
    return Enabled(frozenset(atom.upper() for atom in _atoms(values)))


def _flags(values: list[Value], utf8_names: bool) -> FlagsUpdate:
    if len(values) != 1:
        raise ImapParseError("FLAGS needs one list", _show(values))
    return FlagsUpdate(_atoms(values[0]))


def _mailbox_name(value: Value, utf8_names: bool) -> tuple[str, str]:
    """(decoded, raw) mailbox name; ``INBOX`` is case-insensitive (RFC 3501 §5.1)."""
    raw = _string(value)
    if raw is None:
        raise ImapParseError("NIL mailbox name", "")
    if raw.upper() == "INBOX":
        raw = "INBOX"
    return (raw if utf8_names else decode_mailbox(raw)), raw


def _list_entry(values: list[Value], utf8_names: bool) -> ListEntry:
    """``* LIST (attrs) delim name [(extended)]`` (RFC 3501 §7.2.2, RFC 5258, RFC 6154)."""
    if len(values) < 3:
        raise ImapParseError("LIST needs three fields", _show(values))
    attributes = _atoms(values[0])
    delimiter = _string(values[1])
    name, raw = _mailbox_name(values[2], utf8_names)
    special = None
    for attribute in attributes:
        special = _SPECIAL_USE.get(attribute.lower())
        if special is not None:
            break
    return ListEntry(name, raw, delimiter, frozenset(attributes), special)


def _status(values: list[Value], utf8_names: bool) -> MailboxStatus:
    """``* STATUS name (MESSAGES 3 UIDNEXT 4 ...)`` (RFC 3501 §7.2.4)."""
    if len(values) != 2:
        raise ImapParseError("STATUS needs a name and a list", _show(values))
    name, _ = _mailbox_name(values[0], utf8_names)
    items = _list(values[1])
    if len(items) % 2:
        raise ImapParseError("odd STATUS list", _show(items))
    numbers: dict[str, int] = {}
    for index in range(0, len(items), 2):
        key = items[index]
        if type(key) is not str:
            raise ImapParseError("bad STATUS item", _show(key))
        numbers[key.upper()] = _number(items[index + 1])
    return MailboxStatus(
        name,
        numbers.get("MESSAGES"),
        numbers.get("RECENT"),
        numbers.get("UIDNEXT"),
        numbers.get("UIDVALIDITY"),
        numbers.get("UNSEEN"),
        numbers.get("HIGHESTMODSEQ"),
        numbers.get("SIZE"),
    )


def _search(values: list[Value], utf8_names: bool) -> SearchResponse:
    """``* SEARCH 1 2 3 [(MODSEQ n)]`` (RFC 3501 §7.2.5, RFC 7162 §3.1.5)."""
    modseq = None
    if values and type(values[-1]) is list:
        tail = _list(values.pop())
        if len(tail) != 2 or str(tail[0]).upper() != "MODSEQ":
            raise ImapParseError("bad SEARCH modifier", _show(tail))
        modseq = _number(tail[1])
    return SearchResponse(tuple(_number(value) for value in values), modseq)


def _esearch(values: list[Value], utf8_names: bool) -> ESearch:
    """``* ESEARCH [(TAG "t")] [UID] (name value)*`` (RFC 4731 §3.1)."""
    tag = None
    position = 0
    if values and type(values[0]) is list:
        correlator = _list(values[0])
        if len(correlator) != 2 or str(correlator[0]).upper() != "TAG":
            raise ImapParseError("bad ESEARCH correlator", _show(correlator))
        tag = _string(correlator[1])
        position = 1
    uid = False
    if position < len(values) and type(values[position]) is str:
        uid = str(values[position]).upper() == "UID"
        position += uid
    found: dict[str, str] = {}
    rest = values[position:]
    if len(rest) % 2:
        raise ImapParseError("odd ESEARCH data", _show(values))
    for index in range(0, len(rest), 2):
        key, value = rest[index], rest[index + 1]
        if type(key) is not str or type(value) is not str:
            raise ImapParseError("bad ESEARCH data", _show(values))
        found[key.upper()] = value
    all_set = UidSet.parse(found["ALL"]) if "ALL" in found else None
    return ESearch(
        tag,
        uid,
        all_set,
        _number(found["COUNT"]) if "COUNT" in found else None,
        _number(found["MIN"]) if "MIN" in found else None,
        _number(found["MAX"]) if "MAX" in found else None,
        _number(found["MODSEQ"]) if "MODSEQ" in found else None,
    )


def _id(values: list[Value], utf8_names: bool) -> IdResponse:
    """``* ID ("name" "value" ...)`` or ``* ID NIL`` (RFC 2971 §3.2)."""
    if len(values) != 1:
        raise ImapParseError("bad ID response", _show(values))
    if values[0] is None:
        return IdResponse({})
    items = _list(values[0])
    if len(items) % 2:
        raise ImapParseError("odd ID list", _show(items))
    fields: dict[str, str | None] = {}
    for index in range(0, len(items), 2):
        key = _string(items[index])
        if key is None:
            raise ImapParseError("NIL ID field name", _show(items))
        fields[key] = _string(items[index + 1])
    return IdResponse(fields)


def _namespaces(value: Value) -> tuple[Namespace, ...]:
    if value is None:
        return ()
    out: list[Namespace] = []
    for item in _list(value):
        entry = _list(item)
        if len(entry) < 2:
            raise ImapParseError("bad namespace", _show(entry))
        out.append(Namespace(_string(entry[0]) or "", _string(entry[1])))
    return tuple(out)


def _namespace(values: list[Value], utf8_names: bool) -> NamespaceResponse:
    """``* NAMESPACE personal other shared`` (RFC 2342 §5)."""
    if len(values) != 3:
        raise ImapParseError("NAMESPACE needs three fields", _show(values))
    return NamespaceResponse(*(_namespaces(value) for value in values))


def _vanished(values: list[Value], utf8_names: bool) -> Vanished:
    """``* VANISHED [(EARLIER)] known-uids`` (RFC 7162 §3.2.10)."""
    earlier = False
    if values and type(values[0]) is list:
        modifier = _atoms(values[0])
        earlier = tuple(word.upper() for word in modifier) == ("EARLIER",)
        if not earlier:
            raise ImapParseError("bad VANISHED modifier", _show(values))
        values = values[1:]
    if len(values) != 1 or type(values[0]) is not str:
        raise ImapParseError("VANISHED needs one UID set", _show(values))
    return Vanished(UidSet.parse(values[0]), earlier)


_UNTAGGED: dict[str, Callable[[list[Value], bool], Response]] = {
    "CAPABILITY": _capability,
    "ENABLED": _enabled,
    "FLAGS": _flags,
    "LIST": _list_entry,
    "LSUB": _list_entry,
    "STATUS": _status,
    "SEARCH": _search,
    "ESEARCH": _esearch,
    "ID": _id,
    "NAMESPACE": _namespace,
    "VANISHED": _vanished,
}


# --- response code values ---


def parse_copyuid(value: str) -> CopyUid:
    """``COPYUID uidvalidity source-set dest-set`` (RFC 4315 §3)."""
    try:
        validity, source, destination = value.split()
        return CopyUid(int(validity), UidSet.parse(source), UidSet.parse(destination))
    except ValueError:
        raise ImapParseError("bad COPYUID", value) from None


def parse_appenduid(value: str) -> AppendUid:
    """``APPENDUID uidvalidity uid-set`` (RFC 4315 §3)."""
    try:
        validity, uids = value.split()
        return AppendUid(int(validity), UidSet.parse(uids))
    except ValueError:
        raise ImapParseError("bad APPENDUID", value) from None


def parse_code_list(value: str | None) -> tuple[str, ...]:
    """A parenthesised atom list in a response code (PERMANENTFLAGS, BADCHARSET)."""
    if not value:
        return ()
    values = tokenize(value)
    if len(values) != 1:
        raise ImapParseError("bad response code list", value)
    return _atoms(values[0])
