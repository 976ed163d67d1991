"""The first sync's fast path (``header_row``) must give exactly what the exact path gives.

The exact path is the typed parser (``parse_response``) and ``record_from_fetch``; the fast
path reads a FETCH response's text with one regular expression and returns None for any
shape it does not know. For every response it does take, both must produce the same store
row: checked on generated responses (hostile strings, literals, groups, odd dates, item
orders), on the engine's real fetch from Dovecot, and with the fast path taking the usual
shapes (so that "always None" cannot pass).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.dovecot import MailUser
from sync.engine.convert import header_row, record_from_fetch
from sync.engine.folder_sync import header_items
from sync.imap import FetchResult, ImapClient, ImapParseError, ServerFeatures
from sync.imap.lexer import RawResponse
from sync.imap.parser import parse_response
from sync.store import MessageFields, message_fields
from tests.rig.corpus import make_message
from tests.rig.device import Device

# ------------------------------------------------------------------------------ generation


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Wire:
    """Builds one response's text, with literals cut out as the assembler delivers them."""

    def __init__(self) -> None:
        self.literals: list[bytes] = []

    def nstring(self, value: str | bytes | None, *, literal: bool = False) -> str:
        if value is None:
            return "NIL"
        if isinstance(value, bytes) or literal or any(c in value for c in "\r\n\x00"):
            data = value if isinstance(value, bytes) else value.encode("utf-8")
            self.literals.append(data)
            return f"{{{len(data)}}}\r\n"
        return _quoted(value)


TEXT = st.lists(
    st.sampled_from(list("abc XYZ019()\"\\{}[]*%<>@,.;:'=?_-é\u00fc\u4e2d\x7f\t"))
    | st.sampled_from(["=?utf-8?b?w6lsw6h2ZQ==?=", "=?iso-8859-1?q?caf=E9?=", "NIL", "{5}"]),
    max_size=12,
).map("".join)
NSTRING_VALUES = st.one_of(
    st.none(),
    TEXT,
    st.binary(max_size=8),
    st.sampled_from([b"caf\xe9", "Zo\u00eb".encode(), b""]),
)
ATOM = st.sampled_from(["\\Seen", "\\Answered", "\\Flagged", "\\Recent", "$Forwarded", "Junk"])


@st.composite
def addresses(draw: st.DrawFn, wire: _Wire) -> str:
    """An ENVELOPE address list: NIL, plain addresses, sometimes a group (RFC 3501 §7.4.2)."""
    if draw(st.integers(0, 5)) == 0:
        return "NIL"
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 8)) == 0:  # a group: start, member, end
            parts.append(f"(NIL NIL {wire.nstring(draw(TEXT))} NIL)")
            parts.append(f"({wire.nstring(draw(TEXT))} NIL {_quoted('m')} {_quoted('h.org')})")
            parts.append("(NIL NIL NIL NIL)")
            continue
        name = draw(NSTRING_VALUES)
        mailbox = draw(st.one_of(st.none(), st.sampled_from(["ann", "o'brien", "x+y"])))
        host = draw(st.sampled_from(["example.org", "ex.com"]))
        literal = draw(st.booleans()) and draw(st.booleans())
        parts.append(
            f"({wire.nstring(name, literal=literal)} NIL {wire.nstring(mailbox)}"
            f" {wire.nstring(host)})"
        )
    return "(" + "".join(parts) + ")"


