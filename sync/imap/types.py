"""Typed results of the IMAP core: what the parser produces and the client returns.

Everything here is plain data (slots dataclasses), free of I/O, cheap to build in bulk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from datetime import datetime
from typing import Literal, cast

__all__ = [
    "Address",
    "AppendUid",
    "BodyStructure",
    "Bye",
    "Capability",
    "Continuation",
    "CopyUid",
    "Disconnected",
    "ESearch",
    "Enabled",
    "Envelope",
    "Exists",
    "Expunge",
    "FetchResult",
    "FlagsUpdate",
    "IdResponse",
    "ListEntry",
    "MailboxStatus",
    "Namespace",
    "NamespaceResponse",
    "OtherUntagged",
    "QresyncParams",
    "Recent",
    "ResponseCode",
    "SearchResponse",
    "SelectResult",
    "StatusResponse",
    "StoreResult",
    "Tagged",
    "UidSet",
    "Unsolicited",
    "UntaggedStatus",
    "Vanished",
    "new_body_structure",
    "rfc2231_param",
]

_SEQ_PART = re.compile(r"(\d+|\*)(?::(\d+|\*))?\Z")


@dataclass(frozen=True, slots=True)
class UidSet:
    """An IMAP sequence set of UIDs (RFC 3501 §9 ``sequence-set``), normalised.

    ``ranges`` holds inclusive ``(low, high)`` pairs; ``None`` stands for ``*`` (the largest
    UID in use). ``str()`` gives the wire form, e.g. ``1:3,7,9:*``.
    """

    ranges: tuple[tuple[int | None, int | None], ...]

    @classmethod
    def of(cls, uids: Iterable[int]) -> UidSet:
        """Build the most compact set holding ``uids`` (any order, duplicates allowed)."""
        ranges: list[tuple[int | None, int | None]] = []
        low = high = -2
        for uid in sorted(set(uids)):
            if uid < 1:
                raise ValueError(f"UIDs start at 1, got {uid}")
            if uid == high + 1:
                high = uid
                continue
            if low > 0:
                ranges.append((low, high))
            low = high = uid
        if low > 0:
            ranges.append((low, high))
        return cls(tuple(ranges))

    @classmethod
    def parse(cls, text: str) -> UidSet:
        """Parse the wire form (``1:3,5,9:*``); raises ``ValueError`` on anything else."""
        ranges: list[tuple[int | None, int | None]] = []
        for part in text.split(","):
            match = _SEQ_PART.match(part)
            if match is None:
                raise ValueError(f"not a sequence set: {text!r}")
            first, second = match.groups()
            low = None if first == "*" else int(first)
            high = low if second is None else (None if second == "*" else int(second))
            if low == 0 or high == 0:
                raise ValueError(f"0 is not a valid UID: {text!r}")
            if low is None or (high is not None and high < low):
                low, high = high, low  # RFC 3501 §9: "3:1" is "1:3", "*:4" is "4:*"
            ranges.append((low, high))
        return cls(tuple(ranges))

    @classmethod
    def all(cls) -> UidSet:
        """``1:*``: every message."""
        return cls(((1, None),))

    def __str__(self) -> str:
        parts: list[str] = []
        for low, high in self.ranges:
            low_text = "*" if low is None else str(low)
            if low == high:
                parts.append(low_text)
            else:
                parts.append(f"{low_text}:{'*' if high is None else high}")
        return ",".join(parts)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, int):
            return False
        for low, high in self.ranges:
            if (low is None or uid >= low) and (high is None or uid <= high):
                return True
        return False

    def __iter__(self) -> Iterator[int]:
        """Every UID in the set, ascending per range; a set holding ``*`` cannot be iterated."""
        for low, high in self.ranges:
            if low is None or high is None:
                raise ValueError("a set holding * cannot be enumerated")
            yield from range(low, high + 1)

    def __len__(self) -> int:
        total = 0
        for low, high in self.ranges:
            if low is None or high is None:
                raise ValueError("a set holding * has no known size")
            total += high - low + 1
        return total


@dataclass(frozen=True, slots=True)
class Address:
    """One ENVELOPE address (RFC 3501 §7.4.2). Members of a group carry its name in ``group``;
    an empty group is one address with only ``group`` set."""

    name: str | None
    mailbox: str | None
    host: str | None
    group: str | None = None

    @property
    def email(self) -> str:
        """``mailbox@host``, or just the mailbox when the host is missing, or ``""``."""
        if self.mailbox is None:
            return ""
        if self.host is None:
            return self.mailbox
        return f"{self.mailbox}@{self.host}"


@dataclass(slots=True)  # not frozen: built 100k times per big fetch, and frozen costs 2x
class Envelope:
    """The ENVELOPE structure (RFC 3501 §7.4.2); text fields RFC 2047-decoded."""

    date: str | None
    subject: str | None
    from_: tuple[Address, ...]
    sender: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    in_reply_to: str | None
    message_id: str | None


@dataclass(frozen=True, slots=True)
class BodyStructure:
    """One part of a BODYSTRUCTURE (RFC 3501 §7.4.2). Types are lower-cased.

    Multiparts have ``parts``; ``message/rfc822`` parts have ``message`` (the inner structure)
    and ``envelope``.
    """

    type: str
    subtype: str
    params: Mapping[str, str] = field(default_factory=dict)
    id: str | None = None
    description: str | None = None
    encoding: str | None = None
    size: int | None = None
    lines: int | None = None
    md5: str | None = None
    disposition: str | None = None
    disposition_params: Mapping[str, str] = field(default_factory=dict)
    language: tuple[str, ...] = ()
    location: str | None = None
    parts: tuple[BodyStructure, ...] = ()
    message: BodyStructure | None = None
    envelope: Envelope | None = None

    @property
    def is_multipart(self) -> bool:
        """True for a ``multipart/*`` node."""
        return self.type == "multipart"

    @property
    def filename(self) -> str | None:
        """The part's file name: disposition ``filename``, else the content-type ``name``,
        each also in its RFC 2231 spellings (``filename*``, ``filename*0*`` ...)."""
        return rfc2231_param(self.disposition_params, "filename") or rfc2231_param(
            self.params, "name"
        )

    @property
    def has_attachment(self) -> bool:
        """True when some part is an attachment: disposition ``attachment``, or a non-text
        leaf with a file name."""
        if self.is_multipart:
            return any(part.has_attachment for part in self.parts)
        if self.disposition == "attachment":
            return True
        return self.type not in ("text", "multipart") and self.filename is not None


def rfc2231_param(params: Mapping[str, str], name: str) -> str | None:
    """The value of parameter ``name`` (lower-case), also when it came in RFC 2231 form:
    ``name*`` as ``charset'language'percent-encoded`` (§4), or split over ``name*0``,
    ``name*1*`` ... continuations (§3), the encoded ones percent-decoded in the charset the
    first one names. Undecodable bytes become U+FFFD; None when the parameter is absent."""
    plain = params.get(name)
    if plain is not None:
        return plain
    pieces: list[tuple[str, bool]] = []
    extended = params.get(f"{name}*")
    if extended is not None:
        pieces.append((extended, True))
    else:
        for index in range(1000):  # a bound: parameters come from the server
            if (value := params.get(f"{name}*{index}*")) is not None:
                pieces.append((value, True))
            elif (value := params.get(f"{name}*{index}")) is not None:
                pieces.append((value, False))
            else:
                break
    if not pieces:
        return None
    charset = "utf-8"  # US-ASCII when unnamed (RFC 2231 §4); UTF-8 also reads 8-bit senders
    if pieces[0][1]:
        head, quote, rest = pieces[0][0].partition("'")
        if quote:
            _language_tag, _, value = rest.partition("'")
            charset = head or "utf-8"
            pieces[0] = (value, True)
    data = bytearray()
    for value, encoded in pieces:
        raw = value.encode("utf-8", "surrogateescape")
        data += _percent_decoded(raw) if encoded else raw
    try:
        return data.decode(charset, "replace")
    except LookupError:  # a charset Python does not know: UTF-8 is the likeliest
        return data.decode("utf-8", "replace")


def _percent_decoded(raw: bytes) -> bytes:
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda match: bytes([int(match[1], 16)]), raw)


# Building a frozen dataclass calls object.__setattr__ once per field: 16 calls make a
# BodyStructure cost ~3 us, more than the rest of its parsing. The parser instead fills this
# unfrozen twin (the very same slots, in the same order, so the memory layout is identical)
# and relabels it a BodyStructure, which CPython allows for classes of the same layout. The
# result is an ordinary, frozen BodyStructure in every respect (type, equality, hash).
_BodyStructureDraft = make_dataclass(
    "_BodyStructureDraft",
    [(item.name, object) for item in fields(BodyStructure)],
    slots=True,
)


def new_body_structure(
    type: str,
    subtype: str,
    params: Mapping[str, str],
    id: str | None,
    description: str | None,
    encoding: str | None,
    size: int | None,
    lines: int | None,
    md5: str | None,
    disposition: str | None,
    disposition_params: Mapping[str, str],
    language: tuple[str, ...],
    location: str | None,
    parts: tuple[BodyStructure, ...],
    message: BodyStructure | None,
    envelope: Envelope | None,
) -> BodyStructure:
    """``BodyStructure(...)`` with every field given, about 4x faster (for bulk parsing)."""
    draft = _BodyStructureDraft(
        type,
        subtype,
        params,
        id,
        description,
        encoding,
        size,
        lines,
        md5,
        disposition,
        disposition_params,
        language,
        location,
        parts,
        message,
        envelope,
    )
    object.__setattr__(draft, "__class__", BodyStructure)
    return cast(BodyStructure, draft)


@dataclass(slots=True)
class FetchResult:
    """One FETCH response (RFC 3501 §7.4.2); fields the server did not send stay ``None``.

    ``sections`` maps the item name as the server spelled it, upper-cased (``BODY[]``,
    ``BODY[HEADER.FIELDS (SUBJECT)]``, ``BODY[]<0>``, ``BINARY[1]``) to its bytes (None
    for NIL). ``extra`` keeps items this parser does not model (e.g. ``PREVIEW``).
    """

    seq: int
    uid: int | None = None
    flags: tuple[str, ...] | None = None
    modseq: int | None = None
    internaldate: datetime | None = None
    size: int | None = None
    envelope: Envelope | None = None
    bodystructure: BodyStructure | None = None
    sections: dict[str, bytes | None] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    def section(self, name: str = "BODY[]") -> bytes | None:
        """The bytes of one body section, accepting the request spelling (``BODY.PEEK[...]``)."""
        key = name.upper().replace("BODY.PEEK[", "BODY[").replace("BINARY.PEEK[", "BINARY[")
        return self.sections.get(key)


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One LIST response (RFC 3501 §7.2.2, RFC 5258, RFC 6154). ``name`` is decoded from
    modified UTF-7; ``raw_name`` is the name as the server sent it (use it in commands)."""

    name: str
    raw_name: str
    delimiter: str | None
    attributes: frozenset[str]
    special_use: str | None = None
    status: MailboxStatus | None = None

    @property
    def selectable(self) -> bool:
        """False for ``\\Noselect`` and ``\\NonExistent`` entries."""
        lowered = {attribute.lower() for attribute in self.attributes}
        return "\\noselect" not in lowered and "\\nonexistent" not in lowered


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """A STATUS response (RFC 3501 §7.2.4, RFC 7162 HIGHESTMODSEQ, RFC 8438 SIZE)."""

    mailbox: str
    messages: int | None = None
    recent: int | None = None
    uidnext: int | None = None
    uidvalidity: int | None = None
    unseen: int | None = None
    highestmodseq: int | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class QresyncParams:
    """SELECT ... (QRESYNC (uidvalidity modseq [known-uids])) (RFC 7162 §3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: UidSet | None = None


@dataclass(slots=True)
class SelectResult:
    """What SELECT/EXAMINE reported (RFC 3501 §6.3.1, RFC 7162 §3.1.2 and §3.2.5)."""

    mailbox: str
    readonly: bool = False
    exists: int = 0
    recent: int = 0
    uidvalidity: int | None = None
    uidnext: int | None = None
    highestmodseq: int | None = None
    nomodseq: bool = False
    unseen: int | None = None
    flags: tuple[str, ...] = ()
    permanent_flags: tuple[str, ...] = ()
    vanished: UidSet = field(default_factory=lambda: UidSet(()))
    changes: list[FetchResult] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CopyUid:
    """COPYUID response code (RFC 4315 §3): where the copied/moved messages went."""

    uidvalidity: int
    source: UidSet
    destination: UidSet

    def mapping(self) -> dict[int, int]:
        """Source UID to destination UID, in order (RFC 4315 §3)."""
        return dict(zip(self.source, self.destination, strict=True))


@dataclass(frozen=True, slots=True)
class AppendUid:
    """APPENDUID response code (RFC 4315 §3)."""

    uidvalidity: int
    uids: UidSet


@dataclass(slots=True)
class StoreResult:
    """UID STORE outcome: FETCH responses received, and the UIDs refused by UNCHANGEDSINCE
    (``[MODIFIED ...]``, RFC 7162 §3.1.3)."""

    fetched: list[FetchResult] = field(default_factory=list)
    modified: UidSet = field(default_factory=lambda: UidSet(()))


@dataclass(frozen=True, slots=True)
class Namespace:
    """One namespace (RFC 2342): prefix and hierarchy delimiter."""

    prefix: str
    delimiter: str | None


@dataclass(frozen=True, slots=True)
class NamespaceResponse:
    """The NAMESPACE response (RFC 2342 §5)."""

    personal: tuple[Namespace, ...]
    other_users: tuple[Namespace, ...]
    shared: tuple[Namespace, ...]


# --- protocol-level responses (what the parser returns for each received response) ---


@dataclass(frozen=True, slots=True)
class Tagged:
    """A tagged completion: ``A1 OK [CODE value] text`` (RFC 3501 §7.1)."""

    tag: str
    status: str
    code: str | None
    code_value: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Continuation:
    """A continuation request ``+ text`` (RFC 3501 §7.5)."""

    text: str


@dataclass(frozen=True, slots=True)
class UntaggedStatus:
    """``* OK|NO|BAD|PREAUTH|BYE [CODE value] text`` (RFC 3501 §7.1)."""

    status: str
    code: str | None
    code_value: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Capability:
    """``* CAPABILITY ...`` (upper-cased)."""

    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class Enabled:
    """``* ENABLED ...`` (RFC 5161)."""

    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class SearchResponse:
    """``* SEARCH 1 2 3 [(MODSEQ n)]`` (RFC 3501 §7.2.5, RFC 7162 §3.1.5)."""

    numbers: tuple[int, ...]
    modseq: int | None = None


@dataclass(frozen=True, slots=True)
class ESearch:
    """``* ESEARCH (TAG "x") UID ALL 1:3 COUNT 3`` (RFC 4731)."""

    tag: str | None
    uid: bool
    all: UidSet | None
    count: int | None
    min: int | None
    max: int | None
    modseq: int | None


@dataclass(frozen=True, slots=True)
class IdResponse:
    """``* ID (...)`` (RFC 2971)."""

    fields: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class OtherUntagged:
    """An untagged response this parser does not model (kept, never dropped)."""

    keyword: str
    text: str


@dataclass(frozen=True, slots=True)
class Recent:
    """``* n RECENT``."""

    count: int


# --- unsolicited events (published on ``ImapClient.unsolicited``) ---


@dataclass(frozen=True, slots=True)
class Exists:
    """``* n EXISTS``: the mailbox now holds ``count`` messages."""

    count: int


@dataclass(frozen=True, slots=True)
class Expunge:
    """``* n EXPUNGE``: message sequence number ``seq`` was removed."""

    seq: int


@dataclass(frozen=True, slots=True)
class Vanished:
    """``* VANISHED [(EARLIER)] uids`` (RFC 7162 §3.2.10)."""

    uids: UidSet
    earlier: bool


@dataclass(frozen=True, slots=True)
class FlagsUpdate:
    """``* FLAGS (...)``: the flags defined in the mailbox."""

    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResponseCode:
    """An untagged ``OK``/``NO`` with a response code: HIGHESTMODSEQ, ALERT, COPYUID, ..."""

    name: str
    value: str | None
    text: str = ""
    status: str = "OK"


@dataclass(frozen=True, slots=True)
class Bye:
    """``* BYE text``: the server is closing the connection."""

    text: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection is gone; no more events follow."""

    reason: str


StatusResponse = Tagged | UntaggedStatus
# MailboxStatus and ListEntry arrive unsolicited only after NOTIFY (RFC 5465 §5).
Unsolicited = (
    Exists
    | Expunge
    | Vanished
    | FetchResult
    | FlagsUpdate
    | ResponseCode
    | Bye
    | Disconnected
    | MailboxStatus
    | ListEntry
)
Response = (
    Tagged
    | Continuation
    | UntaggedStatus
    | Capability
    | Enabled
    | SearchResponse
    | ESearch
    | IdResponse
    | NamespaceResponse
    | ListEntry
    | MailboxStatus
    | Exists
    | Expunge
    | Recent
    | Vanished
    | FlagsUpdate
    | FetchResult
    | OtherUntagged
)
SecurityMode = Literal["tls", "starttls", "none"]
