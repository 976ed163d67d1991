"""Mail content is hostile: markup, escape sequences, bidi and huge strings render as inert text."""

from __future__ import annotations

from rich.text import Text

from tests.tui.helpers import screen_lines, wait_for_rows, wait_until
from tests.tui.memory import BASE_TIME, MemoryBackend, MemoryMessage
from tui.app import MailApp
from tui.text import as_text, clean, fit_cells, mail_content, mail_text
from tui.widgets.folder_tree import folder_label

HOSTILE = [
    "[@click=app.quit]Click[/]",
    "[python-dev] x",
    "lone [/] tag",
    "title\x1b]0;pwned\x07 set",
    "csi\x9b2J clear",
    "bidi \u202egnp.exe",
    "[link=https://evil.example]bank[/link]",
]
CONTROL = ("\x1b", "\x9b", "\x07", "\u202e", "\x00")


def _segment_texts(app: MailApp) -> list[str]:
    strips = app.screen._compositor.render_strips()
    return [segment.text for strip in strips for segment in strip]


def test_text_helpers_never_parse_markup_and_strip_controls() -> None:
    text = mail_text("[b]bold?[/b] \x1b[31mred")
    assert isinstance(text, Text)
    assert text.plain == "[b]bold?[/b] [31mred"
    assert not text.spans
    assert mail_content("[@click=app.quit]x[/]").plain == "[@click=app.quit]x[/]"
    assert clean(None) == ""
    assert len(clean("x" * 10_000)) == 1000
    assert as_text(clean("a\nb")).plain == "a b"
    assert fit_cells(clean("日本語テキスト"), 6) == "日本 …"  # never half a wide character
    assert fit_cells(clean("abc"), 5) == "abc  "
    label = folder_label("[red]Lists[/red]", 3)
    assert label.plain == "[red]Lists[/red] 3"


async def test_hostile_subjects_render_as_plain_text() -> None:
    backend = MemoryBackend(inbox_size=0, extra_folders=["[@click=app.quit]Evil[b]"])
    for number, subject in enumerate([*HOSTILE, "S" * 10_000], start=1):
        backend.deliver(
            1,
            MemoryMessage(
                uid=number,
                date=BASE_TIME - number,
                subject=subject,
                from_name="[bold]Mallory[/] \x1b[2J",
                body=f"Subject: {subject}\r\n\r\nbody {subject}\r\n".encode(),
            ),
        )
    app = MailApp(backend)
    async with app.run_test(size=(140, 30)) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        screen = "\n".join(screen_lines(app))
        assert "[@click=app.quit]Click[/]" in screen
        assert "[python-dev] x" in screen
        assert "lone [/] tag" in screen
        assert "title]0;pwned set" in screen
        assert "csi2J clear" in screen
        assert "bidi gnp.exe" in screen
        assert "[link=https://evil.example]bank[/link]" in screen
        assert "[bold]Mallory[/]" in screen
        assert "SSSSSSSS…" in screen  # the 10 KB subject is cut to the row
        assert "[@click=app.quit]Evil[b]" in screen  # folder name in the tree
        for text in _segment_texts(app):
            assert not any(char in text for char in CONTROL), repr(text)

        # Clicking the "[@click=app.quit]" row only moves the cursor: the app keeps running.
        line = next(i for i, ln in enumerate(screen_lines(app)) if "Click[/]" in ln)
        await pilot.click("#messages", offset=(40, line))
        await pilot.pause()
        assert app.is_running and ml.cursor == 0

        # The reader shows the hostile subject and body inertly too.
        await pilot.press("j", "j", "j", "enter")
        await wait_until(pilot, lambda: app.reader.body_text)
        assert "body title]0;pwned set" in app.reader.body_text
        screen = "\n".join(screen_lines(app))
        assert "Subject: title]0;pwned set" in screen
        for text in _segment_texts(app):
            assert not any(char in text for char in CONTROL), repr(text)
