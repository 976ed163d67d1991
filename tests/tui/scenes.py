"""The screens the docs show, each built and driven to one fixed state.

One definition serves two callers: the snapshot tests (``test_snapshots.py``, which compare the
picture against the baselines in ``__snapshots__``) and ``scripts/screenshots.py`` (``make
screenshots``, which writes the README's SVGs into ``screenshots/``). Every scene uses fixed
data, a fixed size and UTC (:func:`fixed_time_zone`), so every machine draws the same picture.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button

from tests.tui.helpers import fill_form, queue_screen, screen_text, wait_for_rows, wait_until
from tests.tui.memory import BASE_TIME, MemoryBackend, MemoryMessage, queue_backend
from tui.app import ConnectionState, MailApp, OperationsState
from tui.screens.help import HelpScreen
from tui.screens.queue import QueueScreen
from tui.screens.setup import SetupApp

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

# The queue scene's clock: its countdowns ("next try in 10 min") read the same on every run.
QUEUE_NOW = 1_790_000_000.0


@dataclass(frozen=True)
class Scene:
    """One screen in one state: how to build its app and how to drive it there.

    ``drive`` returns the screen's text once the state is reached, for the caller's checks.
    """

    name: str
    size: tuple[int, int]
    make_app: Callable[[], App[Any]]
    drive: Callable[[Pilot[Any]], Awaitable[str]]


@contextmanager
def fixed_time_zone() -> Iterator[None]:
    """Render dates in UTC while the block runs, then restore the caller's time zone."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def fixed_svg_ids(svg: str, name: str) -> str:
    """Give the SVG's element ids one fixed name.

    Rich derives them from a hash that differs between runs even for the same picture; a fixed
    id keeps a regenerated file byte-identical, so git sees no change.
    """
    return re.sub(r"terminal-\d+", f"terminal-mailtui-{name}", svg)


def sample_backend() -> MemoryBackend:
    """The mailbox of the main screens: four people's messages atop 40 generated ones."""
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


def _main_app(app: App[Any]) -> MailApp:
    assert isinstance(app, MailApp), app
    return app


async def _message_list(pilot: Pilot[Any]) -> str:
    app = _main_app(pilot.app)
    await wait_for_rows(pilot, app.message_list)
    return screen_text(app)


async def _reader(pilot: Pilot[Any]) -> str:
    app = _main_app(pilot.app)
    await wait_for_rows(pilot, app.message_list)
    await pilot.press("enter")
    await wait_until(pilot, lambda: "Maria" in app.reader.body_text)
    return screen_text(app)


async def _help(pilot: Pilot[Any]) -> str:
    app = _main_app(pilot.app)
    await wait_for_rows(pilot, app.message_list)
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
    await pilot.pause()
    return screen_text(app)


def _setup_status(app: App[Any]) -> str:
    return str(app.screen.query_one("#setup-status").render())


async def _setup(pilot: Pilot[Any]) -> str:
    app = pilot.app
    await fill_form(
        pilot,
        email="me@example.org",
        display_name="Me",
        imap_host="localhost",
        imap_port="1",
        imap_security="none",
        password_command="pass show mail/me",
    )
    await pilot.click("#test-save")
    await wait_until(pilot, lambda: "refused the connection" in _setup_status(app), within=10)
    # The same picture every run: the pointer off the button (no hover colours) and the
    # button's pressed look over. The pause IS the wait: the look lasts active_effect_duration
    # and no event marks its end.
    await pilot.hover(offset=(0, 0))
    await pilot.pause(app.screen.query_one("#test-save", Button).active_effect_duration * 2)
    return screen_text(app)


def _queue_app() -> App[Any]:
    return MailApp(queue_backend(QUEUE_NOW))


async def _queue(pilot: Pilot[Any]) -> str:
    app = _main_app(pilot.app)
    backend = app.backend
    assert isinstance(backend, MemoryBackend), backend
    await wait_for_rows(pilot, app.message_list)
    backend.publish_queue()
    # Opened the way the app opens it, with a fixed clock for the countdown.
    app.push_screen(QueueScreen(backend, clock=lambda: QUEUE_NOW))
    await wait_until(pilot, lambda: queue_screen(app).loaded)
    await pilot.pause()
    return screen_text(app)


MAIN_SIZE = (120, 34)

MESSAGE_LIST = Scene("message-list", MAIN_SIZE, lambda: MailApp(sample_backend()), _message_list)
READER = Scene("reader", MAIN_SIZE, lambda: MailApp(sample_backend()), _reader)
HELP = Scene(
    "help",
    (120, 48),
    lambda: MailApp(sample_backend(), keymap={"list.archive": "a,e"}),
    _help,
)
# Port 1 on this computer: nothing listens, so the picture is the same on every run.
SETUP = Scene("setup", (100, 40), lambda: SetupApp(Path("~/.config/mailtui/config.toml")), _setup)
QUEUE = Scene("queue", MAIN_SIZE, _queue_app, _queue)

# The pictures in screenshots/, by file name without ".svg".
SCREENSHOTS: tuple[Scene, ...] = (MESSAGE_LIST, READER, HELP, SETUP, QUEUE)
