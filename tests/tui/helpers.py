"""Helpers for the TUI tests: read what the screen shows, wait for pages, read what the
recording opener was given."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.command import Command, CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select

from tui.screens.queue import QueueScreen
from tui.widgets.message_list import MessageList


def screen_lines(app: App[Any]) -> list[str]:
    """The screen's text, one string per terminal line (as the compositor renders it)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app: App[Any]) -> str:
    """The whole screen as text."""
    return "\n".join(screen_lines(app))


async def wait_for_rows(
    pilot: Pilot[Any], message_list: MessageList, *, within: float = 10.0
) -> None:
    """Wait until the list's order is known and the visible rows have arrived."""
    waited = 0.0
    while waited < within:
        await pilot.pause()
        if message_list.keys_loaded and message_list.page_loads_pending == 0:
            top = message_list.scroll_offset.y
            if message_list.row_count == 0 or message_list.row_at(top) is not None:
                await pilot.pause()
                return
        await pilot.pause(0.01)
        waited += 0.01
    raise AssertionError("message list rows did not load")


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], object], within: float = 5.0
) -> None:
    """Let the app run until ``condition()`` is true (fails after ``within`` seconds)."""
    for _ in range(int(within / 0.01)):
        await pilot.pause(0.01)
        if condition():
            return
    raise AssertionError("condition not reached")


def palette_offers(app: App[Any], title: str) -> bool:
    """Whether the command palette is open with ``title`` in its highlighted command."""
    palette = app.screen
    if not isinstance(palette, CommandPalette):
        return False
    results = palette.query_one(CommandList)
    if results.highlighted is None:
        return False
    option = results.get_option_at_index(results.highlighted)
    if not isinstance(option, Command):
        return False
    return title in (option.hit.text or str(option.prompt))


def focused_id(app: App[Any]) -> str | None:
    """The id of the focused widget (a function, so type narrowing does not stick)."""
    return app.focused.id if app.focused is not None else None


# $MAILTUI_OPENER for the tests (the ``record`` fixture in conftest.py): no real opener runs.
# It records its arguments, and what it found at the path it was given, as one JSON line.
RECORDER = """\
import json, os, stat, sys
record, target = sys.argv[1], sys.argv[-1]
info = {"argv": sys.argv[2:]}
if os.path.exists(target):
    info["mode"] = stat.S_IMODE(os.stat(target).st_mode)
    info["dir_mode"] = stat.S_IMODE(os.stat(os.path.dirname(target)).st_mode)
    with open(target, "rb") as handle:
        info["content"] = handle.read().decode("latin-1")
with open(record, "a") as out:
    out.write(json.dumps(info) + "\\n")
"""


def calls(record: Path) -> list[dict[str, Any]]:
    """The recording opener's calls so far."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


async def fill_form(pilot: Pilot[Any], **values: str) -> None:
    """Set form fields by id: Inputs take text, Selects their value, Checkboxes "yes".

    Then let the screen settle: a changed Select can show or hide a row, which moves the
    buttons that the test clicks next.
    """
    app = pilot.app
    for field, value in values.items():
        widget = app.screen.query_one(f"#{field.replace('_', '-')}")
        if isinstance(widget, Input | Select):
            widget.value = value
        elif isinstance(widget, Checkbox):
            widget.value = value == "yes"
    await pilot.pause()


def queue_screen(app: App[Any]) -> QueueScreen:
    """The queue view on top (fails when it is not)."""
    screen = app.screen
    assert isinstance(screen, QueueScreen), screen
    return screen
