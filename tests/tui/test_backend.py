"""The interface on the real store and engine, against a private Dovecot and another device.

Each test runs the whole stack in-process (store, engine, operations, `StoreBackend`,
`MailApp` under Pilot) and asserts on what the screen shows; "another device" (stdlib
imaplib) changes the mailbox behind its back.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from textual.pilot import Pilot

from sync.config import Config, parse_config
from sync.dovecot import REV1_CAPABILITY, MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.lock import AccountLock
from sync.paths import store_path
from sync.sample_mail import make_message
from sync.store import Store
from tests.engine.helpers import config_for, config_text, converge, open_when_created
from tests.rig.device import Device
from tests.rig.proxy import FaultProxy
from tests.rig.strict import StrictProxy
from tests.tui.helpers import screen_lines, screen_text, wait_until
from tests.waits import eventually
from tui.app import Backend, MailApp
from tui.backend import StoreBackend, new_mail_environment
from tui.run import run_interface

SIZE = (140, 30)
# Short backoffs: a test that goes offline should not wait minutes for a retry.
SETTINGS = SyncSettings(prefetch="none", backoff_initial=0.2, backoff_max=2.0)
CONTROL = ("\x1b", "\x9b", "\x07", "\u202e", "\x00")


@contextlib.asynccontextmanager
async def running_app(
    config: Config,
    data_dir: Path,
    *,
    settings: SyncSettings = SETTINGS,
    size: tuple[int, int] = SIZE,
) -> AsyncIterator[tuple[MailApp, StoreBackend, Pilot[None]]]:
    """The app on a fresh store in ``data_dir``, as ``mailtui`` runs it; all closed after."""
    store = await Store.open(store_path(data_dir))
    try:
        async with StoreBackend(
            config, store, lock_dir=data_dir / "locks", settings=settings
        ) as backend:
            app = MailApp(backend)
            # Notifications on: the tests read toasts from the screen.
            async with app.run_test(size=size, notifications=True) as pilot:
                yield app, backend, pilot
    finally:
        await store.close()


def list_row(app: MailApp, text: str) -> str:
    """The message-list part of the screen line showing ``text`` ("" when none does)."""
    for line in screen_lines(app):
        if text in line and "▕" in line:
            return line.split("▕", 1)[1]
    return ""


def shown(app: MailApp, text: str) -> bool:
    """Whether ``text`` is on screen."""
    return text in screen_text(app)


async def test_list_shows_the_server_and_follows_another_device(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    for index, subject in enumerate(("Oldest on server", "Middle on server", "Newest on server")):
        device.append("INBOX", make_message(index, subject=subject))
    config = config_for(mail_user, tmp_path)
    async with running_app(config, tmp_path) as (app, backend, pilot):
        await wait_until(pilot, lambda: shown(app, "Oldest on server"), within=15)
        async with asyncio.timeout(15):
            await backend.wait_live()
        await wait_until(pilot, lambda: "test: online" in app.status_bar.text)
        lines = [i for i, line in enumerate(screen_lines(app)) if "on server" in line]
        assert len(lines) == 3 and "Newest" in screen_lines(app)[lines[0]]
        assert list_row(app, "Middle on server")[1] == "N"  # unread, as on the server

        # New mail on the other device appears on screen, in about a second.
        started = time.monotonic()
        await asyncio.to_thread(
            device.append, "INBOX", make_message(10, subject="Arrived while watching")
        )
        await wait_until(pilot, lambda: shown(app, "Arrived while watching"), within=5)
        arrival = time.monotonic() - started
        # Read there: the N marker goes here.
        uid = next(u for u, s in device.subjects("INBOX").items() if s == "Middle on server")
        started = time.monotonic()
        await asyncio.to_thread(device.add_flags, "INBOX", uid, "\\Seen")
        await wait_until(pilot, lambda: list_row(app, "Middle on server")[1:2] == " ", within=5)
        flag_change = time.monotonic() - started
        assert arrival < 2.0 and flag_change < 2.0, (arrival, flag_change)
        assert "INBOX 3" in screen_text(app)  # the unread count followed

        # And the other way: flag here (!), the server has it soon after.
        assert app.message_list.cursor == 1  # it stayed on its message as mail arrived above
        await pilot.press("g", "exclamation_mark")
        await wait_until(pilot, lambda: list_row(app, "Arrived while watching")[2] == "!")
        newest = max(device.uids("INBOX"))

        def flagged_on_server() -> bool:
            return "\\Flagged" in device.flags("INBOX")[newest]

        await wait_until(pilot, flagged_on_server, within=5)


async def test_opening_an_uncached_message_downloads_and_shows_it(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    raw = make_message(
        3,
        subject="Open me",
        body="Only the server has this text.\n\n> and a quoted line\n>> quoted twice\n",
    )
    uid = device.append("INBOX", raw)
    config = config_for(mail_user, tmp_path)
    async with running_app(config, tmp_path) as (app, backend, pilot):
        await wait_until(pilot, lambda: shown(app, "Open me"), within=15)
        inbox = next(f for f in await backend.store.folders() if f.name == "INBOX")
        assert await backend.store.body(inbox.id, uid) is None  # prefetch is off
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Only the server has this text." in app.reader.body_text)
        text = screen_text(app)
        assert "Only the server has this text." in text
        assert "quoted twice" in text and "Subject: Open me" in text
        assert await backend.store.body(inbox.id, uid) == device.fetch_raw("INBOX", uid)
        # Opening read it, here and (through the queue) on the server.
        await wait_until(pilot, lambda: "\\Seen" in device.flags("INBOX")[uid], within=5)
        # Gone from the server meanwhile, and not cached: said in words, nothing breaks.
        gone = device.append("INBOX", make_message(4, subject="Vanishing"))
        await wait_until(pilot, lambda: app.message_list.row_count == 2, within=5)
        device.expunge("INBOX", [gone])
        assert await backend.body(inbox.id, gone) is None
        assert app.is_running and not app.errors


async def test_hostile_subject_from_the_server_renders_inert(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    hostile = "[@click=app.quit]Click[/] \x1b]0;pwned\x07 \u202egnp.exe [link=x]"
    raw = (
        b"From: =?utf-8?q?=5Bbold=5DMallory=5B/=5D?= <m@example.org>\r\n"
        b"To: me@example.org\r\nSubject: " + hostile.encode("utf-8") + b"\r\n"
        b"Message-ID: <hostile@example.org>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody [/] \x1b[2J end\r\n"
    )
    device.append("INBOX", raw)
    config = config_for(mail_user, tmp_path)
    async with running_app(config, tmp_path) as (app, _, pilot):
        await wait_until(pilot, lambda: shown(app, "Click[/]"), within=15)
        row = list_row(app, "Click[/]")
        assert "[@click=app.quit]Click[/] ]0;pwned gnp.exe [link=x]" in row
        assert "[bold]Mallory[/]" in row
        line = next(i for i, ln in enumerate(screen_lines(app)) if "Click[/]" in ln)
        await pilot.click("#messages", offset=(60, line))
        await pilot.press("enter")
        await wait_until(pilot, lambda: "end" in app.reader.body_text)
        assert "body [/] [2J end" in app.reader.body_text
        for strip in app.screen._compositor.render_strips():
            for segment in strip:
                assert not any(char in segment.text for char in CONTROL), repr(segment.text)
        assert app.is_running


async def test_quit_closes_everything(mail_user: MailUser, device: Device, tmp_path: Path) -> None:
    device.append("INBOX", make_message(1, subject="Before quitting"))
    threads_before = {t for t in threading.enumerate() if not t.daemon}
    config = config_for(mail_user, tmp_path)
    async with running_app(config, tmp_path) as (app, backend, pilot):
        await wait_until(pilot, lambda: shown(app, "Before quitting"), within=15)
        async with asyncio.timeout(15):
            await backend.wait_live()
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    # The store's threads ended, the engine's connections closed, the account lock is free.
    # (The loop's own executor threads, "asyncio_N", end with the loop.)
    started = {t for t in threading.enumerate() if not t.daemon} - threads_before
    alive = {t for t in started if not t.name.startswith("asyncio_")}
    for thread in alive:
        thread.join(timeout=5)  # a closed connection's thread may take a moment to return
    leftover = {t for t in alive if t.is_alive()}
    assert not leftover, leftover
    lock = AccountLock(tmp_path / "locks", "test")
    lock.acquire()
    lock.release()


async def test_account_synced_by_another_process(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    config = config_for(mail_user, tmp_path)
    other_lock = AccountLock(tmp_path / "locks", "test")
    other_lock.acquire()  # as `mailtui sync` would hold it
    try:
        async with running_app(config, tmp_path) as (app, _, pilot):
            await wait_until(pilot, lambda: "synced by another mailtui" in app.status_bar.text)
            assert not shown(app, "From the other process")
            # The other process syncs into the same store file (its own connections).
            device.append("INBOX", make_message(2, subject="From the other process"))
            other = await Store.open(store_path(tmp_path))
            try:
                await AccountSync(config.accounts[0], other, SETTINGS).run_once()
            finally:
                await other.close()
            await wait_until(pilot, lambda: shown(app, "From the other process"), within=5)
    finally:
        other_lock.release()


async def test_unreachable_server_is_shown_with_its_retry(
    mail_user: MailUser, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = config_for(mail_user, tmp_path, port=port)
    async with running_app(config, tmp_path) as (app, _, pilot):
        await wait_until(pilot, lambda: "retrying in" in app.status_bar.text, within=5)
        assert "test: offline:" in app.status_bar.text
        assert "No folders yet" in app.status_bar.text  # a first start says why it is empty
        assert app.is_running


async def test_new_mail_notifies_and_runs_the_hook_without_a_shell(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    out = tmp_path / "hook.txt"
    marker = tmp_path / "pwned"
    command = f"sh -c 'printf %s \\\"$MAILTUI_SUBJECT\\\" > {out}'"
    text = config_text(
        mail_user, tmp_path, extra=f'[notify]\nbell = true\nnew_mail_command = "{command}"\n'
    )
    config = parse_config(text, tmp_path / "config.toml")
    device.create_folder("Projects")
    device.append("INBOX", make_message(1, subject="Old news"))
    device.append("INBOX", make_message(2, subject="More old news"))
    async with running_app(config, tmp_path) as (app, backend, pilot):
        await wait_until(pilot, lambda: shown(app, "More old news"), within=15)
        async with asyncio.timeout(15):
            await backend.wait_live()
        # Our own delete (to Trash) and move (to Projects) arrive there as "new" messages on
        # the server: they are not news.
        await pilot.press("d")
        await wait_until(pilot, lambda: device.uids("Trash"), within=5)
        await pilot.press("m", *"Proj", "enter")
        await wait_until(pilot, lambda: device.uids("Projects"), within=5)
        # Until the store equals the server, the engine has not yet synced the arrivals in
        # Trash and Projects that it could mistake for news.
        await converge(backend.store, device, limit=10)
        await pilot.pause()
        assert not shown(app, "New mail") and not out.exists()
        subject = f"Hi $(touch {marker}); `touch {marker}` ' \""
        await asyncio.to_thread(device.append, "INBOX", make_message(5, subject=subject))
        await wait_until(pilot, lambda: shown(app, "New mail in INBOX"), within=5)
        await wait_until(pilot, out.exists, within=5)
        await wait_until(pilot, lambda: out.read_text(encoding="utf-8") == subject)
        assert not marker.exists()


def test_hook_environment_is_cleaned() -> None:
    env = new_mail_environment({"PATH": "/bin"}, "a", "INBOX", "Eve\x00\x1b[2J", "x\ny", 2)
    assert env["PATH"] == "/bin" and env["MAILTUI_SENDER"] == "Eve[2J"
    assert env["MAILTUI_SUBJECT"] == "x y" and env["MAILTUI_COUNT"] == "2"


def _protocol_check(backend: StoreBackend) -> Backend:
    return backend  # mypy checks that StoreBackend is a Backend


async def test_run_interface_from_start_to_signal(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    """The whole `mailtui` path: store opened, engine run, SIGTERM quits cleanly, store closed."""
    device.append("INBOX", make_message(1, subject="Synced by the real entry point"))
    config = config_for(mail_user, tmp_path)

    async def synced_in_inbox() -> list[str]:
        watcher = await open_when_created(store_path(tmp_path))
        try:
            folders = [f for f in await watcher.folders() if f.name == "INBOX"]
            rows = await watcher.page(folders[0].id, after=None) if folders else []
            return [row.subject for row in rows]
        finally:
            await watcher.close()

    async def terminate_soon() -> None:
        # Quit once the engine has synced the message (read through a second connection).
        await eventually(synced_in_inbox, within=20, what="the message synced", every=0.1)
        signal.raise_signal(signal.SIGTERM)  # run_interface turns it into a clean quit

    status = await run_interface(config, background=[("terminate", terminate_soon)], headless=True)
    assert status == 0
    store = await Store.open(store_path(tmp_path))
    try:
        inbox = next(f for f in await store.folders() if f.name == "INBOX")
        assert [row.subject for row in await store.page(inbox.id, after=None)] == [
            "Synced by the real entry point"
        ]
    finally:
        await store.close()


async def test_offline_changes_wait_in_the_queue_and_go_out_when_back(
    mail_user: MailUser, device: Device, proxy: FaultProxy, tmp_path: Path
) -> None:
    uid = device.append("INBOX", make_message(1, subject="Flag me offline"))
    config = config_for(mail_user, tmp_path, port=proxy.port)
    async with running_app(config, tmp_path) as (app, backend, pilot):
        await wait_until(pilot, lambda: shown(app, "Flag me offline"), within=15)
        async with asyncio.timeout(15):
            await backend.wait_live()
        proxy.refuse(True)
        proxy.cut()
        await wait_until(pilot, lambda: "test: offline" in app.status_bar.text, within=5)
        await pilot.press("exclamation_mark")
        # Shown at once, and counted as waiting for the server.
        await wait_until(pilot, lambda: list_row(app, "Flag me offline")[2] == "!")
        await wait_until(pilot, lambda: "1 pending" in app.status_bar.text)
        assert "\\Flagged" not in device.flags("INBOX")[uid]
        proxy.refuse(False)  # back: the engine reconnects (short backoff) and replays
        await wait_until(pilot, lambda: "\\Flagged" in device.flags("INBOX")[uid], within=10)
        await wait_until(pilot, lambda: "pending" not in app.status_bar.text, within=5)
        assert "test: online" in app.status_bar.text


async def test_viewed_folder_is_watched_without_notify(
    reduced_user: MailUser, tmp_path: Path
) -> None:
    """Without NOTIFY the engine IDLEs on INBOX only; the folder on screen is watched too."""
    device = Device.connect(reduced_user)
    try:
        device.create_folder("Projects")
        device.append("Projects", make_message(1, subject="Project kickoff"))
        config = config_for(reduced_user, tmp_path)  # poll_interval: 60 s
        async with running_app(config, tmp_path) as (app, backend, pilot):
            async with asyncio.timeout(15):
                await backend.wait_live()
            await wait_until(
                pilot,
                lambda: any(f.name == "Projects" for f in app.folder_tree.folders()),
                within=5,
            )
            projects = next(f for f in app.folder_tree.folders() if f.name == "Projects")
            await pilot.press("tab")
            assert app.folder_tree.select_folder(projects.id)
            await pilot.press("enter")
            await wait_until(pilot, lambda: shown(app, "Project kickoff"), within=5)
            # The engine opens its IDLE on the folder in the background: a message appended
            # before that is only seen at the next poll (60 s), so a few tries are allowed.
            for attempt in range(4):
                subject = f"Project update {attempt}"
                await asyncio.to_thread(
                    device.append, "Projects", make_message(2 + attempt, subject=subject)
                )
                with contextlib.suppress(AssertionError):
                    await wait_until(pilot, lambda: shown(app, "Project update"), within=2)
                    break
            assert shown(app, "Project update")
    finally:
        device.close()


async def test_the_interface_goes_live_on_an_imap4rev1_server(
    rev1_user: MailUser, tmp_path: Path
) -> None:
    """No IDLE, no NOTIFY, unadvertised commands refused (StrictProxy): the status bar says
    the server is polled, another device's mail shows within the on-screen poll, a change
    made here reaches the server, and all of it over one login."""
    viewed_poll = 1.0
    settings = SyncSettings(prefetch="none", poll_interval=30.0, viewed_poll_interval=viewed_poll)
    server = rev1_user.server
    with StrictProxy(server.host, server.imap_port, [REV1_CAPABILITY]) as strict:
        device = Device.connect(rev1_user)
        try:
            device.append("INBOX", make_message(1, subject="Before the start"))
            config = config_for(rev1_user, tmp_path, port=strict.port)
            async with running_app(config, tmp_path, settings=settings) as (app, backend, pilot):
                await wait_until(pilot, lambda: shown(app, "Before the start"), within=15)
                async with asyncio.timeout(15):
                    await backend.wait_live()
                await wait_until(
                    pilot, lambda: "online, no IDLE on this server" in app.status_bar.text
                )
                started = time.monotonic()
                await asyncio.to_thread(
                    device.append, "INBOX", make_message(2, subject="Arrived while polling")
                )
                await wait_until(
                    pilot, lambda: shown(app, "Arrived while polling"), within=viewed_poll + 2
                )
                arrival = time.monotonic() - started
                # Flag the newest here: it reaches the server over the same connection.
                await pilot.press("g", "exclamation_mark")
                newest = max(device.uids("INBOX"))

                def flagged_on_server() -> bool:
                    return "\\Flagged" in device.flags("INBOX")[newest]

                await wait_until(pilot, flagged_on_server, within=viewed_poll + 2)
                assert arrival < viewed_poll + 2, arrival
            assert strict.refused == []  # nothing unadvertised was sent
            assert strict.logins == 1
        finally:
            device.close()
