"""Draft -> message -> bytes -> stdlib parse: everything given comes back."""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from sync.compose import (
    ComposeError,
    Draft,
    build_message,
    envelope,
    make_message_id,
    message_bytes,
    wire_bytes,
)
from tests.compose.helpers import account

NOW = datetime(2026, 3, 2, 14, 5, 9, tzinfo=timezone(timedelta(hours=1)))


def _parse(data: bytes) -> EmailMessage:
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _draft(**changes: Any) -> Draft:
    base = Draft(
        from_="Zoë Me <me@example.org>",
        to=('"Müller, Jörg" <joerg@example.de>', "ana@example.com"),
        cc=("Ελένη <eleni@example.gr>",),
        bcc=("Secret <secret@example.net>",),
        subject="Grüße – ein sehr langer Betreff, der gefaltet werden muss, weil er länger "
        "als eine Zeile ist 日本語",
        body="Hallo Jörg,\n\nwie geht's?\n",
        in_reply_to="<parent@example.de>",
        references=("<root@example.de>", "<parent@example.de>"),
    )
    return dataclasses.replace(base, **changes)


def test_headers_round_trip() -> None:
    message = build_message(_draft(), account(), now=NOW)
    data = message_bytes(message)
    assert data.isascii()  # 7-bit clean: RFC 2047 words, quoted-printable body
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    assert b"\n" not in data.replace(b"\r\n", b"")
    parsed = _parse(data)
    assert parsed["From"].addresses[0].display_name == "Zoë Me"
    assert [a.display_name for a in parsed["To"].addresses] == ["Müller, Jörg", ""]
    assert [a.addr_spec for a in parsed["To"].addresses] == ["joerg@example.de", "ana@example.com"]
    assert parsed["Cc"].addresses[0].display_name == "Ελένη"
    assert parsed["Bcc"].addresses[0].addr_spec == "secret@example.net"
    assert parsed["Subject"] == _draft().subject
    assert parsed["Date"].datetime == NOW
    assert parsed["In-Reply-To"] == "<parent@example.de>"
    assert parsed["References"] == "<root@example.de> <parent@example.de>"
    message_id = parsed["Message-ID"]
    assert message_id.startswith("<") and message_id.endswith("@example.org>")
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content().replace("\r\n", "\n") == "Hallo Jörg,\n\nwie geht's?\n"


def test_message_ids_are_unique_and_on_the_sender_domain() -> None:
    ids = {make_message_id("Me <me@mail.example.org>") for _ in range(100)}
    assert len(ids) == 100
    assert all(i.endswith("@mail.example.org>") for i in ids)
    built = build_message(_draft(from_="x@other.example"), account(), now=NOW)
    assert built["Message-ID"].endswith("@other.example>")
    given = build_message(_draft(), account(), now=NOW, message_id="<fixed@example.org>")
    assert given["Message-ID"] == "<fixed@example.org>"


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        ("plain ascii\n", "7bit"),
        ("a" * 1200 + "\n", "quoted-printable"),  # over 998: not 7bit (RFC 5322 §2.1.1)
        ("Grüße aus Köln, mit ein paar Umlauten.\n", "quoted-printable"),
        ("日本語のテキストです。" * 20 + "\n", "base64"),
    ],
)
def test_body_encoding_and_round_trip(body: str, encoding: str) -> None:
    parsed = _parse(message_bytes(build_message(_draft(body=body), account(), now=NOW)))
    assert parsed["Content-Transfer-Encoding"] == encoding
    assert parsed.get_content().replace("\r\n", "\n") == body


def test_attachments_with_non_ascii_names_round_trip(tmp_path: Path) -> None:
    files = {
        "Übersicht März 2026.pdf": bytes(range(256)) * 40,
        "日本語.txt": "テキスト\r\nmixed\nline ends\n".encode(),
        "plain.tar.gz": b"\x1f\x8b" + b"\x00" * 100,
    }
    paths = []
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(path)
    data = message_bytes(build_message(_draft(attachments=tuple(paths)), account(), now=NOW))
    # RFC 2231 parameter encoding for the non-ASCII names.
    assert b"filename*=utf-8''%C3%9Cbersicht%20M%C3%A4rz%202026.pdf" in data.replace(b"\r\n ", b" ")
    parsed = _parse(data)
    assert parsed.get_content_type() == "multipart/mixed"
    body = parsed.get_body(("plain",))
    assert body is not None and "wie geht's?" in body.get_content()
    got = {part.get_filename(): part for part in parsed.iter_attachments()}
    assert list(got) == list(files)
    for name, expected in files.items():
        assert got[name].get_content_disposition() == "attachment"
        content = got[name].get_payload(decode=True)
        assert content == expected  # byte-exact, line ends included
    assert got["Übersicht März 2026.pdf"].get_content_type() == "application/pdf"
    assert got["plain.tar.gz"].get_content_type() == "application/octet-stream"


def test_unreadable_attachment_and_bad_drafts(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="cannot read attachment"):
        build_message(_draft(attachments=(tmp_path / "missing.pdf",)), account())
    with pytest.raises(ComposeError, match="no recipient"):
        build_message(_draft(to=(), cc=(), bcc=()), account())
    with pytest.raises(ComposeError, match="To: not an address: 'bob'"):
        build_message(_draft(to=("ana@example.com, bob",)), account())


def test_idn_domain_becomes_a_labels() -> None:
    parsed = _parse(
        message_bytes(build_message(_draft(to=("Ülla <ulla@bücher.example>",)), account()))
    )
    assert parsed["To"].addresses[0].addr_spec == "ulla@xn--bcher-kva.example"


def test_from_defaults_to_the_account() -> None:
    built = build_message(_draft(from_=""), account(), now=datetime(2026, 1, 1, tzinfo=UTC))
    assert str(built["From"]) == "Zoë Me <me@example.org>"


def test_wire_bytes_drop_folded_bcc_and_keep_everything_else() -> None:
    raw = (
        b"From: me@example.org\r\nBcc: a@example.com,\r\n  b@example.com\r\n"
        b"To: c@example.com\r\nRESENT-BCC: d@example.com\r\nSubject: s\r\n\r\n"
        b"Bcc: in the body stays\r\n"
    )
    assert wire_bytes(raw) == (
        b"From: me@example.org\r\nTo: c@example.com\r\nSubject: s\r\n\r\nBcc: in the body stays\r\n"
    )
    assert wire_bytes(raw.replace(b"\r\n", b"\n")) == wire_bytes(raw)
    sender, recipients = envelope(raw)
    assert (sender, recipients) == (
        "me@example.org",
        ("c@example.com", "a@example.com", "b@example.com"),
    )


def test_envelope_deduplicates_ignoring_case() -> None:
    data = message_bytes(
        build_message(
            _draft(to=("Ana <ana@example.com>",), cc=("ANA@example.com",), bcc=("x@example.com",)),
            account(),
        )
    )
    assert envelope(data) == ("me@example.org", ("ana@example.com", "x@example.com"))