DATES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "Tue, 07 Jan 2025 06:31:15 +0000",
            "7 Jan 2025 06:31 -0500",
            "Mon, 31 Feb 2025 10:00:00 +0100",  # no such day: the slow path decides
            "Wed, 01 Jan 2025 25:00:00 +0000",
            "Thu, 02 Jan 2025 10:00:00 +0000 (UTC)",
            "Thu, 02 Jan 2025 10:00:00 +0000x",
            "  Fri,  3 Jan 2025 10:00:00 +0000",
            "yesterday",
            "",
        ]
    ),
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC)
    ).map(lambda moment: moment.strftime("%a, %d %b %Y %H:%M:%S +0200")),
)
INTERNALDATES = st.one_of(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2037, 1, 1))
    .map(lambda moment: moment.strftime("%d-%b-%Y %H:%M:%S "))
    .flatmap(lambda day: st.sampled_from(["+0000", "-0530", "+2359", "+0099"]).map(day.__add__)),
    st.sampled_from(
        [" 7-Jan-2025 06:31:15 +0000", "31-Feb-2025 10:00:00 +0000", "01-Foo-2025 10:00:00 +0000"]
    ),
)
BODYSTRUCTURES = st.sampled_from(
    [
        '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 120 3 NIL NIL NIL NIL)',
        '(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)'
        '("text" "html" ("charset" "utf-8") NIL NIL "7bit" 20 1 NIL NIL NIL NIL)'
        ' "alternative" ("boundary" "b1") NIL NIL NIL)',
        '(("text" "plain" NIL NIL NIL "7bit" 10 1 NIL NIL NIL NIL)("application" "pdf"'
        ' ("name" "a.pdf") NIL NIL "base64" 400 NIL ("attachment" ("filename" "a.pdf"))'
        ' NIL NIL) "mixed" ("boundary" "b2") NIL NIL NIL)',
        '(("text" "plain" NIL NIL NIL "7bit" 10 1 NIL NIL NIL NIL)("image" "png"'
        ' ("NAME" "x.png") NIL NIL "base64" 400 NIL ("inline" NIL) NIL NIL)'
        ' "related" NIL NIL NIL NIL)',
        '("text" "plain" ("name" "notes.txt") NIL NIL "7bit" 10 1 NIL NIL NIL NIL)',
        '("application" "octet-stream" NIL NIL NIL "base64" 10 NIL (attachment NIL) NIL NIL)',
        '("message" "rfc822" NIL NIL NIL "7bit" 300 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL'
        ' NIL) ("text" "plain" NIL NIL NIL "7bit" 10 1) 12 NIL NIL NIL NIL)',
    ]
)


@st.composite
def fetch_responses(draw: st.DrawFn) -> RawResponse:
    """One ``* n FETCH (...)`` response to the engine's header items, in a random order,
    sometimes with items missing, repeated or spelled unusually."""
    wire = _Wire()
    uid = draw(st.integers(1, 2**32 - 1))
    envelope = (
        f"({wire.nstring(draw(DATES))} {wire.nstring(draw(NSTRING_VALUES))}"
        f" {draw(addresses(wire))} {draw(addresses(wire))} {draw(addresses(wire))}"
        f" {draw(addresses(wire))} {draw(addresses(wire))} {draw(addresses(wire))}"
        f" {wire.nstring(draw(st.sampled_from([None, '<a@b>', '<x@y> <z@w>'])))}"
        f" {wire.nstring(draw(st.sampled_from([None, '<id@example.org>', 'odd id'])))})"
    )
    flags = " ".join(draw(st.lists(ATOM, max_size=4)))
    references = draw(
        st.sampled_from(
            [b"\r\n", b"References: <a@b>\r\n <c@d>\r\n\r\n", b"References:\r\n\r\n", None]
        )
    )
    items = [
        f"UID {uid}",
        f"FLAGS ({flags})",
        f'INTERNALDATE "{draw(INTERNALDATES)}"',
        f"RFC822.SIZE {draw(st.integers(0, 10**7))}",
        f"MODSEQ ({draw(st.integers(1, 2**40))})",
        f"ENVELOPE {envelope}",
        f"BODYSTRUCTURE {draw(BODYSTRUCTURES)}",
        "BODY[HEADER.FIELDS (REFERENCES)] " + wire.nstring(references, literal=draw(st.booleans())),
    ]
    # Literals are numbered by their place in the text: order them as the items end up.
    markers = [item.count("}\r\n") for item in items]
    owned, start = [], 0
    for count in markers:
        owned.append(wire.literals[start : start + count])
        start += count
    order = draw(st.permutations(range(len(items))))
    keep = [index for index in order if draw(st.integers(0, 12)) != 0 or index in (0, 5)]
    if draw(st.integers(0, 10)) == 0:
        keep.append(keep[0])  # an item twice: the last one counts
    text = f"* {draw(st.integers(1, 10**6))} FETCH (" + " ".join(items[i] for i in keep) + ")\r\n"
    literals = [literal for index in keep for literal in owned[index]]
    return RawResponse(text.encode("utf-8"), literals)


