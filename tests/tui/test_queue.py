"""The queue view (``Q``, or a click on the status bar's count): what waits for the server,
what failed and why, retry and discard; on the in-memory backend, then on a real Dovecot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.ops import OperationsError, record_from_raw
from sync.paths import store_path
from sync.sample_mail import make_message
from sync.store import Store
from tests.engine.helpers import config_for
from tests.rig.device import Device
from tests.rig.proxy import FaultProxy
from tests.tui.helpers import queue_screen, screen_text, wait_for_rows, wait_until
from tests.tui.memory import MemoryBackend, queue_backend, queue_items
from tests.tui.scenes import QUEUE
from tests.tui.test_backend import list_row, running_app, shown
from tui.app import MailApp, OperationsState, QueueItem
from tui.backend import StoreBackend
from tui.screens.queue import ConfirmDiscard, QueueScreen, describe_wait

SIZE = (120, 34)
CONTROL = ("\x1b", "\x9b", "\x07", "\u202e", "\x00")


def _queue_open(app: MailApp) -> bool:
    # A function, so that mypy's narrowing of app.screen does not stick between presses.
    return isinstance(app.screen, QueueScreen)


def test_waits_are_said_in_words() -> None:
    assert [describe_wait(s) for s in (0.2, 25, 600, 7200)] == [
        "now",
        "in 25 s",
        "in 10 min",
        "in 2 h",
    ]


async def test_queue_lists_what_waits_and_opens_by_key_and_by_click() -> None:
    backend = queue_backend(time.time())
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        backend.publish_queue()
        await wait_until(pilot, lambda: "2 pending, 1 failed" in app.status_bar.text)
        await pilot.press("Q")
        queue = queue_screen(app)
        await wait_until(pilot, lambda: queue.loaded)
        await pilot.pause()
        text = screen_text(app)
        for expected in (
            "2 waiting, 1 failed",
            "failed",
            "move 2 messages from INBOX to Projects/2026",
            "the folder no longer exists (Mailbox doesn't exist:",  # wrapped in its column
            "refused after 1 attempt",
            "retrying",
            "+\\Flagged on 1 message in INBOX",
            "2 attempts so far · next try in 10 min",
            'send "Lunch on Thursday?" to lea@example.org',
            "waiting",
        ):
            assert expected in text, expected
        await pilot.press("escape")
        assert not _queue_open(app)
        # A click on the count opens it too; q closes it.
        column = app.status_bar.text.index("2 pending") + 1  # +1: the bar's left padding
        await pilot.click("#status", offset=(column + 3, 0))
        await wait_until(pilot, lambda: _queue_open(app))
        await pilot.press("q")
        assert not _queue_open(app)
        await pilot.click("#status", offset=(3, 0))  # the account's name: nothing opens
        await pilot.pause()
        assert not _queue_open(app)


async def test_retry_and_discard_go_to_the_backend_and_discard_asks_first() -> None:
    backend = queue_backend(time.time())
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("Q")
        queue = queue_screen(app)
        await wait_until(pilot, lambda: queue.loaded)
        # The outgoing message waits its turn: nothing to retry or discard.
        await pilot.press("j", "j")
        assert queue.highlighted_item is not None and queue.highlighted_item.kind == "outgoing"
        await pilot.press("r", "d")
        await pilot.pause()
        assert backend.retried == [] and backend.discarded == []
        assert not isinstance(app.screen, ConfirmDiscard)
        assert "Only a failed item can be discarded" in screen_text(app)
        # The held-back change: r tries it now.
        await pilot.press("k")
        await pilot.press("r")
        await wait_until(pilot, lambda: backend.retried)
        assert [(i.kind, i.id) for i in backend.retried] == [("operation", 9)]
        await wait_until(pilot, lambda: "Retrying operation 9" in screen_text(app))
        # The failed one: d asks; n keeps it.
        await pilot.press("k", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDiscard))
        text = screen_text(app)
        assert "Discard this change?" in text and "can no longer be retried" in text
        assert "move 2 messages from INBOX to Projects/2026" in text
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is queue)
        assert backend.discarded == [] and len(queue.items) == 3
        # Asked again, y discards it: gone from the view (which re-read the queue).
        await pilot.press("delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDiscard))
        await pilot.press("y")
        await wait_until(pilot, lambda: len(queue.items) == 2)
        assert [(i.kind, i.id) for i in backend.discarded] == [("operation", 7)]
        assert "move 2 messages" not in screen_text(app)
        assert "Discarded operation 7" in screen_text(app)
        assert "2 pending" in app.status_bar.text and "failed" not in app.status_bar.text


async def test_view_follows_the_queue_while_open() -> None:
    now = time.time()
    backend = queue_backend(now)
    backend.queue = []
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("Q")
        queue = queue_screen(app)
        await wait_until(pilot, lambda: "Nothing is waiting for the server." in screen_text(app))
        backend.queue = queue_items(now)[:1]
        backend.publish_queue()
        await wait_until(pilot, lambda: "Projects/2026" in screen_text(app))
        assert "0 waiting, 1 failed" in screen_text(app)
        backend.queue = []
        backend.publish_queue()
        await wait_until(pilot, lambda: not queue.items)
        assert "Nothing is waiting for the server." in screen_text(app)


async def test_hostile_server_words_are_shown_inert() -> None:
    hostile = "[@click=app.quit]Click[/] \x1b]0;pwned\x07 \u202egnp.exe [link=x] \x9b2J"
    backend = MemoryBackend(inbox_size=2)
    backend.queue = [
        QueueItem(
            "operation",
            1,
            "[b]work[/b]",
            f"move 1 message from INBOX to {hostile}",
            "failed",
            attempts=1,
            error=f"the server said NO {hostile}",
        )
    ]
    backend.refusal = f"refused {hostile}"
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("Q")
        queue = queue_screen(app)
        await wait_until(pilot, lambda: queue.loaded)
        await pilot.press("r")  # the backend refuses, in hostile words too
        await wait_until(pilot, lambda: app.errors)
        await pilot.pause()
        text = screen_text(app)
        assert "[b]work[/b]" in text
        assert "the server said NO [@click=app.quit]Click[/] ]0;pwned gnp.exe [link=x]" in text
        assert "Retry failed: refused [@click=app.quit]Click[/]" in text
        for strip in app.screen._compositor.render_strips():
            for segment in strip:
                assert not any(char in segment.text for char in CONTROL), repr(segment.text)
        assert app.is_running and _queue_open(app)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fixed time zone, so every machine draws the same picture."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def test_queue_screenshot(utc: None) -> None:
    """screenshots/queue.svg's scene (``make screenshots`` draws it): the queue view with a
    change the server refused (with its words and the keys that apply), one held back by a
    temporary failure with its next try, and a message waiting to be sent."""
    app = QUEUE.make_app()
    async with app.run_test(size=QUEUE.size) as pilot:
        text = await QUEUE.drive(pilot)
    assert "next try in 10 min" in text and "Waiting for the server" in text


async def test_refused_move_in_the_queue_view_on_a_real_server(
    mail_user: MailUser, device: Device, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A move into a folder another device deleted while we were offline: refused when we
    are back, shown as failed with the server's words; r retries it (still refused: the
    folder is gone), d discards it, and the message is where it was, here and there."""
    device.create_folder("Later")
    uid = device.append("INBOX", make_message(1, subject="File me later"))
    config = config_for(mail_user, tmp_path, port=proxy.port)
    async with running_app(config, tmp_path) as (app, backend, pilot):
        await wait_until(pilot, lambda: shown(app, "File me later"), within=15)
        async with asyncio.timeout(15):
            await backend.wait_live()
        await wait_until(
            pilot, lambda: any(f.name == "Later" for f in app.folder_tree.folders()), within=5
        )
        proxy.refuse(True)
        proxy.cut()
        await wait_until(pilot, lambda: "test: offline" in app.status_bar.text, within=5)
        await asyncio.to_thread(device.delete_folder, "Later")  # on the phone, meanwhile
        await pilot.press("m", *"Later", "enter")
        await wait_until(pilot, lambda: "1 pending" in app.status_bar.text)
        assert not list_row(app, "File me later")
        proxy.refuse(False)  # back: the move is refused, rolled back, kept as failed
        await wait_until(pilot, lambda: "1 failed" in app.status_bar.text, within=15)
        await wait_until(pilot, lambda: list_row(app, "File me later"), within=5)

        await pilot.press("Q")
        queue = queue_screen(app)
        await wait_until(pilot, lambda: queue.loaded and queue.items)
        [item] = queue.items
        assert item.failed and item.kind == "operation"
        await pilot.pause()
        text = screen_text(app)
        assert "move 1 message from INBOX to Later" in text
        assert "folder Later is gone from the server" in text  # the replayer's words ...
        assert "Mailbox doesn't exist" in text  # ... and Dovecot's own

        await pilot.press("r")  # the folder is gone: the retry is refused, still failed
        await wait_until(pilot, lambda: "Retry failed" in screen_text(app), within=5)
        assert "Later does not exist" in screen_text(app)
        [still] = await backend.queue_items()
        assert still.failed and still.id == item.id

        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDiscard))
        await pilot.press("y")
        await wait_until(pilot, lambda: not queue.items, within=5)
        assert "Nothing is waiting for the server." in screen_text(app)
        assert await backend.queue_items() == []
        await pilot.press("escape")
        await wait_until(pilot, lambda: "failed" not in app.status_bar.text)
        assert list_row(app, "File me later")
        assert device.subjects("INBOX") == {uid: "File me later"}


