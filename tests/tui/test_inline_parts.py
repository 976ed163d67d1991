"""Inline parts (the images of an HTML body, RFC 2387 multipart/related) are listed with the
attachments, marked inline, and can be saved (``s``, ``S``) and opened (``v``) like them
(issue 7). Saved and opened copies hold exactly the bytes that were sent.
"""

from __future__ import annotations

import base64
from pathlib import Path

from sync.mime import parse_message
from tests.tui.helpers import calls, screen_text, wait_until
from tests.tui.test_reader_actions import (
    SIZE,
    answer_prompt,
    backend_with,
    names,
    open_message,
    shown,
)
from tui.app import MailApp
from tui.widgets.reader import ReaderStyles, render_message, selectable_parts

# Every byte value, so that a lossy step (a text decode, a line-ending change) shows.
LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
PIXEL = b"GIF89a" + bytes(range(255, -1, -1)) + b"\r\n\x00;"
REPORT = b"%PDF-1.4 report"


def part(headers: list[str], data: bytes) -> str:
    """A base64 body part with these headers."""
    encoded = base64.encodebytes(data).decode().strip()
    return "\r\n".join([*headers, "Content-Transfer-Encoding: base64", "", encoded])


def related_message() -> bytes:
    """mixed(related(html, logo.png named inline, a nameless gif), report.pdf attached)."""
    html = (
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>Our logo <img src='cid:logo@x' alt='logo'> and <img src='cid:pixel@x'>.</p>"
    )
    related = "\r\n".join(
        [
            'Content-Type: multipart/related; boundary="rel"',
            "",
            "--rel",
            html,
            "--rel",
            part(
                [
                    "Content-Type: image/png",
                    'Content-Disposition: inline; filename="logo.png"',
                    "Content-ID: <logo@x>",
                ],
                LOGO,
            ),
            "--rel",
            part(["Content-Type: image/gif", "Content-ID: <pixel@x>"], PIXEL),
            "--rel--",
        ]
    )
    lines = [
        "From: Alice <alice@example.org>",
        "To: bob@example.org",
        "Subject: Newsletter",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="mix"',
        "",
        "--mix",
        related,
        "--mix",
        part(
            [
                "Content-Type: application/pdf",
                'Content-Disposition: attachment; filename="report.pdf"',
            ],
            REPORT,
        ),
        "--mix--",
        "",
    ]
    return "\r\n".join(lines).encode()


def test_inline_parts_come_last_with_safe_distinct_names() -> None:
    parts = selectable_parts(parse_message(related_message()).attachments)
    assert [(p.safe_name, p.inline, p.content_type) for p in parts] == [
        ("report.pdf", False, "application/pdf"),
        ("logo.png", True, "image/png"),
        ("inline-2.gif", True, "image/gif"),
    ]
    assert [p.payload() for p in parts] == [REPORT, LOGO, PIXEL]
    rendered = render_message(related_message(), ReaderStyles())
    assert rendered.inline_parts == 2 and rendered.attachments == parts
    notes = rendered.notes.plain
    assert "1 attachment and 2 inline parts:" in notes
    assert "[3] inline-2.gif  image/gif" in notes and notes.rstrip().endswith("inline")


async def test_an_inline_image_is_saved_and_opened_with_its_exact_bytes(
    tmp_path: Path, home: Path, record: Path
) -> None:
    target = tmp_path / "saved"
    target.mkdir()
    app = MailApp(backend_with(related_message()))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        text = screen_text(app)
        assert "1 attachment and 2 inline parts:" in text
        assert "[2] logo.png" in text and "[3] inline-2.gif" in text
        await pilot.press("right_square_bracket")  # mark logo.png
        assert "> [2] logo.png" in screen_text(app)
        await pilot.press("s")
        await answer_prompt(pilot, app, str(target))
        await wait_until(pilot, lambda: "Saved logo.png" in shown(app))
        assert (target / "logo.png").read_bytes() == LOGO

        await pilot.press("right_square_bracket", "v")  # the nameless gif, opened
        await wait_until(pilot, lambda: calls(record))
        [call] = calls(record)
        assert Path(call["argv"][-1]).name == "inline-2.gif"
        assert call["content"].encode("latin-1") == PIXEL

        await pilot.press("S")
        await answer_prompt(pilot, app, str(tmp_path / "saved"))
        # logo.png is there already: keep both.
        await wait_until(pilot, lambda: "already exists" in shown(app))
        await pilot.press("k")
        await wait_until(pilot, lambda: "Saved 3 attachments" in shown(app))
    assert names(target) == ["inline-2.gif", "logo (2).png", "logo.png", "report.pdf"]
    assert (target / "logo (2).png").read_bytes() == LOGO
    assert (target / "inline-2.gif").read_bytes() == PIXEL
    assert (target / "report.pdf").read_bytes() == REPORT
