"""The batch (JSON) path for runs of FETCH responses against the exact token-by-token path.

The sync engine's first sync fetches ``... BODY.PEEK[HEADER.FIELDS (REFERENCES)]``, so every
response carries a literal: the batch path must take those, and give exactly what the exact
path gives, whatever bytes the literals and strings hold.
"""

from __future__ import annotations

import dataclasses
import gc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.imap import FetchResult
from sync.imap.errors import ImapParseError
from sync.imap.lexer import RawResponse, ResponseAssembler
from sync.imap.parser import _FETCH_PREFIX, _fast_fetch_run, parse_response, parse_responses
from sync.imap.types import BodyStructure, new_body_structure

SECTION = "BODY[HEADER.FIELDS (REFERENCES)]"


def engine_response(
    seq: int,
    subject: bytes,
    header: bytes,
    *,
    subject_literal: bool = False,
    marker: bytes = b"{%d}",
) -> bytes:
    """One response shaped like Dovecot's answer to the engine's header FETCH."""
    if subject_literal:
        wire_subject = b"{%d}\r\n" % len(subject) + subject
    else:
        wire_subject = b'"' + subject.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return (
        b"* %d FETCH (UID %d FLAGS (\\Seen $Forwarded) INTERNALDATE "
        b'"06-Jan-2025 07:33:16 +0100" RFC822.SIZE 3905 MODSEQ (%d) ENVELOPE '
        b'("Mon, 06 Jan 2025 08:33:16 +0100" %s (("Anna Kowalska" NIL "anna.k" "example.pl")) '
        b'(("Anna Kowalska" NIL "anna.k" "example.pl")) NIL (("Alex" NIL "alex" "example.org")) '
        b'NIL NIL "<p@x>" "<%d@x>") BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL '
        b'NIL "7bit" 2297 42 NIL NIL NIL NIL)("application" "pdf" ("name" "a.pdf") NIL NIL '
        b'"base64" 1000 NIL ("attachment" ("filename" "a.pdf")) NIL NIL) "mixed" '
        b'("boundary" "=_b") NIL NIL NIL) BODY[HEADER.FIELDS (REFERENCES)] '
        % (seq, seq + 100, seq + 7, wire_subject, seq)
        + (marker % len(header))
        + b"\r\n"
        + header
        + b")\r\n"
    )


def batch_input(raws: list[RawResponse]) -> tuple[list[str], list[int], list[bytes]]:
    """What parse_responses hands the batch path for a run of FETCH responses."""
    texts: list[str] = []
    seqs: list[int] = []
    literals: list[bytes] = []
    for raw in raws:
        text = raw.text.decode("utf-8")
        match = _FETCH_PREFIX.match(text)
        assert match is not None
        texts.append(text[match.end() : -2])
        seqs.append(int(match.group(1)))
        literals += raw.literals
    return texts, seqs, literals


def exact(raws: list[RawResponse]) -> list[object]:
    return [parse_response(raw) for raw in raws]


def test_engine_workload_takes_the_batch_path_and_agrees() -> None:
    stream = b"".join(
        engine_response(seq, b"Quarterly report (draft) :(", b"References: <a@x>\r\n\r\n")
        for seq in range(1, 40)
    ) + engine_response(40, b"", b"\r\n")
    raws = ResponseAssembler().feed(stream)
    fast = _fast_fetch_run(*batch_input(raws))  # raises if the batch path refused the run
    assert fast == exact(raws) == parse_responses(raws)
    first = fast[0]
    assert first.uid == 101 and first.modseq == 8 and first.size == 3905
    assert first.section(SECTION) == b"References: <a@x>\r\n\r\n"
    assert first.bodystructure is not None and first.bodystructure.has_attachment
    assert first.envelope is not None
    assert first.envelope.subject == "Quarterly report (draft) :("
    assert fast[-1].section(SECTION) == b"\r\n"


def test_a_large_batch_leaves_the_garbage_collector_running() -> None:
    """Library code must not switch the process's cyclic collector off, not even during a
    parse: a batch that allocates thousands of containers lets collections run."""
    stream = b"".join(
        engine_response(seq, b"Report", b"References: <a@x>\r\n\r\n") for seq in range(1, 2001)
    )
    raws = ResponseAssembler().feed(stream)
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    assert gc.isenabled()
    gc.callbacks.append(count)
    try:
        results = parse_responses(raws)
    finally:
        gc.callbacks.remove(count)
    assert len(results) == 2000
    assert collections  # none would run with the collector disabled during the parse
    assert gc.isenabled()


