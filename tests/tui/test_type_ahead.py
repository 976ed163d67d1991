"""Keys typed ahead of the screen: what arrives right after "/" belongs to the filter input,
as in mutt, however fast it comes (a paste, a quick typist, a slow link delivering a burst).

The keys are posted in one go, without waiting for the app between them, as a terminal
delivers a burst; Pilot's ``press`` would wait for the app after each key and hide the bug.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from tests.tui.helpers import wait_for_rows, wait_until
from tests.tui.memory import MemoryBackend
from tui.app import MailApp
from tui.screens.folder_picker import FolderPicker

SIZE = (120, 30)


def _burst(app: MailApp, keys: list[tuple[str, str]]) -> None:
    for key, character in keys:
        app.post_message(events.Key(key, character))


async def test_a_burst_after_slash_lands_in_the_filter_input() -> None:
    app = MailApp(MemoryBackend(inbox_size=30))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        # "c" alone would start a new message; in the burst it is part of the query.
        _burst(app, [("slash", "/"), *((c, c) for c in "invoice")])
        box = app.query_one("#filter")
        await wait_until(pilot, lambda: getattr(box, "value", "") == "invoice")
        assert app.focused is box
        assert len(app.screen_stack) == 1  # nothing else opened


async def test_a_burst_after_m_names_the_folder_and_never_runs_list_commands() -> None:
    backend = MemoryBackend(inbox_size=30)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        # "a" archives and "d" deletes in the list; here they are letters of "Archived".
        _burst(app, [("m", "m"), *((c.lower(), c) for c in "ard")])
        await wait_until(pilot, lambda: isinstance(app.screen, FolderPicker))
        await pilot.pause()
        assert backend.performed == []
        box = app.screen.query_one(Input)
        await wait_until(pilot, lambda: box.value == "ard")
