"""The pure parser: table tests for every response kind and FETCH item we model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sync.imap import Address, Exists, Expunge, FetchResult, UidSet, Vanished
from sync.imap.errors import ImapParseError
from sync.imap.lexer import ResponseAssembler
from sync.imap.parser import (
    parse_appenduid,
    parse_copyuid,
    parse_internaldate,
    parse_response,
    parse_responses,
)
from sync.imap.types import (
    Capability,
    Continuation,
    Enabled,
    ESearch,
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
    UntaggedStatus,
)


def parse_all(data: bytes) -> list[Response]:
    """Parse a byte stream both ways (batch and one by one); they must agree."""
    raws = ResponseAssembler().feed(data)
    batch = parse_responses(raws)
    assert batch == [parse_response(raw) for raw in raws]
    return batch


def parse_one(data: bytes) -> Response:
    (response,) = parse_all(data)
    return response


ENVELOPE_LINE = (
    b'* 12 FETCH (UID 345 FLAGS (\\Seen $Forwarded) MODSEQ (99) INTERNALDATE " 7-Feb-2024 '
    b'09:05:01 -0800" RFC822.SIZE 4321 ENVELOPE ("Wed, 07 Feb 2024 09:05:01 -0800" '
    b'"Meeting * notes (draft) sad :( \\"quoted\\" back\\\\slash {5}" '
    b'(("=?utf-8?q?J=C3=B6rg_M=C3=BCller?=" NIL "joerg" "example.de")) NIL NIL '
    b'(("Bob" NIL "bob" "example.org")("* star (x)" NIL "s" "example.org")) '
    b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL '
    b'"<parent@example.org>" "<id@example.org>"))\r\n'
)


def test_fetch_with_envelope() -> None:
    result = parse_one(ENVELOPE_LINE)
    assert isinstance(result, FetchResult)
    assert (result.seq, result.uid, result.modseq, result.size) == (12, 345, 99, 4321)
    assert result.flags == ("\\Seen", "$Forwarded")
    assert result.internaldate == datetime(
        2024, 2, 7, 9, 5, 1, tzinfo=timezone(timedelta(hours=-8))
    )
    envelope = result.envelope
    assert envelope is not None
    assert envelope.subject == 'Meeting * notes (draft) sad :( "quoted" back\\slash {5}'
    assert envelope.from_ == (Address("Jörg Müller", "joerg", "example.de"),)
    assert envelope.sender == envelope.reply_to == ()
    assert [address.email for address in envelope.to] == ["bob@example.org", "s@example.org"]
    assert envelope.to[1].name == "* star (x)"
    assert envelope.cc == (Address(None, None, None, "undisclosed-recipients"),)
    assert envelope.bcc == ()
    assert envelope.in_reply_to == "<parent@example.org>"
    assert envelope.message_id == "<id@example.org>"


def test_group_members_carry_the_group_name() -> None:
    line = (
        b'* 1 FETCH (ENVELOPE (NIL NIL NIL NIL NIL ((NIL NIL "team" NIL)("A" NIL "a" "x.org")'
        b'("B" NIL "b" "x.org")(NIL NIL NIL NIL)("C" NIL "c" "x.org")) NIL NIL NIL NIL))\r\n'
    )
    result = parse_one(line)
    assert isinstance(result, FetchResult) and result.envelope is not None
    assert [(a.email, a.group) for a in result.envelope.to] == [
        ("a@x.org", "team"),
        ("b@x.org", "team"),
        ("c@x.org", None),
    ]
    assert result.envelope.subject is None and result.envelope.date is None


def test_envelope_literals_with_8bit_bytes() -> None:
    utf8 = "Grüße aus Köln".encode()
    cp1252 = "Café – “menu”".encode("cp1252")
    data = (
        b"* 1 FETCH (UID 1 ENVELOPE (NIL {%d}\r\n" % len(utf8)
        + utf8
        + b" (({%d}\r\n" % len(cp1252)
        + cp1252
        + b' NIL "x" "y.org")) NIL NIL NIL NIL NIL NIL NIL))\r\n'
    )
    result = parse_one(data)
    assert isinstance(result, FetchResult) and result.envelope is not None
    assert result.envelope.subject == "Grüße aus Köln"
    assert result.envelope.from_[0].name == "Café – “menu”"


def test_raw_8bit_in_quoted_strings() -> None:
    # Not legal IMAP4rev1, but servers do it; UTF-8 and cp1252 both come back readable.
    data = b'* 1 FETCH (ENVELOPE (NIL "caf\xe9" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n'
    result = parse_one(data)
    assert isinstance(result, FetchResult) and result.envelope is not None
    assert result.envelope.subject == "café"
    data = b'* 1 FETCH (ENVELOPE (NIL "caf\xc3\xa9" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n'
    result = parse_one(data)
    assert isinstance(result, FetchResult) and result.envelope is not None
    assert result.envelope.subject == "café"


def test_body_sections_partial_and_binary() -> None:
    data = (
        b"* 3 FETCH (UID 9 BODY[HEADER.FIELDS (SUBJECT)] {15}\r\nSubject: hi\r\n\r\n"
        b' BODY[]<0> "abc" BODY[1.MIME] NIL BINARY[2] ~{3}\r\n\x00\x01\x02 RFC822.HEADER {2}\r\n'
        b'h\n PREVIEW "text")\r\n'
    )
    result = parse_one(data)
    assert isinstance(result, FetchResult)
    assert result.sections == {
        "BODY[HEADER.FIELDS (SUBJECT)]": b"Subject: hi\r\n\r\n",
        "BODY[]<0>": b"abc",
        "BODY[1.MIME]": None,
        "BINARY[2]": b"\x00\x01\x02",
        "RFC822.HEADER": b"h\n",
    }
    assert result.section("body.peek[header.fields (subject)]") == b"Subject: hi\r\n\r\n"
    assert result.extra == {"PREVIEW": "text"}


def test_lower_case_item_names() -> None:
    result = parse_one(b"* 1 FETCH (uid 5 flags (\\Seen) body[] {1}\r\nx)\r\n")
    assert isinstance(result, FetchResult)
    assert (result.uid, result.flags, result.sections) == (5, ("\\Seen",), {"BODY[]": b"x"})


BODYSTRUCTURE = (
    b'* 1 FETCH (UID 2 BODYSTRUCTURE ((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1'
    b' NIL NIL NIL NIL)("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 20 2 NIL'
    b' NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "b2") NIL NIL NIL)("APPLICATION" "PDF" ("NAME"'
    b' "=?utf-8?q?R=C3=A9sum=C3=A9.pdf?=") NIL NIL "BASE64" 3000 NIL ("ATTACHMENT"'
    b' ("FILENAME" "cv.pdf")) NIL NIL)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 500 (NIL "Inner"'
    b' NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1) 12 NIL NIL NIL'
    b' NIL) "MIXED" ("BOUNDARY" "b1") NIL ("en" "de") NIL))\r\n'
)


def test_bodystructure() -> None:
    result = parse_one(BODYSTRUCTURE)
    assert isinstance(result, FetchResult)
    body = result.bodystructure
    assert body is not None
    assert (body.type, body.subtype, body.params) == ("multipart", "mixed", {"boundary": "b1"})
    assert body.language == ("en", "de")
    alternative, pdf, message = body.parts
    assert [part.subtype for part in alternative.parts] == ["plain", "html"]
    assert alternative.parts[1].encoding == "quoted-printable"
    assert alternative.parts[0].lines == 1
    assert not alternative.has_attachment
    assert pdf.disposition == "attachment" and pdf.filename == "cv.pdf"
    assert pdf.params["name"] == "Résumé.pdf"
    assert pdf.size == 3000
    assert message.envelope is not None and message.envelope.subject == "Inner"
    assert message.message is not None and message.message.subtype == "plain"
    assert message.lines == 12
    assert body.has_attachment


def test_non_text_leaf_with_name_is_an_attachment_inline_text_is_not() -> None:
    leaf = b'* 1 FETCH (BODYSTRUCTURE ("IMAGE" "PNG" ("NAME" "a.png") NIL NIL "BASE64" 10))\r\n'
    result = parse_one(leaf)
    assert isinstance(result, FetchResult) and result.bodystructure is not None
    assert result.bodystructure.has_attachment
    text = b'* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 2))\r\n'
    result = parse_one(text)
    assert isinstance(result, FetchResult) and result.bodystructure is not None
    assert not result.bodystructure.has_attachment


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # RFC 2231 §4: charset, language, percent-encoded octets.
        (b'("NAME*" "utf-8\'de\'Pr%C3%BCfung.pdf")', "Prüfung.pdf"),
        (b'("NAME*" "iso-8859-1\'\'%E9t%E9.txt")', "été.txt"),
        # §3 continuations, the first encoded, the second plain.
        (b'("NAME*0*" "utf-8\'\'%E2%82%AC-" "NAME*1" "report.pdf")', "€-report.pdf"),
        (b'("NAME*0" "a very long " "NAME*1" "name.zip")', "a very long name.zip"),
        (b'("NAME*" "x-unknown\'\'caf%C3%A9.txt")', "café.txt"),
    ],
)
def test_rfc2231_names_are_file_names(params: bytes, expected: str) -> None:
    """A part named only in RFC 2231 form is still an attachment, under its real name."""
    leaf = (
        b'* 1 FETCH (BODYSTRUCTURE ("APPLICATION" "PDF" ' + params + b' NIL NIL "BASE64" 10))\r\n'
    )
    result = parse_one(leaf)
    assert isinstance(result, FetchResult) and result.bodystructure is not None
    assert result.bodystructure.filename == expected
    assert result.bodystructure.has_attachment


def test_rfc2231_disposition_filename_wins_over_the_type_name() -> None:
    leaf = (
        b'* 1 FETCH (BODYSTRUCTURE ("IMAGE" "PNG" ("NAME" "fallback.png") NIL NIL "BASE64" 10'
        b' NIL ("INLINE" ("FILENAME*" "utf-8\'\'%F0%9F%98%80.png"))))\r\n'
    )
    result = parse_one(leaf)
    assert isinstance(result, FetchResult) and result.bodystructure is not None
    assert result.bodystructure.filename == "\U0001f600.png"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"* 23 EXISTS\r\n", Exists(23)),
        (b"* 5 EXPUNGE\r\n", Expunge(5)),
        (b"* 1 RECENT\r\n", Recent(1)),
        (b"* VANISHED (EARLIER) 41,43:116\r\n", Vanished(UidSet(((41, 41), (43, 116))), True)),
        (b"* VANISHED 7\r\n", Vanished(UidSet(((7, 7),)), False)),
        (b"* FLAGS (\\Answered \\Seen $Junk)\r\n", FlagsUpdate(("\\Answered", "\\Seen", "$Junk"))),
        (
            b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
            UntaggedStatus("OK", "UIDVALIDITY", "3857529045", "UIDs valid"),
        ),
        (
            b"* OK [PERMANENTFLAGS (\\Seen \\*)] Limited\r\n",
            UntaggedStatus("OK", "PERMANENTFLAGS", "(\\Seen \\*)", "Limited"),
        ),
        (b"* BYE shutting down\r\n", UntaggedStatus("BYE", None, None, "shutting down")),
        (b"* OK [ALERT] disk * full\r\n", UntaggedStatus("OK", "ALERT", None, "disk * full")),
        (b"A7 OK [READ-WRITE] done\r\n", Tagged("A7", "OK", "READ-WRITE", None, "done")),
        (b"A8 no [TRYCREATE] nope\r\n", Tagged("A8", "NO", "TRYCREATE", None, "nope")),
        (b"A9 BAD\r\n", Tagged("A9", "BAD", None, None, "")),
        (b"+ idling\r\n", Continuation("idling")),
        (b"+\r\n", Continuation("")),
        (
            b"* CAPABILITY IMAP4rev1 idle AUTH=PLAIN\r\n",
            Capability(frozenset({"IMAP4REV1", "IDLE", "AUTH=PLAIN"})),
        ),
        (b"* ENABLED CONDSTORE QRESYNC\r\n", Enabled(frozenset({"CONDSTORE", "QRESYNC"}))),
        (b"* SEARCH 2 84 882\r\n", SearchResponse((2, 84, 882))),
        (b"* SEARCH\r\n", SearchResponse(())),
        (b"* SEARCH 2 5 (MODSEQ 917)\r\n", SearchResponse((2, 5), 917)),
        (
            b'* ESEARCH (TAG "A1") UID ALL 1:3,5 COUNT 4\r\n',
            ESearch("A1", True, UidSet(((1, 3), (5, 5))), 4, None, None, None),
        ),
        (b'* ESEARCH (TAG "A2") UID\r\n', ESearch("A2", True, None, None, None, None, None)),
        (b'* ID ("name" "Dovecot" "x" NIL)\r\n', IdResponse({"name": "Dovecot", "x": None})),
        (b"* ID NIL\r\n", IdResponse({})),
        (
            b'* NAMESPACE (("" "/")) NIL (("#shared/" "/"))\r\n',
            NamespaceResponse((Namespace("", "/"),), (), (Namespace("#shared/", "/"),)),
        ),
        (
            b'* STATUS "Caf&AOk-" (MESSAGES 3 UIDNEXT 7 HIGHESTMODSEQ 9)\r\n',
            MailboxStatus("Café", messages=3, uidnext=7, highestmodseq=9),
        ),
        (
            b'* LIST (\\HasNoChildren \\sent) "/" "Sent &AOk-"\r\n',
            ListEntry(
                "Sent é", "Sent &AOk-", "/", frozenset({"\\HasNoChildren", "\\sent"}), "\\Sent"
            ),
        ),
        (
            b"* LIST (\\Noselect) NIL inbox\r\n",
            ListEntry("INBOX", "INBOX", None, frozenset({"\\Noselect"}), None),
        ),
        (b"* XSTRANGE 1 2 3\r\n", OtherUntagged("XSTRANGE", "XSTRANGE 1 2 3")),
        (b"* 3 XWHAT\r\n", OtherUntagged("XWHAT", "3 XWHAT")),
    ],
)
def test_response_table(data: bytes, expected: Response) -> None:
    assert parse_one(data) == expected


def test_list_entry_with_literal_name_and_extended_data() -> None:
    data = b'* LIST (\\Subscribed) "/" {7}\r\na "b" (c ("CHILDINFO" ("SUBSCRIBED"))\r\n'
    entry = parse_one(data)
    assert isinstance(entry, ListEntry)
    assert entry.name == 'a "b" (' and entry.selectable


@pytest.mark.parametrize(
    "data",
    [
        b"* 1 FETCH (UID)\r\n",
        b"* 1 FETCH (UID x)\r\n",
        b"* 1 FETCH (UID 1\r\n",
        b"* 1 FETCH UID 1\r\n",
        b"* 1 FETCH (FLAGS \\Seen)\r\n",
        b"* 1 FETCH (FLAGS (NIL))\r\n",
        b"* 1 FETCH (ENVELOPE (NIL))\r\n",
        b'* 1 FETCH (INTERNALDATE "31-Foo-2020 00:00:00 +0000")\r\n',
        b"* 1 FETCH (MODSEQ 5)\r\n",
        b"* 1 FETCH (BODYSTRUCTURE ())\r\n",
        b"* 1 FETCH (UID \xd9\xa1)\r\n",  # Arabic-Indic digit one: not an IMAP number
        b"* 1 FETCH (UID 1_000)\r\n",
        b"* 1 EXISTS junk\r\n",
        b"* VANISHED 1:x\r\n",
        b"* STATUS x (MESSAGES)\r\n",
        b"garbage\r\n",
        b"* \r\n",
    ],
)
def test_malformed_responses_raise_parse_errors(data: bytes) -> None:
    raws = ResponseAssembler().feed(data)
    with pytest.raises(ImapParseError):
        parse_response(raws[0])
    with pytest.raises(ImapParseError):
        parse_responses(raws)


def test_batch_path_falls_back_for_unusual_runs() -> None:
    lines = [
        b"* 1 FETCH (UID 1 FLAGS (007))\r\n",  # leading zero: not JSON
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) X 1.5)\r\n",  # would be a JSON float
        b"* 3 FETCH (UID 3 FLAGS (12 NaN Infinity))\r\n",  # numeric keyword flags
        b'* 4 FETCH (UID 4 ENVELOPE ("\\u0041" "tab\there" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n',
        b"* 5 FETCH (UID 005)\r\n",
    ]
    results = parse_all(b"".join(lines))
    assert [result.uid for result in results if isinstance(result, FetchResult)] == [1, 2, 3, 4, 5]
    assert isinstance(results[0], FetchResult) and results[0].flags == ("007",)
    assert isinstance(results[1], FetchResult) and results[1].extra == {"X": "1.5"}
    assert isinstance(results[2], FetchResult) and results[2].flags == ("12", "NaN", "Infinity")
    four = results[3]
    assert isinstance(four, FetchResult) and four.envelope is not None
    assert (four.envelope.date, four.envelope.subject) == ("u0041", "tab\there")


def test_internaldate() -> None:
    assert parse_internaldate("17-Jul-1996 02:44:25 -0700") == datetime(
        1996, 7, 17, 9, 44, 25, tzinfo=UTC
    )
    assert parse_internaldate(" 1-jan-2000 00:00:00 +0530").utcoffset() == timedelta(
        hours=5, minutes=30
    )
    with pytest.raises(ImapParseError):
        parse_internaldate("2000-01-01 00:00:00")


def test_response_code_values() -> None:
    copy = parse_copyuid("38505 304,319:320 3956:3958")
    assert copy.mapping() == {304: 3956, 319: 3957, 320: 3958}
    append = parse_appenduid("38505 3955")
    assert (append.uidvalidity, list(append.uids)) == (38505, [3955])
    with pytest.raises(ImapParseError):
        parse_copyuid("1 2")


def test_uidset() -> None:
    assert str(UidSet.of([5, 1, 2, 3, 9, 10, 3])) == "1:3,5,9:10"
    assert str(UidSet.parse("3:1,*")) == "1:3,*"
    assert str(UidSet.parse("*:4")) == "4:*"
    assert 7 in UidSet.parse("4:*") and 3 not in UidSet.parse("4:*")
    assert len(UidSet.parse("1:3,7")) == 4
    with pytest.raises(ValueError):
        UidSet.parse("0:3")
    with pytest.raises(ValueError):
        list(UidSet.all())


@pytest.mark.parametrize("item", [b"ENVELOPE", b"BODYSTRUCTURE", b"X-UNKNOWN", b"FLAGS"])
def test_absurd_nesting_is_a_parse_error_or_a_result(item: bytes) -> None:
    data = b"* 1 FETCH (" + item + b" " + b"(" * 50_000 + b")" * 50_000 + b")\r\n"
    raws = ResponseAssembler().feed(data)
    for batch in (False, True):
        try:
            (result,) = parse_responses(raws) if batch else [parse_response(raws[0])]
        except ImapParseError:
            continue
        assert isinstance(result, FetchResult) and item == b"X-UNKNOWN"
