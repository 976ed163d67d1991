"""Pictures of the main screens, saved as SVG into ``screenshots/`` for the docs and reviews.

Each test renders a screen from the in-memory backend (fixed data, fixed size, UTC), saves
it, and asserts on what the screen contains, never on the SVG's bytes (Textual's SVG output
changes between versions; what the user sees must not).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.helpers import screen_text, wait_for_rows, wait_until
from tests.tui.memory import BASE_TIME, MemoryBackend, MemoryMessage
from tui.app import ConnectionState, MailApp, OperationsState
from tui.screens.help import HelpScreen

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
SIZE = (120, 34)

READER_MESSAGE = (
    b"""\
From: Maria Schmidt <maria@example.org>\r
To: Alex Example <alex@example.org>\r
Cc: team@example.org\r
Subject: Re: Quarterly report draft\r
Date: Mon, 02 Nov 2026 10:30:00 +0000\r
Message-ID: <report-2@example.org>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="part"\r
\r
--part\r
Content-Type: text/html; charset=utf-8\r
\r
<p>Hi Alex,</p>
<p>The numbers look good. The figures are on the
<a href="https://wiki.example.org/q3">team wiki</a>, and the login page is
<a href="https://login.evil.example/">https://bank.example.org</a>.</p>
<blockquote><p>Can you check the totals before Friday?</p>
<blockquote><p>Draft attached, comments welcome.</p></blockquote></blockquote>
<p>Maria</p>
\r
--part\r
Content-Type: application/pdf; name="q3-report.pdf"\r
Content-Disposition: attachment; filename="q3-report.pdf"\r
Content-Transfer-Encoding: base64\r
\r
"""
    + b"JVBERi0xLjQK" * 2000
    + b"\r\n--part--\r\n"
)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dates render in UTC, so every machine draws the same picture."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _backend() -> MemoryBackend:
    backend = MemoryBackend(inbox_size=40, extra_folders=["Lists/python-dev", "Projects/alpha"])
    inbox = backend.folder_named("INBOX")
    people = [
        ("Maria Schmidt", "Re: Quarterly report draft", ("\\Flagged",), True),
        ("山田 太郎", "会議の議事録", (), False),
        ("Dependabot", "[python-dev] Bump textual from 8.2.7 to 8.2.8", ("\\Seen",), False),
        ("Léa Dubois", "Lunch on Thursday?", ("\\Seen", "\\Answered"), False),
    ]
    for offset, (name, subject, flags, attachment) in enumerate(people):
        uid = 1000 + offset
        body = READER_MESSAGE if offset == 0 else None
        inbox.add(
            MemoryMessage(
                uid=uid,
                date=BASE_TIME + 10_000_000 - offset * 3600,
                subject=subject,
                from_name=name,
                from_addr="maria@example.org",
                flags=flags,
                has_attachment=attachment,
                body=body,
            )
        )
    backend.state = [ConnectionState("work", "online"), OperationsState(pending=2, failed=0)]
    return backend


def _save(app: MailApp, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    app.save_screenshot(filename=name, path=str(SCREENSHOTS))
    assert path.stat().st_size > 10_000
    return path


async def test_message_list_screen() -> None:
    """The main screen: the folder pane with unread counts (INBOX, special folders, nested
    lists), the message list newest first with unread (N), flagged (!) and answered (r) marks
    and an attachment (@), the status bar (account online, 2 changes waiting) and the keys."""
    app = MailApp(_backend())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        text = screen_text(app)
        for expected in (
            "INBOX 15",
            "python-dev",
            "alpha",
            "Re: Quarterly report draft",
            "会議の議事録",
            "work: online",
            "2 pending",
            "Archive",
        ):
            assert expected in text, expected
        first = next(line for line in text.splitlines() if "Quarterly" in line)
        assert " N! " in first and first.rstrip().endswith("@")
        _save(app, "message-list.svg")


async def test_reader_screen() -> None:
    """The reader: headers as the message has them (From, To, Cc, Date in local time,
    Subject), the attachment with its type and size, an HTML body laid out as text with
    quotes coloured by depth, numbered links listed by their real targets, and a warning on
    the link whose text names another host."""
    app = MailApp(_backend())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Maria" in app.reader.body_text)
        text = screen_text(app)
        for expected in (
            "From: Maria Schmidt <maria@example.org>",
            "Cc: team@example.org",
            "Date: Mon, 02 Nov 2026 10:30 UTC",
            "1 attachment:",
            "q3-report.pdf  application/pdf  18 KB",
            "team wiki[1]",
            "Can you check the totals before Friday?",
            "[2] https://login.evil.example/",
            "the text names bank.example.org but the link goes to login.evil.example",
        ):
            assert expected in text, expected
        _save(app, "reader.svg")


async def test_help_screen() -> None:
    """The help screen (?): every key binding in force, by where it works, with the binding
    ids the config's [keys] table uses to change them."""
    app = MailApp(_backend(), keymap={"list.archive": "a,e"})
    async with app.run_test(size=(120, 48)) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        text = screen_text(app)
        for expected in ("mailtui key bindings", "Message list", "list.archive", "a e", "Reader"):
            assert expected in text, expected
        _save(app, "help.svg")