def _exact(raw: RawResponse) -> tuple[int, MessageFields] | None:
    """The exact path: the typed parser, then record_from_fetch (None: not a header answer)."""
    try:
        parsed = parse_response(raw)
    except ImapParseError:
        return None
    if not isinstance(parsed, FetchResult) or parsed.uid is None or parsed.envelope is None:
        return None
    return parsed.uid, message_fields(record_from_fetch(parsed))


# ------------------------------------------------------------------------------ the tests


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fetch_responses())
def test_fast_path_equals_exact_path(raw: RawResponse) -> None:
    fast = header_row(raw)
    if fast is not None:
        assert fast == _exact(raw)


def _dovecot_like(index: int) -> RawResponse:
    moment = datetime(2025, 1, 6, tzinfo=UTC) + timedelta(minutes=37 * index)
    text = (
        f"* {index} FETCH (UID {index} FLAGS (\\Seen) INTERNALDATE"
        f' "{moment:%d-%b-%Y %H:%M:%S} +0000" RFC822.SIZE {1000 + index} MODSEQ (2) ENVELOPE'
        f' ("{moment:%a, %d %b %Y %H:%M:%S} +0100" "Report {index}"'
        ' (("Ola Nordmann" NIL "ola" "example.no")) (("Ola Nordmann" NIL "ola" "example.no"))'
        ' (("Ola Nordmann" NIL "ola" "example.no")) (("Alex Example" NIL "alex" "example.org"))'
        f' NIL NIL NIL "<{index}@example.no>") BODYSTRUCTURE ("text" "plain" ("charset"'
        ' "us-ascii") NIL NIL "7bit" 1202 25 NIL NIL NIL NIL) BODY[HEADER.FIELDS (REFERENCES)]'
        " {2}\r\n)\r\n"
    )
    return RawResponse(text.encode(), [b"\r\n"])


def test_fast_path_takes_the_usual_shape() -> None:
    for index in range(1, 50):
        raw = _dovecot_like(index)
        fast = header_row(raw)
        assert fast is not None
        assert fast == _exact(raw)
        uid, row = fast
        assert (uid, row[3], row[5]) == (index, f"Report {index}", "ola@example.no")


def test_fast_path_leaves_what_it_does_not_know() -> None:
    usual = _dovecot_like(3)
    text = usual.text.decode()
    for changed in (
        text.replace("UID 3", "UID 3 X-GM-THRID 12"),  # an item it does not know
        text.replace('"Report 3"', '"caf\xe9"').encode("latin-1").decode("latin-1"),
        text.replace("(\\Seen)", "(NIL)"),
        text.replace("ENVELOPE", "envelope"),
        text.replace(' "<3@example.no>")', ' "<3@example.no>"'),  # unbalanced
    ):
        raw = RawResponse(changed.encode("latin-1"), usual.literals)
        assert header_row(raw) is None
    flags_only = RawResponse(b"* 3 FETCH (UID 3 FLAGS (\\Seen))\r\n", [])
    assert header_row(flags_only) is None  # a flag change, not an answer with an ENVELOPE
    assert header_row(RawResponse(b"M1 OK done\r\n", [])) is None


async def test_engine_fetch_from_dovecot_agrees_with_the_exact_parser(
    mail_user: MailUser, device: Device
) -> None:
    # The corpus: encoded words, 8-bit names (sent as literals), attachments, replies.
    for index in range(60):
        device.append("INBOX", make_message(index), flags=["\\Seen"] if index % 3 else [])
    items = header_items(ServerFeatures(condstore=True, qresync=True))
    server = mail_user.server
    client = await ImapClient.connect(server.host, server.imap_port, security="none")
    try:
        await client.login(mail_user.username, mail_user.password)
        await client.select("INBOX", condstore=True)
        exact = {
            item.uid: message_fields(record_from_fetch(item))
            for item in await client.uid_fetch("1:*", items)
        }
        rows: dict[int, MessageFields] = {}
        left: list[FetchResult] = []
        async for taken, results in client.uid_fetch_rows(range(1, 61), items, header_row):
            rows.update((row[0], row) for row in taken)
            left += results
    finally:
        await client.logout()
    assert len(exact) == 60
    for item in left:  # what the fast path left, the exact parser gives
        assert item.uid is not None
        rows[item.uid] = message_fields(record_from_fetch(item))
    assert rows == exact
    assert len(left) < 30  # most of the corpus takes the fast path
