"""The pure lexer: response framing (lines and literals) and the value tokenizer."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.imap.errors import ImapParseError
from sync.imap.lexer import RawResponse, ResponseAssembler, tokenize

STREAM = (
    b"* OK ready\r\n"
    b"* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 7)\r\n"
    b"* 2 FETCH (BODY[] {0}\r\n UID 8)\r\n"
    b"* 3 FETCH (BINARY[1] ~{3}\r\n\x00\xff\r FLAGS ())\r\n"
    b"* 4 FETCH (X {2+}\r\n}{ Y {3}\r\n{3} Z)\r\n"
    b"A1 OK done\r\n"
)
EXPECTED = [
    RawResponse(b"* OK ready\r\n", []),
    RawResponse(b"* 1 FETCH (BODY[] {5}\r\n UID 7)\r\n", [b"ab\r\nc"]),
    RawResponse(b"* 2 FETCH (BODY[] {0}\r\n UID 8)\r\n", [b""]),
    RawResponse(b"* 3 FETCH (BINARY[1] ~{3}\r\n FLAGS ())\r\n", [b"\x00\xff\r"]),
    RawResponse(b"* 4 FETCH (X {2+}\r\n Y {3}\r\n Z)\r\n", [b"}{", b"{3}"]),
    RawResponse(b"A1 OK done\r\n", []),
]


def test_assembler_cuts_lines_and_literals() -> None:
    assert ResponseAssembler().feed(STREAM) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_assembler_result_does_not_depend_on_chunking(cuts: list[int]) -> None:
    assembler = ResponseAssembler()
    out: list[RawResponse] = []
    previous = 0
    for cut in [*sorted(cuts), len(STREAM)]:
        out += assembler.feed(STREAM[previous:cut])
        previous = cut
    assert out == EXPECTED
    assert assembler.pending == 0


def test_assembler_byte_by_byte() -> None:
    assembler = ResponseAssembler()
    out: list[RawResponse] = []
    for index in range(len(STREAM)):
        out += assembler.feed(STREAM[index : index + 1])
    assert out == EXPECTED


def test_assembler_is_linear_in_the_response_size() -> None:
    # 60k lines in 1 KiB pieces, plus a 4 MiB literal in 1 KiB pieces: a reader that
    # rescans what it already has (aioimaplib) needs minutes for this; we need well under 2 s.
    lines = b"".join(b"* %d FETCH (UID %d FLAGS (\\Seen))\r\n" % (i, i) for i in range(60_000))
    literal = b"x" * (4 * 1024 * 1024)
    stream = lines + b"* 1 FETCH (BODY[] {%d}\r\n" % len(literal) + literal + b")\r\n"
    assembler = ResponseAssembler()
    start = time.perf_counter()
    count = 0
    for offset in range(0, len(stream), 1024):
        count += len(assembler.feed(stream[offset : offset + 1024]))
    assert time.perf_counter() - start < 10
    assert count == 60_001


def test_line_without_end_is_refused_beyond_the_limit() -> None:
    assembler = ResponseAssembler(max_line=1000)
    with pytest.raises(ImapParseError):
        assembler.feed(b"* OK " + b"x" * 2000)


@pytest.mark.parametrize(
    ("text", "literals", "expected"),
    [
        ("(A B)", [], [["A", "B"]]),
        ('"a b" NIL "NIL" ()', [], ["a b", None, "NIL", []]),
        (r'"a\"b\\c"', [], ['a"b\\c']),
        ('"sad :(" "* x" "{5}"', [], ["sad :(", "* x", "{5}"]),
        ("(\\Seen $Junk \\*)", [], [["\\Seen", "$Junk", "\\*"]]),
        ("BODY[HEADER.FIELDS (SUBJECT FROM)] x", [], ["BODY[HEADER.FIELDS (SUBJECT FROM)]", "x"]),
        ("BODY[]<0> {3}\r\n", [b"abc"], ["BODY[]<0>", b"abc"]),
        ("BINARY[1] ~{2}\r\n", [b"\x00\x01"], ["BINARY[1]", b"\x00\x01"]),
        ("((A)(B C)) D", [], [[["A"], ["B", "C"]], "D"]),
        ("foo]bar", [], ["foo]bar"]),
    ],
)
def test_tokenize_table(text: str, literals: list[bytes], expected: list[object]) -> None:
    assert tokenize(text, literals) == expected


def test_tokenize_raw8_quoted_strings_come_back_as_bytes() -> None:
    raw = b'"caf\xe9" "plain"'
    assert tokenize(raw.decode("latin-1"), raw8=True) == [b"caf\xe9", "plain"]


@pytest.mark.parametrize(
    ("text", "literals"),
    [
        ("(A", []),
        ("A)", []),
        ('"open', []),
        ("{x}", []),
        ("A\tB", []),
        ("{3}\r\n", []),  # marker without literal
        ("A", [b"x"]),  # literal without marker
        ("{4}\r\n", [b"abc"]),  # size mismatch
        ("{3}", [b"abc"]),  # marker not at a line end
    ],
)
def test_tokenize_rejects_bad_syntax(text: str, literals: list[bytes]) -> None:
    with pytest.raises(ImapParseError):
        tokenize(text, literals)


@settings(max_examples=300)
@given(st.text(max_size=200), st.lists(st.binary(max_size=5), max_size=3))
def test_tokenize_never_fails_other_than_typed(text: str, literals: list[bytes]) -> None:
    with contextlib.suppress(ImapParseError):
        tokenize(text, literals)


def test_an_astring_may_start_with_a_bracket() -> None:
    # RFC 3501 §9: "[" is an ATOM-CHAR and "]" an ASTRING-CHAR; Dovecot lists Gmail-style
    # folders unquoted (found by tests/engine/test_gmail_like.py).
    assert tokenize(' (\\Noselect) "/" [Gmail]\r\n') == [["\\Noselect"], "/", "[Gmail]"]
    assert tokenize(" [Gmail]/Starred (UIDVALIDITY 7)") == ["[Gmail]/Starred", ["UIDVALIDITY", "7"]]
    # A section still belongs to its atom.
    assert tokenize("(BODY[HEADER.FIELDS (SUBJECT)] NIL)") == [
        ["BODY[HEADER.FIELDS (SUBJECT)]", None]
    ]
