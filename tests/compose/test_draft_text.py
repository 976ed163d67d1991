"""The $EDITOR form of a draft: written, edited, read back; clear errors for bad lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.compose import Draft, DraftSyntaxError, draft_to_text, text_to_draft


def _draft(tmp_path: Path) -> Draft:
    attachment = tmp_path / "Übersicht.pdf"
    attachment.write_bytes(b"%PDF")
    return Draft(
        from_="Zoë Me <me@example.org>",
        to=('"Müller, Jörg" <joerg@example.de>', "ana@example.com"),
        cc=("Ελένη <eleni@example.gr>",),
        subject="Re: Grüße",
        body="> quoted\n\nmy answer\n",
        attachments=(attachment,),
        in_reply_to="<p@example.de>",
        references=("<r@example.de>", "<p@example.de>"),
        reply_kind="reply_all",
        source_message_id="<p@example.de>",
    )


def test_text_form_and_round_trip(tmp_path: Path) -> None:
    draft = _draft(tmp_path)
    text = draft_to_text(draft)
    assert text == (
        "From: Zoë Me <me@example.org>\n"
        'To: "Müller, Jörg" <joerg@example.de>, ana@example.com\n'
        "Cc: Ελένη <eleni@example.gr>\n"
        "Bcc: \n"
        "Subject: Re: Grüße\n"
        f"Attach: {tmp_path / 'Übersicht.pdf'}\n"
        "\n"
        "> quoted\n\nmy answer\n"
    )
    assert text_to_draft(text, draft) == draft


def test_edits_are_read_back(tmp_path: Path) -> None:
    draft = _draft(tmp_path)
    other = tmp_path / "second file.txt"
    other.write_text("x")
    edited = (
        "from: Zoë Me <me@example.org>\r\n"
        "TO: ana@example.com,\r\n"
        "   Carl <carl@example.com>\r\n"  # a continuation line
        "To: dan@example.com\r\n"  # a repeated header adds to the first
        "Bcc: Hidden <h@example.net>\r\n"
        "Subject:   New subject  \r\n"
        f"Attach: {other}\r\n"
        "\r\n"
        "Body line: with a colon\r\n"
        "\r\n"
        "Second paragraph\r\n"
    )
    result = text_to_draft(edited, draft)
    assert result.to == ("ana@example.com", "Carl <carl@example.com>", "dan@example.com")
    assert result.cc == ()  # the Cc line was removed: the text is the truth
    assert result.bcc == ("Hidden <h@example.net>",)
    assert result.subject == "New subject"
    assert result.attachments == (other,)
    assert result.body == "Body line: with a colon\n\nSecond paragraph\n"
    # What the text does not show comes from the base draft.
    assert result.references == draft.references and result.reply_kind == "reply_all"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("To: a@example.com\nthis is not a header\n\nbody", 2, "expected a header"),
        ("To: a@example.com\nX-Mailer: me\n\nbody", 2, "unknown header 'X-Mailer'"),
        ("  continued\n\nbody", 1, "continuation line before any header"),
        ("From: a@example.com\nTo: ok@example.com, broken@\n\n", 2, "To: not an address"),
        ("From: a@example.com, b@example.com\n\nbody", 1, "exactly one address"),
        ("To: a@example.com\nAttach: /nonexistent/file.pdf\n\n", 2, "no such file"),
    ],
)
def test_bad_lines_are_named(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DraftSyntaxError) as caught:
        text_to_draft(text)
    assert caught.value.line == line
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"line {line}: ")


def test_headers_only_and_missing_files_allowed_when_asked() -> None:
    draft = text_to_draft("To: a@example.com\nAttach: /nonexistent.pdf", check_files=False)
    assert draft.to == ("a@example.com",)
    assert draft.body == ""
    assert draft.attachments == (Path("/nonexistent.pdf"),)