# Bytes that trouble a rewriter: 8-bit (not UTF-8), NULs, CR/LF, quotes, backslashes,
# parentheses, braces that look like literal markers, NIL, JSON escapes, our placeholders.
TRICKY = st.sampled_from(
    [
        b'"',
        b"\\",
        b"(",
        b")",
        b"{5}",
        b"{3}\r\n",
        b"NIL",
        b"\xe9",
        b"\xff\xfe",
        b"\x00",
        b"\x01\x02\x03",
        b"\r\n",
        b"\\u0041",
        b"~{2}",
        b" ",
        b"caf\xc3\xa9",
        b"[",
        b"]",
    ]
)
BYTES = st.lists(st.one_of(TRICKY, st.binary(max_size=6)), max_size=8).map(b"".join)
QUOTABLE = BYTES.map(
    lambda data: data.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"")
)


@st.composite
def engine_runs(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    count = draw(st.integers(1, 5))
    headers = [draw(BYTES) for _ in range(count)]
    stream = b"".join(
        engine_response(
            seq,
            draw(BYTES) if literal else draw(QUOTABLE),
            header,
            subject_literal=literal,
            marker=draw(st.sampled_from([b"{%d}", b"{%d+}", b"~{%d}"])),
        )
        for seq, header in enumerate(headers, 1)
        for literal in [draw(st.booleans())]
    )
    return stream, headers


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(engine_runs())
def test_literal_bearing_runs_agree_with_the_exact_path(run: tuple[bytes, list[bytes]]) -> None:
    stream, headers = run
    raws = ResponseAssembler().feed(stream)
    try:
        expected = exact(raws)
    except ImapParseError:
        # A quoted subject the exact lexer refuses (raw 8-bit bytes that are not UTF-8 are
        # accepted; this is e.g. a lone backslash escape): the batch path must refuse too.
        with pytest.raises(ImapParseError):
            parse_responses(raws)
        return
    assert parse_responses(raws) == expected
    for result, header in zip(expected, headers, strict=True):
        assert isinstance(result, FetchResult)
        assert result.section(SECTION) == header  # literal bytes come back untouched


@settings(max_examples=200, deadline=None)
@given(engine_runs(), st.data())
def test_mutated_literal_runs_agree_or_both_fail(
    run: tuple[bytes, list[bytes]], data: st.DataObject
) -> None:
    stream = bytearray(run[0])
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(stream) - 1))
        stream[position] = data.draw(st.sampled_from(b' ()"\\{}[]N0\t\xe9\x00~+'))
    try:
        raws = ResponseAssembler().feed(bytes(stream))
    except ImapParseError:
        return
    try:
        expected = exact(raws)
    except ImapParseError:
        with pytest.raises(ImapParseError):
            parse_responses(raws)
        return
    assert parse_responses(raws) == expected


def test_a_parenthesis_cannot_be_borrowed_from_the_next_response() -> None:
    # Joined, these two would read as two well-formed responses; each alone is broken.
    raws = ResponseAssembler().feed(b"* 1 FETCH (UID 1 X (Y) Z\r\n* 2 FETCH (UID 2)) (UID 3)\r\n")
    for raw in raws:
        with pytest.raises(ImapParseError):
            parse_response(raw)
    with pytest.raises(ImapParseError):
        parse_responses(raws)


def test_unmodelled_items_keep_numbers_as_the_exact_path_spells_them() -> None:
    raws = ResponseAssembler().feed(
        b"* 1 FETCH (UID 1 X-COUNT 15 X-LIST (1 (2 a) NIL))\r\n* 2 FETCH (UID 2 X-COUNT 0)\r\n"
    )
    batch = parse_responses(raws)
    assert batch == exact(raws)
    first = batch[0]
    assert isinstance(first, FetchResult)
    assert first.extra == {"X-COUNT": "15", "X-LIST": ["1", ["2", "a"], None]}


def test_literals_with_any_bytes_in_the_batch_path() -> None:
    header = b'References: <a@x>\r\n \x00\xff\xfe"(\\)\r\n\r\n'
    subject = b"Gr\xfc\xdfe {3}\r\nNIL \x00"
    raws = ResponseAssembler().feed(
        engine_response(1, subject, header, subject_literal=True)
        + engine_response(2, b"x", b"", marker=b"~{%d}")
    )
    fast = _fast_fetch_run(*batch_input(raws))
    assert fast == exact(raws)
    assert fast[0].section(SECTION) == header and fast[1].section(SECTION) == b""
    assert fast[0].envelope is not None and fast[0].envelope.subject is not None
    assert fast[0].envelope.subject.startswith("Grüße {3}")


def test_new_body_structure_is_a_plain_frozen_body_structure() -> None:
    values = ("text", "plain", {"charset": "utf-8"}, "<id>", "d", "7bit", 10, 2, None)
    made = new_body_structure(*values, None, {}, ("en",), None, (), None, None)
    built = BodyStructure(*values, language=("en",))
    assert type(made) is BodyStructure
    assert made == built and repr(made) == repr(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.type = "image"  # type: ignore[misc]
    assert dataclasses.replace(made, subtype="html") == dataclasses.replace(built, subtype="html")
