"""Property tests: generated FETCH responses parse back to what was encoded, and garbage
only ever gives a typed parse error (no hang, no other exception, no silent wrong result)."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.imap import Address, FetchResult
from sync.imap.errors import ImapParseError
from sync.imap.lexer import ResponseAssembler
from sync.imap.parser import parse_response, parse_responses

# Text as a server may send it: anything but CR/LF/NUL in quoted strings, anything in literals.
TRICKY = st.sampled_from(["* ", "(", ")", ":(", '"', "\\", "{5}", "NIL", "=?", " ", "é", "~{3}"])
TEXT = st.lists(st.one_of(TRICKY, st.text(max_size=8)), max_size=6).map("".join)


def wire_string(value: str | None, as_literal: bool) -> bytes:
    """Encode an nstring the way a server would: NIL, quoted, or a literal."""
    if value is None:
        return b"NIL"
    data = value.encode("utf-8")
    needs_literal = any(byte in data for byte in b"\r\n\x00") or not data.isascii()
    if as_literal or needs_literal:
        return b"{%d}\r\n" % len(data) + data
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


ADDRESS = st.tuples(
    st.one_of(st.none(), TEXT.filter(lambda s: "=?" not in s)),
    TEXT.filter(bool),
    TEXT.filter(bool),
)


@st.composite
def fetch_responses(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    seq = draw(st.integers(1, 10**6))
    uid = draw(st.integers(1, 2**32 - 1))
    flags = draw(
        st.lists(st.sampled_from(["\\Seen", "\\Flagged", "$Junk", "\\Recent"]), max_size=3)
    )
    subject = draw(st.one_of(st.none(), TEXT.filter(lambda s: "=?" not in s)))
    senders = draw(st.lists(ADDRESS, max_size=3))
    literal = draw(st.booleans())
    addresses = (
        b"("
        + b"".join(
            b"("
            + wire_string(name, literal)
            + b" NIL "
            + wire_string(mailbox, False)
            + b" "
            + wire_string(host, False)
            + b")"
            for name, mailbox, host in senders
        )
        + b")"
        if senders
        else b"NIL"
    )
    envelope = (
        b"(NIL "
        + wire_string(subject, literal)
        + b" "
        + addresses
        + b" NIL NIL NIL NIL NIL NIL "
        + wire_string("<id@x>", False)
        + b")"
    )
    line = (
        b"* %d FETCH (UID %d FLAGS (%s) ENVELOPE " % (seq, uid, " ".join(flags).encode())
        + envelope
        + b")\r\n"
    )
    expected = {
        "seq": seq,
        "uid": uid,
        "flags": tuple(flags),
        "subject": subject,
        "from": tuple(Address(name, mailbox, host) for name, mailbox, host in senders),
    }
    return line, expected


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fetch_responses(), min_size=1, max_size=8))
def test_generated_fetch_responses_round_trip(items: list[tuple[bytes, dict[str, object]]]) -> None:
    stream = b"".join(line for line, _ in items)
    raws = ResponseAssembler().feed(stream)
    batch = parse_responses(raws)
    assert batch == [parse_response(raw) for raw in raws]
    assert len(batch) == len(items)
    for result, (_, expected) in zip(batch, items, strict=True):
        assert isinstance(result, FetchResult)
        assert result.envelope is not None
        got = {
            "seq": result.seq,
            "uid": result.uid,
            "flags": result.flags,
            "subject": result.envelope.subject,
            "from": result.envelope.from_,
        }
        assert got == expected


VALID = (
    b'* 1 FETCH (UID 5 FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
    b'RFC822.SIZE 44 ENVELOPE ("d" {3}\r\nabc (("n" NIL "m" "h")) NIL NIL NIL NIL NIL NIL '
    b'"<i>") BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 3 1))\r\n'
    b"* 2 EXISTS\r\n* VANISHED (EARLIER) 1:3\r\nA1 OK [COPYUID 1 2 3] done\r\n"
)


def _parse_everything(data: bytes) -> None:
    try:
        raws = ResponseAssembler().feed(data)
    except ImapParseError:
        return
    for raw in raws:
        with contextlib.suppress(ImapParseError):
            parse_response(raw)
    with contextlib.suppress(ImapParseError):
        parse_responses(raws)


@settings(max_examples=250, deadline=2000)
@given(st.binary(max_size=300))
def test_garbage_gives_only_typed_errors(data: bytes) -> None:
    _parse_everything(data)


@settings(max_examples=250, deadline=2000)
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 4), st.binary(max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_responses_give_only_typed_errors(edits: list[tuple[int, int, bytes]]) -> None:
    data = VALID
    for position, removed, inserted in edits:
        data = data[:position] + inserted + data[position + removed :]
    _parse_everything(data)


@settings(max_examples=100, deadline=2000)
@given(st.lists(fetch_responses(), min_size=1, max_size=4), st.data())
def test_mutated_runs_agree_between_batch_and_exact_paths(
    items: list[tuple[bytes, dict[str, object]]], data: st.DataObject
) -> None:
    stream = bytearray(b"".join(line for line, _ in items))
    position = data.draw(st.integers(0, len(stream) - 1))
    stream[position] = data.draw(st.sampled_from(b' ()"\\{}[]N0\t\xe9'))
    try:
        raws = ResponseAssembler().feed(bytes(stream))
    except ImapParseError:
        return
    exact: list[object] = []
    for raw in raws:
        try:
            exact.append(parse_response(raw))
        except ImapParseError:
            return  # the batch must then fail too, checked by the garbage tests
    assert parse_responses(raws) == exact