async def test_store_backend_queue_items_retry_and_discard(
    mail_user: MailUser, tmp_path: Path
) -> None:
    """The real backend's queue calls, on the store alone (no engine, no network): a change
    held back by a temporary failure is tried now; outgoing mail is retried and discarded
    only when failed."""
    config = config_for(mail_user, tmp_path)
    store = await Store.open(store_path(tmp_path))
    try:
        async with StoreBackend(
            config, store, lock_dir=tmp_path / "locks", run_engine=False
        ) as backend:
            [account] = await backend.accounts()
            async with store.write() as unit:
                inbox = await unit.upsert_folder(
                    account.id,
                    "INBOX",
                    display_name="INBOX",
                    delimiter="/",
                    special_use=None,
                    subscribed=True,
                )
                await unit.upsert_messages(inbox, [record_from_raw(make_message(1), 1, (), 1)])
            queued = await backend.operations.flag(inbox, [1])
            assert queued.operation_id is not None
            raw = make_message(2, subject="Hello \x1b[2J there")
            async with store.write() as unit:
                await unit.fail_operation(
                    queued.operation_id,
                    "[UNAVAILABLE] busy",
                    give_up=False,
                    next_attempt_at=int(time.time()) + 300,
                )
                outgoing = await unit.queue_outgoing(
                    account.id, raw, "me@example.org", ["a@example.org", "b@example.org"]
                )
            change, message = await backend.queue_items()
            assert (change.kind, change.state, change.backing_off) == ("operation", "pending", True)
            assert change.description == "+\\Flagged on 1 message in INBOX"
            assert change.error == "[UNAVAILABLE] busy" and change.attempts == 1
            assert (message.kind, message.id, message.state) == ("outgoing", outgoing, "pending")
            assert message.description == (
                'send "Hello \x1b[2J there" to a@example.org, b@example.org'
            )  # as stored: the screen cleans it
            with backend.events.subscribe() as heard:
                assert "now" in await backend.retry(change)
                # Same counts, but the queue changed: an open view hears of it.
                async with asyncio.timeout(5):
                    while not isinstance(await heard.get(), OperationsState):
                        pass
            [op] = await store.pending_operations(account.id)
            assert op.next_attempt_at is None and not op.failed
            # A waiting message cannot be discarded (it may be going out); a failed one can.
            with pytest.raises(OperationsError, match="not failed"):
                await backend.discard(message)
            async with store.write() as unit:
                await unit.outgoing_failed(
                    outgoing, "550 no such user", next_attempt_at=None, give_up=True
                )
            [_, failed] = await backend.queue_items()
            assert failed.failed and failed.error == "550 no such user"
            await backend.retry(failed)
            [again] = await store.outbox(account.id, include_failed=True)
            assert again.state == "queued" and not again.failed
            async with store.write() as unit:
                await unit.outgoing_failed(
                    outgoing, "550 no such user", next_attempt_at=None, give_up=True
                )
            [_, failed] = await backend.queue_items()
            await backend.discard(failed)
            assert await store.outbox(account.id, include_failed=True) == []
            assert [item.kind for item in await backend.queue_items()] == ["operation"]
    finally:
        await store.close()
