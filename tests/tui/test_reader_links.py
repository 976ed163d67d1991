"""Opening a link from the reader the lynx/w3m way (issue 7): digits then Enter, a link
highlight moved with n/p and opened with Enter, and a click on a link. Every way shows the
link's real target first and opens nothing before the user confirms.

No real opener runs: ``$MAILTUI_OPENER`` records its arguments (the ``record`` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.style import Style

from tests.tui.helpers import calls, focused_id, screen_lines, screen_text, wait_until
from tests.tui.test_reader_actions import SIZE, backend_with, mime, open_message, shown
from tui.app import MailApp
from tui.screens.reader_dialogs import ChoiceScreen
from tui.widgets.reader import BodyView, link_refs

# Twelve links, so that numbers of two digits are typed.
URLS = [f"https://example.org/page/{number}" for number in range(1, 13)]
TWELVE_LINKS = (
    "<p>"
    + " and ".join(f"<a href='{url}'>page {number}</a>" for number, url in enumerate(URLS, start=1))
    + "</p>"
)


def link_line(app: MailApp) -> str:
    """What the reader's bottom line (typed number or highlighted link) shows, or ""."""
    line = app.reader.query_one("#reader-link-line")
    return str(line.render()) if line.display else ""


async def confirm_shows(pilot: Any, app: MailApp, url: str) -> None:
    """Wait for the confirmation and check that it names ``url``."""
    await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
    assert url in shown(app)


