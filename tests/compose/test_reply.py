"""Reply, reply-all and forward drafts from raw originals."""

from __future__ import annotations

import email.parser
import email.policy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.message import EmailMessage

import pytest

from sync.compose import (
    build_message,
    forward_draft,
    message_bytes,
    quote_lines,
    reply_draft,
)
from sync.mime import BodyLine
from tests.compose.helpers import ME, account, raw_message


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Attribution dates are local time: make local time UTC for these tests."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@dataclass(frozen=True)
class Case:
    name: str
    headers: dict[str, str]
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    all_to: tuple[str, ...] | None = None  # reply-all, when it differs from reply
    all_cc: tuple[str, ...] = ()
    subject: str = "Re: Hello"
    own: tuple[str, ...] = field(default_factory=tuple)


CASES = [
    Case(
        "simple, non-ASCII name encoded",
        {"From": "=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>", "To": ME},
        to=("Jörg Müller <joerg@example.de>",),
        all_to=("Jörg Müller <joerg@example.de>",),
        subject="Re: Hello",
    ),
    Case(
        "8-bit UTF-8 headers, several recipients, own address in another case with a name",
        {
            "From": "Ana Øster <ana@example.com>",
            "To": "Zoë <ME@Example.ORG>, bob@example.net",
            "Cc": '"Doe, Jane" <jane@example.com>, Bob B <BOB@example.net>, me@example.org',
            "Subject": "AW: Re: Grüße",
        },
        to=("Ana Øster <ana@example.com>",),
        all_to=("Ana Øster <ana@example.com>",),
        all_cc=("bob@example.net", '"Doe, Jane" <jane@example.com>'),
        subject="Re: Grüße",
    ),
    Case(
        "Reply-To wins over From",
        {
            "From": "Carol <carol@example.com>",
            "Reply-To": "Carol at work <carol@work.example>",
            "To": "me@example.org, dan@example.com",
        },
        to=("Carol at work <carol@work.example>",),
        all_to=("Carol at work <carol@work.example>",),
        all_cc=("dan@example.com",),
    ),
    Case(
        "mailing list with Reply-To set to the list",
        {
            "From": "Alice <alice@example.com>",
            "To": "dev@lists.example.org",
            "Cc": "carol@example.com, Me <me@example.org>",
            "Reply-To": "dev@lists.example.org",
            "Subject": "[dev] Re: =?utf-8?q?patch_f=C3=BCr_v2?=",
            "List-Post": "<mailto:dev@lists.example.org>",
            "List-Id": "<dev.lists.example.org>",
        },
        to=("dev@lists.example.org",),
        all_to=("dev@lists.example.org",),
        all_cc=("carol@example.com",),
        subject="Re: [dev] patch für v2",
    ),
    Case(
        "my own message: the reply goes to its recipients",
        {"From": "Zoë Me <me@example.org>", "To": "Bob <bob@example.net>", "Cc": "eve@example.com"},
        to=("Bob <bob@example.net>",),
        all_to=("Bob <bob@example.net>",),
        all_cc=("eve@example.com",),
    ),
    Case(
        "an alias of mine is dropped too",
        {"From": "frank@example.com", "To": "Me Alias <alias@example.org>, gil@example.com"},
        to=("frank@example.com",),
        all_to=("frank@example.com",),
        all_cc=("gil@example.com",),
        own=("Alias@Example.org",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_reply_recipients_and_subject(case: Case) -> None:
    headers = {"Subject": "Hello", **case.headers}
    raw = raw_message(headers)
    reply = reply_draft(raw, account(), own_addresses=case.own)
    assert (reply.to, reply.cc, reply.subject) == (case.to, case.cc, case.subject)
    assert reply.reply_kind == "reply"
    everyone = reply_draft(raw, account(), reply_all=True, own_addresses=case.own)
    assert (everyone.to, everyone.cc) == (case.all_to or case.to, case.all_cc)
    assert everyone.reply_kind == "reply_all"
    assert everyone.subject == case.subject
    for draft in (reply, everyone):
        assert draft.from_ == "Zoë Me <me@example.org>"
        for address in draft.to + draft.cc:
            assert "me@example.org" not in address.lower() or case.name.startswith("my own")


def test_threading_headers() -> None:
    raw = raw_message(
        {
            "From": "a@example.com",
            "Subject": "x",
            "Message-ID": "<third@example.com>",
            "In-Reply-To": "<second@example.com>",
            "References": "<first@example.com>\n <second@example.com>",  # folded
        }
    )
    draft = reply_draft(raw, account())
    assert draft.in_reply_to == "<third@example.com>"
    assert draft.source_message_id == "<third@example.com>"
    assert draft.references == (
        "<first@example.com>",
        "<second@example.com>",
        "<third@example.com>",
    )


def test_references_fall_back_to_in_reply_to_and_are_capped() -> None:
    raw = raw_message({"From": "a@example.com", "In-Reply-To": "<parent@example.com>"})
    assert reply_draft(raw, account()).references == ("<parent@example.com>", "<orig@example.com>")
    many = " ".join(f"<m{i}@example.com>" for i in range(50))
    long = reply_draft(raw_message({"From": "a@example.com", "References": many}), account())
    assert len(long.references) == 30
    assert long.references[0] == "<m0@example.com>"  # the thread root stays
    assert long.references[-2:] == ("<m49@example.com>", "<orig@example.com>")


def test_attribution_and_quoting() -> None:
    body = "Hi,\n\n> earlier words\n>> older words\nthanks\n\n\n"
    raw = raw_message({"From": "Jörg <joerg@example.de>", "Subject": "x"}, body)
    draft = reply_draft(raw, account())
    assert draft.body == (
        "On Mon, 2 Mar 2026 at 13:05, Jörg wrote:\n"
        "> Hi,\n"
        ">\n"
        ">> earlier words\n"
        ">>> older words\n"
        "> thanks\n"
        "\n"
    )


def test_quote_lines_without_date_or_name() -> None:
    raw = raw_message({"From": "x@example.com", "Date": ""}, "body\n")
    assert reply_draft(raw, account()).body.startswith("x@example.com wrote:\n> body\n")
    assert quote_lines([BodyLine(0, ""), BodyLine(1, "> a")]) == ">\n>> a"


def test_reply_to_html_only_mail_quotes_the_rendered_text() -> None:
    raw = raw_message(
        {"From": "news@example.com", "Subject": "News"},
        "<html><body><p>Hello <b>world</b></p><p>Second &amp; last</p></body></html>\n",
        **{"Content-Type": "text/html; charset=utf-8"},
    )
    body = reply_draft(raw, account()).body
    assert "> Hello world" in body
    assert "> Second & last" in body
    assert "<b>" not in body


def _parse(data: bytes) -> EmailMessage:
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _original_with_attachment() -> bytes:
    original = EmailMessage()
    original["From"] = "Ana Øster <ana@example.com>"
    original["To"] = ME
    original["Cc"] = "bob@example.net"
    original["Subject"] = "Fw: Bericht über März"
    original["Date"] = "Mon, 02 Mar 2026 14:05:00 +0100"
    original["Message-ID"] = "<report@example.com>"
    original.set_content("Der Bericht ist anbei.\n")
    original.add_attachment(
        bytes(range(256)), maintype="application", subtype="pdf", filename="Übersicht März.pdf"
    )
    return original.as_bytes()


def test_forward_inline_carries_text_headers_and_attachments() -> None:
    raw = _original_with_attachment()
    draft = forward_draft(raw, account())
    assert draft.subject == "Fwd: Bericht über März"
    assert draft.to == () and draft.in_reply_to is None
    assert draft.source_message_id == "<report@example.com>"
    assert "---------- Forwarded message ----------" in draft.body
    assert "From: Ana Øster <ana@example.com>" in draft.body
    assert "Subject: Fw: Bericht über März" in draft.body
    assert "Cc: bob@example.net" in draft.body
    assert "Der Bericht ist anbei." in draft.body
    assert [(p.filename, p.content_type) for p in draft.carried] == [
        ("Übersicht März.pdf", "application/pdf")
    ]

    built = build_message(replace(draft, to=("carl@example.com",)), account())
    attachments = list(_parse(message_bytes(built)).iter_attachments())
    assert [a.get_filename() for a in attachments] == ["Übersicht März.pdf"]
    assert attachments[0].get_content() == bytes(range(256))


def test_forward_as_attachment_keeps_the_original_bytes() -> None:
    raw = raw_message({"From": "Ana <ana@example.com>", "Subject": "Grüße"}, "8-bit body: grüße\n")
    draft = forward_draft(raw, account(), as_attachment=True)
    assert draft.body == "" and draft.subject == "Fwd: Grüße"
    assert [(p.filename, p.content_type, p.data) for p in draft.carried] == [
        ("Grüße.eml", "message/rfc822", raw)
    ]
    data = message_bytes(build_message(replace(draft, to=("carl@example.com",)), account()))
    assert raw in data  # unchanged, CRLF and 8-bit bytes included
    (attached,) = _parse(data).iter_attachments()
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_filename() == "Grüße.eml"
    assert attached["Content-Transfer-Encoding"] == "8bit"
    inner = attached.get_content()
    assert inner["Subject"] == "Grüße"
