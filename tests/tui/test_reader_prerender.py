"""Pre-rendering the message the list cursor rests on (issue 7: Enter only swaps the pane)."""

from __future__ import annotations

import pytest

from tests.tui.helpers import wait_for_rows, wait_until
from tests.tui.memory import MemoryBackend
from tui.app import MailApp
from tui.controllers import reader as controller
from tui.controllers.reader import PRERENDER_DELAY

SIZE = (110, 30)


def cursor_uid(app: MailApp) -> int:
    """The uid of the message under the list cursor."""
    row = app.message_list.row_at(app.message_list.cursor)
    assert row is not None
    return row.uid


async def test_a_rested_on_message_opens_from_the_prerendered_cache(
    rendered_uids: list[bytes],
) -> None:
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("down")
        uid = cursor_uid(app)
        await wait_until(pilot, lambda: (1, uid) in app._prerendered)
        laid_out = len(rendered_uids)
        assert laid_out >= 1 and f"Body of {uid}.".encode() in rendered_uids[-1]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reader.body_shown)
        assert app.reader.uid == uid
        assert app.reader.body_text == f"Body of {uid}."
        assert app.prerender_hits == 1
        assert len(rendered_uids) == laid_out  # no second parse on Enter
        assert backend.downloads == []


async def test_scrolling_past_messages_lays_out_none_of_them(
    rendered_uids: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pilot presses keys further apart than a terminal repeats a held key: make the gap
    # wide enough for these presses to count as a key held down, and the wait that tells
    # a let-go key as long as the rest (Pilot's presses come closer than that).
    monkeypatch.setattr(controller, "KEY_REPEAT_GAP", 60.0)
    monkeypatch.setattr(controller, "KEY_RELEASE_WAIT", PRERENDER_DELAY)
    backend = MemoryBackend(inbox_size=20)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.pause(PRERENDER_DELAY * 3)  # a rest: the time the pre-render waits for
        before = len(rendered_uids)  # the first message, rested on while the list loaded
        for _ in range(5):
            await pilot.press("down")  # a held key: faster than the rest delay
        await pilot.pause(PRERENDER_DELAY * 3)  # then a rest on the last one
        uid = cursor_uid(app)
        # Only the message the cursor stopped on was laid out.
        assert len(rendered_uids) == before + 1
        assert f"Body of {uid}.".encode() in rendered_uids[-1]


async def test_a_small_message_is_laid_out_once_a_held_key_is_let_go(
    rendered_uids: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not after the whole rest: Enter soon after letting go of ``j`` finds it ready."""
    monkeypatch.setattr(controller, "KEY_REPEAT_GAP", 60.0)  # every press is a held key
    monkeypatch.setattr(controller, "PRERENDER_DELAY", 60.0)  # the rest never comes
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("down")
        await pilot.press("down")
        uid = cursor_uid(app)
        await pilot.pause(controller.KEY_RELEASE_WAIT * 4)  # the key is let go: time passes
        assert (1, uid) in app._prerendered
        assert f"Body of {uid}.".encode() in rendered_uids[-1]


async def test_resting_on_a_message_never_downloads_its_body(rendered_uids: list[bytes]) -> None:
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.pause(PRERENDER_DELAY * 3)  # a rest on the first message
        uid = cursor_uid(app)
        below = uid - 1  # newest first: the next row down
        backend.not_cached.add((1, below))
        before = len(rendered_uids)
        await pilot.press("down")
        assert cursor_uid(app) == below
        await pilot.pause(PRERENDER_DELAY * 4)  # a rest long enough to pre-render: none may
        assert backend.downloads == []
        assert (1, below) not in app._prerendered
        assert len(rendered_uids) == before
        # Enter does download it (the user asked), and lays it out then.
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reader.body_shown)
        assert backend.downloads == [(1, below)]
        assert app.reader.body_text == f"Body of {below}."
        assert app.prerender_hits == 0


async def test_the_cache_keeps_only_the_last_few(rendered_uids: list[bytes]) -> None:
    backend = MemoryBackend(inbox_size=10)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        rested: list[int] = []
        for step in range(controller.PRERENDER_KEEP + 2):
            if step:
                await pilot.press("down")
            uid = cursor_uid(app)
            await wait_until(pilot, lambda: (1, uid) in app._prerendered)  # noqa: B023
            rested.append(uid)
        assert len(set(rested)) == len(rested)
        assert list(app._prerendered) == [(1, uid) for uid in rested[-controller.PRERENDER_KEEP :]]


async def test_a_step_lays_out_a_small_message_without_waiting_for_rest(
    rendered_uids: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No rest would ever be long enough: only the step path can lay the message out.
    monkeypatch.setattr(controller, "PRERENDER_DELAY", 60.0)
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.pause(controller.KEY_REPEAT_GAP * 2)  # a step, not a held key
        await pilot.press("down")
        uid = cursor_uid(app)
        await wait_until(pilot, lambda: (1, uid) in app._prerendered)
        assert f"Body of {uid}.".encode() in rendered_uids[-1]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reader.body_shown)
        assert app.prerender_hits == 1


async def test_a_step_onto_a_big_message_waits_for_rest(
    rendered_uids: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(controller, "PRERENDER_DELAY", 60.0)
    monkeypatch.setattr(controller, "PRERENDER_AT_ONCE_MAX", 10)  # every message is "big"
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.pause(controller.KEY_REPEAT_GAP * 2)  # a step, not a held key
        before = len(rendered_uids)
        await pilot.press("down")
        await pilot.pause(0.3)  # no layout may start in this time (only after a rest)
        assert len(rendered_uids) == before
        assert (1, cursor_uid(app)) not in app._prerendered


async def test_enter_before_the_rest_lays_the_message_out_once(
    rendered_uids: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-render still waiting for the rest is dropped: the reader's layout is enough."""
    monkeypatch.setattr(controller, "PRERENDER_AT_ONCE_MAX", 10)  # every message is "big"
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.pause(controller.KEY_REPEAT_GAP * 2)  # a step, not a held key
        await pilot.press("down")
        uid = cursor_uid(app)
        await pilot.press("enter")  # before PRERENDER_DELAY
        await wait_until(pilot, lambda: app.reader.body_shown)
        await pilot.pause(PRERENDER_DELAY * 3)  # past the rest: the dropped one stays dropped
        body = f"Body of {uid}.".encode()
        assert sum(body in raw for raw in rendered_uids) == 1