async def test_digits_then_enter_show_the_target_then_open(record: Path) -> None:
    app = MailApp(backend_with(mime([], html=TWELVE_LINKS)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        await pilot.press("1")
        assert "Open link 1" in link_line(app) and URLS[0] in link_line(app)
        await pilot.press("2")
        assert "Open link 12" in link_line(app) and URLS[11] in link_line(app)
        assert not isinstance(app.screen, ChoiceScreen)  # nothing before Enter
        await pilot.press("enter")
        await confirm_shows(pilot, app, URLS[11])
        assert link_line(app) == ""  # the number is gone once used
        assert calls(record) == []
        await pilot.press("y")
        await wait_until(pilot, lambda: calls(record))
        assert calls(record)[0]["argv"] == [URLS[11]]


async def test_backspace_edits_and_other_keys_cancel(record: Path) -> None:
    app = MailApp(backend_with(mime([], html=TWELVE_LINKS)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        await pilot.press("1", "5")
        assert "Open link 15" in link_line(app) and "no such link" in link_line(app)
        await pilot.press("backspace", "1")  # 15 -> 1 -> 11
        assert "Open link 11" in link_line(app)
        await pilot.press("enter")
        await confirm_shows(pilot, app, URLS[10])
        await pilot.press("escape")  # the confirmation's cancel: nothing opened
        await wait_until(pilot, lambda: not isinstance(app.screen, ChoiceScreen))

        await pilot.press("3", "escape")
        assert link_line(app) == ""
        await pilot.press("enter")  # no number and no highlight: said, nothing opens
        await wait_until(pilot, lambda: "No link is highlighted" in shown(app))
        assert not isinstance(app.screen, ChoiceScreen)

        # Any other key drops the number and does nothing else: q does not close the reader.
        await pilot.press("4", "q")
        assert link_line(app) == "" and app.reader.display
        await pilot.press("enter")
        await pilot.pause(0.1)  # nothing may open in this time
        assert not isinstance(app.screen, ChoiceScreen)

        await pilot.press("9", "9", "enter")
        await wait_until(pilot, lambda: "There is no link 99" in shown(app))
        assert not isinstance(app.screen, ChoiceScreen)
        await pilot.pause(0.2)  # nothing may run the opener in this time
        assert calls(record) == []


def highlighted(app: MailApp) -> str:
    """The text painted with the link highlight on the visible rows ("" when none)."""
    body = app.reader.query_one("#reader-body", BodyView)
    style = body.highlight_style
    found = []
    for y in range(body.row_count):
        for segment in body.render_line(y):
            if segment.style is not None and segment.text and _has(segment.style, style):
                found.append(segment.text)
    return "".join(found)


def _has(painted: Style, highlight: Style) -> bool:
    return painted == painted + highlight and highlight != Style()


async def test_n_and_p_move_the_highlight_and_enter_opens_it(record: Path) -> None:
    filler = "".join(f"<p>Paragraph {number} of the letter.</p>" for number in range(80))
    html = (
        "<p>Start at <a href='https://example.org/first'>the first</a>.</p>"
        + filler
        + "<p>Far down is <a href='https://example.org/far'>the far one</a>.</p>"
    )
    app = MailApp(backend_with(mime([], html=html)))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await open_message(pilot, app)
        assert "Paragraph 60" not in screen_text(app)
        await pilot.press("n")
        assert app.reader.link_cursor == 0
        assert highlighted(app) == "the first[1]"
        assert "[1] https://example.org/first" in link_line(app)
        await pilot.press("n")  # the next one is far below: it is scrolled into view
        await pilot.pause()
        assert highlighted(app) == "the far one[2]"
        assert "the far one[2]" in screen_text(app)
        assert app.reader.scroll_offset.y > 0
        await pilot.press("p")
        await pilot.pause()
        assert highlighted(app) == "the first[1]" and "the first[1]" in screen_text(app)
        await pilot.press("p")  # nothing above the first: said, highlight stays
        await wait_until(pilot, lambda: "No more links above" in shown(app))
        assert app.reader.link_cursor == 0
        await pilot.press("enter")
        await confirm_shows(pilot, app, "https://example.org/first")
        await pilot.press("y")
        await wait_until(pilot, lambda: calls(record))
        assert calls(record)[0]["argv"] == ["https://example.org/first"]
        # From the bottom, n starts at the first link in view and walks on into the list of
        # links, where the highlight covers the target.
        await pilot.press("G")
        await pilot.pause()
        for expected in (
            "the far one[2]",
            "[1] https://example.org/first",
            "[2] https://example.org/far",
        ):
            await pilot.press("n")
            assert highlighted(app) == expected
        await pilot.press("n")
        await wait_until(pilot, lambda: "No more links below" in shown(app))


async def test_tab_still_switches_panes_from_the_reader() -> None:
    app = MailApp(backend_with(mime([], html=TWELVE_LINKS)))
    async with app.run_test(size=SIZE) as pilot:
        await open_message(pilot, app)
        assert focused_id(app) == "reader"
        await pilot.press("tab")
        assert focused_id(app) == "folders"
        await pilot.press("tab")
        assert focused_id(app) == "reader"
        assert app.reader.link_cursor is None


def where(app: MailApp, needle: str) -> tuple[int, int]:
    """The screen cell where ``needle`` starts (ASCII text: one cell per character)."""
    for y, line in enumerate(screen_lines(app)):
        x = line.find(needle)
        if x >= 0:
            return x, y
    raise AssertionError(f"{needle!r} is not on screen")


async def test_clicking_a_link_shows_its_target_first(record: Path) -> None:
    html = (
        "<p>Plain words here, then <a href='https://docs.example.org/guide'>the guide</a>"
        " and <a href='http://evil.example.net/'>www.mybank.com</a>.</p>"
    )
    app = MailApp(backend_with(mime([], html=html)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        x, y = where(app, "Plain words")
        await pilot.click(offset=(x + 2, y))  # not a link: nothing
        await pilot.pause(0.1)  # nothing may open in this time
        assert not isinstance(app.screen, ChoiceScreen)
        x, y = where(app, "www.mybank.com[2]")
        await pilot.click(offset=(x + 3, y))  # on the link's text
        await confirm_shows(pilot, app, "http://evil.example.net/")
        assert "but the link goes to evil.example.net" in shown(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ChoiceScreen))
        x, y = where(app, "the guide[1]")
        await pilot.click(offset=(x + len("the guide["), y))  # on its number
        await confirm_shows(pilot, app, "https://docs.example.org/guide")
        assert calls(record) == []
        await pilot.press("y")
        await wait_until(pilot, lambda: calls(record))
        assert calls(record)[0]["argv"] == ["https://docs.example.org/guide"]


HOSTILE_HREF = (
    "https://example.org/[@click=app.quit]x[/]?a=%1B&#x1b;]0;pwned&#x7;&#x202e;gpj.exe&#x9b;31m"
)


async def test_hostile_urls_are_shown_as_plain_clean_text(record: Path) -> None:
    html = f"<p><a href='{HOSTILE_HREF}'>[b]bold[/b] &#x1b;[2Jtext</a></p>"
    app = MailApp(backend_with(mime([], html=html)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        await pilot.press("n")
        line = link_line(app)
        assert "[@click=app.quit]x[/]" in line
        for text in (line, screen_text(app)):
            assert not any(char in text for char in "\x1b\x07\x9b\u202e")
        await pilot.press("1", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        text = screen_text(app)
        assert "[@click=app.quit]x[/]" in shown(app)  # literally, not as markup
        assert "gpj.exe" in text and "[b]bold[/b]" in text
        assert not any(char in text for char in "\x1b\x07\x9b\u202e")
        # Clicking the dialog where the text is runs nothing (the app is still there).
        x, y = where(app, "[@click=app.quit]")
        await pilot.click(offset=(x + 3, y))
        await pilot.pause(0.1)  # a click that ran markup would quit the app in this time
        assert app.is_running and isinstance(app.screen, ChoiceScreen)
        await pilot.press("escape")
    assert calls(record) == []


def test_link_refs_cover_the_text_and_the_list_entry() -> None:
    from rich.style import Style as RichStyle

    from sync.mime import Link
    from tui.text import Clean

    links = [Link(1, "https://a.example/", "the guide"), Link(2, "https://b.example/", "")]
    body: list[tuple[Clean, RichStyle | None]] = [
        (Clean("Read the guide[1] or [2], not [7]."), None),
        (Clean("Links:"), None),
        (Clean("[1] https://a.example/"), None),
        (Clean("[2] https://b.example/"), None),
    ]
    refs = link_refs(body, links)
    spans = [(ref.number, body[ref.line][0][ref.start : ref.end]) for ref in refs]
    assert spans == [
        (1, "the guide[1]"),
        (2, "[2]"),  # no text: the number alone
        (1, "[1] https://a.example/"),
        (2, "[2] https://b.example/"),
    ]
    assert link_refs(body, []) == ()
