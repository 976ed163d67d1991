"""The reader's actions (issue 7): save and open attachments, open links, the raw source,
and the loading and error states, driven by keys against the in-memory backend.

No real opener ever runs: ``$MAILTUI_OPENER`` points at a small Python script that records
its arguments (and what it found at the path it was given) into a JSON file (the ``record``
fixture, tests/tui/conftest.py).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.widgets import Input

from tests.tui.helpers import calls, screen_text, wait_for_rows, wait_until
from tests.tui.memory import MemoryBackend, MemoryMessage
from tui.app import MailApp
from tui.screens.reader_dialogs import ChoiceScreen, PromptScreen
from tui.widgets.reader import wrap_offsets

SIZE = (150, 45)
LONG_NAME = "a" * 400 + ".pdf"


def mime(
    attachments: list[tuple[str, bytes]],
    *,
    html: str | None = None,
    subject: str = "Files",
    text: str = "See the files.",
) -> bytes:
    """A multipart/mixed message; names go in RFC 2231 form (they may hold a newline)."""
    boundary = "b0undary"
    lines = [
        "From: Alice <alice@example.org>",
        "To: bob@example.org",
        f"Subject: {subject}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        f"--{boundary}",
    ]
    if html is None:
        lines += ["Content-Type: text/plain; charset=utf-8", "", text]
    else:
        lines += ["Content-Type: text/html; charset=utf-8", "", html]
    for name, data in attachments:
        quoted = "".join(c if c.isalnum() or c in "._-" else f"%{ord(c):02X}" for c in name)
        lines += [
            f"--{boundary}",
            "Content-Type: application/octet-stream",
            f"Content-Disposition: attachment; filename*=utf-8''{quoted}",
            "Content-Transfer-Encoding: base64",
            "",
            base64.b64encode(data).decode(),
        ]
    lines.append(f"--{boundary}--")
    return "\r\n".join(lines).encode() + b"\r\n"


def backend_with(raw: bytes) -> MemoryBackend:
    """An INBOX holding just this message."""
    backend = MemoryBackend(inbox_size=0)
    backend.deliver(1, MemoryMessage(uid=1, date=1, subject="Files", body=raw))
    return backend


async def open_message(pilot: Any, app: MailApp) -> None:
    """Open the first message and wait for its body."""
    await wait_for_rows(pilot, app.message_list)
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.reader.body_shown)


async def answer_prompt(
    pilot: Any, app: MailApp, value: str | None = None, *, within: float = 5.0
) -> str:
    """Wait for the prompt, optionally replace its value, press Enter; return what it held."""
    await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), within=within)
    box = app.screen.query_one(Input)
    shown = box.value
    if value is not None:
        box.value = value
    await pilot.press("enter")
    return shown


def shown(app: MailApp) -> str:
    """The screen as one line of words: a notification wrapped over lines reads whole (the
    lines right of the reader pane hold only the toast)."""
    text = screen_text(app)
    for border in "▌▕▏":
        text = text.replace(border, " ")
    return " ".join(text.split())


def names(directory: Path) -> list[str]:
    """The names in a folder, sorted."""
    return sorted(path.name for path in directory.iterdir())


async def test_save_all_hostile_names_land_sanitized_in_the_chosen_folder(
    tmp_path: Path, home: Path
) -> None:
    files = [
        ("../../.bashrc", b"echo owned\n"),
        ("CON", b"device"),
        (LONG_NAME, b"%PDF long"),
        ("evil\nname.txt", b"two lines"),
    ]
    target = tmp_path / "chosen"
    target.mkdir()
    app = MailApp(backend_with(mime(files)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        assert "4 attachments:" in screen_text(app)
        await pilot.press("S")
        prefilled = await answer_prompt(pilot, app, str(target))
        assert prefilled == str(home / "Downloads")
        await wait_until(pilot, lambda: "Saved 4 attachments" in shown(app))
    long_saved = "a" * (255 - len(".pdf")) + ".pdf"
    assert set(names(target)) == {"bashrc", "_CON", long_saved, "evil name.txt"}
    assert (target / "bashrc").read_bytes() == b"echo owned\n"
    assert (target / long_saved).read_bytes() == b"%PDF long"
    assert (target / "evil name.txt").read_bytes() == b"two lines"
    # Nothing escaped the chosen folder, and no hidden file appeared anywhere.
    assert names(tmp_path) == ["chosen", "home"]
    assert not (home / ".bashrc").exists()


async def test_save_marked_attachment_asks_before_replacing(home: Path) -> None:
    downloads = home / "Downloads"
    (downloads / "report.pdf").write_bytes(b"old")
    raw = mime([("notes.txt", b"notes"), ("report.pdf", b"new report")])
    app = MailApp(backend_with(raw))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        assert "> [1] notes.txt" in screen_text(app)
        await pilot.press("right_square_bracket")  # mark report.pdf
        assert "> [2] report.pdf" in screen_text(app)

        async def save(answer: str) -> None:
            await pilot.press("s")
            await answer_prompt(pilot, app)  # the prefilled ~/Downloads
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
            assert "report.pdf already exists in" in shown(app)
            assert (downloads / "report.pdf").read_bytes() == b"old"  # nothing yet
            await pilot.press(answer)
            await wait_until(pilot, lambda: not isinstance(app.screen, ChoiceScreen))

        await save("n")
        await wait_until(pilot, lambda: "kept as they were" in shown(app))
        assert names(downloads) == ["report.pdf"]
        await save("k")
        await wait_until(pilot, lambda: (downloads / "report (2).pdf").exists())
        assert (downloads / "report (2).pdf").read_bytes() == b"new report"
        assert (downloads / "report.pdf").read_bytes() == b"old"
        await save("r")
        await wait_until(pilot, lambda: (downloads / "report.pdf").read_bytes() == b"new report")
        assert names(downloads) == ["report (2).pdf", "report.pdf"]


async def test_save_into_a_missing_folder_says_so(tmp_path: Path, home: Path) -> None:
    app = MailApp(backend_with(mime([("a.txt", b"a")])))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        await pilot.press("s")
        await answer_prompt(pilot, app, str(tmp_path / "nowhere"))
        await wait_until(pilot, lambda: "there is no folder" in shown(app))
        assert not (tmp_path / "nowhere").exists()


async def test_open_attachment_uses_a_private_copy_and_the_opener(record: Path, home: Path) -> None:
    app = MailApp(backend_with(mime([("../slides.odp", b"slide data")])))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        await pilot.press("v")
        await wait_until(pilot, lambda: calls(record))
        [call] = calls(record)
        copy = Path(call["argv"][-1])
        assert copy.name == "slides.odp" and len(call["argv"]) == 1
        assert call["content"] == "slide data"
        assert call["mode"] == 0o600 and call["dir_mode"] == 0o700
        private = app.reader.private_copies.directory
        assert private is not None and copy.is_relative_to(private)
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert not names(home / "Downloads")  # opening saves nothing
    assert not private.exists()  # removed at exit


async def test_opener_failures_are_said_in_words(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = MailApp(backend_with(mime([("a.txt", b"a")])))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        monkeypatch.setenv("MAILTUI_OPENER", "/nonexistent/opener --flag")
        await pilot.press("v")
        await wait_until(pilot, lambda: "is not installed" in shown(app))
        monkeypatch.setenv(
            "MAILTUI_OPENER", f"{shlex.quote(sys.executable)} -c 'raise SystemExit(3)'"
        )
        await pilot.press("v")
        await wait_until(pilot, lambda: "failed (exit status 3)" in shown(app))


LINKS_HTML = (
    "<p>Log in at <a href='http://evil.example.net/login?next=%2Faccount'>www.mybank.com</a>"
    " or read <a href='https://docs.example.org/guide'>the guide</a>"
    " or <a href='javascript:alert(1)'>click</a>.</p>"
)


async def test_link_shows_its_real_target_and_warning_before_opening(
    record: Path, home: Path
) -> None:
    app = MailApp(backend_with(mime([], html=LINKS_HTML)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        assert "www.mybank.com[1]" in app.reader.body_text
        await pilot.press("o")
        await answer_prompt(pilot, app, "1")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        text = shown(app)
        assert "http://evil.example.net/login?next=%2Faccount" in text
        assert "but the link goes to evil.example.net" in text
        assert calls(record) == []  # nothing opened before the answer
        await pilot.press("escape")  # cancel: still nothing
        await pilot.press("o")
        await answer_prompt(pilot, app, "1")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        assert calls(record) == []
        await pilot.press("y")
        await wait_until(pilot, lambda: calls(record))
        assert calls(record)[0]["argv"] == ["http://evil.example.net/login?next=%2Faccount"]
        # A javascript: link is shown but never opened.
        await pilot.press("o")
        await answer_prompt(pilot, app, "3")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        assert "javascript:alert(1)" in screen_text(app)
        assert "opens only http, https and mailto" in shown(app)
        await pilot.press("y")
        await pilot.press("escape")
        await pilot.pause(0.2)  # the javascript: link must not reach the opener meanwhile
        assert len(calls(record)) == 1


async def test_raw_source_neutralises_escape_sequences_and_toggles_back() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: hi\x1b]0;pwned\x07 there\r\n\r\n"
        b"\x1b[2Jcleared \xc2\x9b31m red\r\n"
    )
    app = MailApp(backend_with(raw))
    async with app.run_test(size=SIZE) as pilot:
        await open_message(pilot, app)
        body = app.reader.body_text
        await pilot.press("H")
        await wait_until(pilot, lambda: app.reader.source_shown)
        await pilot.pause()
        text = screen_text(app)
        assert "Message source" in text
        assert "From: a@example.org" in text and "Subject: hi]0;pwned there" in text
        assert "[2Jcleared 31m red" in text
        assert not any(c in text for c in "\x1b\x07\x9b")
        await pilot.press("vertical_line")
        await wait_until(pilot, lambda: not app.reader.source_shown)
        await pilot.pause()
        assert "Message source" not in screen_text(app)
        assert app.reader.body_text == body and "cleared" in screen_text(app)


class SlowBackend(MemoryBackend):
    """A backend whose download waits until the test lets it through, or fails."""

    def __init__(self) -> None:
        super().__init__(inbox_size=0)
        self.release = asyncio.Event()
        self.failure: str | None = None

    async def body(self, folder_id: int, uid: int) -> bytes | None:
        """Wait, then hand over the body or raise."""
        await self.release.wait()
        if self.failure is not None:
            raise ConnectionError(self.failure)
        return await super().body(folder_id, uid)


async def test_loading_state_keeps_the_ui_alive_and_errors_are_words() -> None:
    backend = SlowBackend()
    backend.deliver(1, MemoryMessage(uid=1, date=1, subject="Slow", body=mime([("a.txt", b"a")])))
    app = MailApp(backend)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Loading…" in screen_text(app))
        await pilot.press("s")  # too early: said, not done
        await wait_until(pilot, lambda: "not shown yet" in shown(app))
        assert not isinstance(app.screen, PromptScreen)
        await pilot.press("j", "q")  # the UI answers while the body downloads
        assert app.message_list.display and not app.reader.display
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Loading…" in screen_text(app))
        backend.release.set()
        await wait_until(pilot, lambda: app.reader.body_shown)
        # The attachment line is painted with the body, in the next refresh.
        await wait_until(pilot, lambda: "a.txt" in screen_text(app))
        backend.failure = "connection refused by the server"
        backend.release.clear()
        await pilot.press("q", "enter")
        await wait_until(pilot, lambda: "Loading…" in screen_text(app))
        backend.release.set()
        await wait_until(pilot, lambda: "Could not download this message" in screen_text(app))
        assert "connection refused by the server" in screen_text(app)


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("", 10),
        ("short", 10),
        ("the quick brown fox jumps over the lazy dog", 10),
        ("x" * 25 + " tail", 10),
        ("a  b   c    d", 3),
        ("Grüße aus Köln, schöne Grüße an alle zusammen", 12),
        ("日本語のメールは二つのセルを使います。とても長い行です", 9),
        ("mixed 日本語 words and 漢字 here", 7),
    ],
)
def test_wrap_offsets_fit_the_width_and_lose_only_break_spaces(text: str, width: int) -> None:
    rows = wrap_offsets(text, width)
    pieces = [text[start:end] for start, end in rows]
    assert all(cell_len(piece) <= width for piece in pieces), pieces
    # Rows follow each other; what lies between two rows is at most the space broken at.
    assert rows[0][0] == 0 and rows[-1][1] == len(text)
    for (_, end), (start, _) in itertools.pairwise(rows):
        assert text[end:start] in ("", " ")
    if cell_len(text) > width:
        assert len(rows) > 1


async def test_a_long_body_scrolls_to_its_last_line() -> None:
    lines = [f"line {number:05d} of a long message" for number in range(20_000)]
    raw = b"Subject: long\r\n\r\n" + "\r\n".join(lines).encode() + b"\r\n"
    app = MailApp(backend_with(raw))
    async with app.run_test(size=(100, 30)) as pilot:
        await open_message(pilot, app)
        await pilot.pause()
        assert "line 00000 of a long message" in screen_text(app)
        assert "line 19999" not in screen_text(app)
        await pilot.press("G")
        await wait_until(pilot, lambda: "line 19999 of a long message" in screen_text(app))
        assert "line 00000" not in screen_text(app)
