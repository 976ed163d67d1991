"""The app shell: folder pane, reader, help, keymap, filter, move picker, backend events."""

from __future__ import annotations

import asyncio

import pytest

from sync.store.events import (
    BodyStored,
    ExternalChange,
    FolderCountsChanged,
    FoldersChanged,
    MessagesChanged,
    OperationsChanged,
)
from tests.tui.helpers import (
    focused_id,
    palette_offers,
    screen_text,
    wait_for_rows,
    wait_until,
)
from tests.tui.memory import MemoryBackend, MemoryMessage
from tui.app import (
    BodyAvailable,
    ConnectionState,
    CountsUpdated,
    FoldersUpdated,
    MailApp,
    MessagesUpdated,
    OperationsState,
)
from tui.backend import backend_event_from_store
from tui.folder_order import folder_parts, folder_tree, sort_folders
from tui.keys import DEFAULT_KEYS, KeymapError, display_keys
from tui.protocol import Archive, FolderInfo, Move, NewMailNotice, SetRead
from tui.screens.folder_picker import FolderPicker, fuzzy_score
from tui.screens.help import HelpScreen

SIZE = (110, 30)


def test_folders_sort_special_use_first() -> None:
    def folder(i: int, name: str, special: str | None = None) -> FolderInfo:
        return FolderInfo(i, 1, name, name, "/", special)

    folders = [
        folder(1, "Zoo"),
        folder(2, "Trash", "\\Trash"),
        folder(3, "Alpha"),
        folder(4, "INBOX"),
        folder(5, "Sent", "\\Sent"),
    ]
    assert [f.name for f in sort_folders(folders)] == ["INBOX", "Sent", "Trash", "Alpha", "Zoo"]


def test_folder_tree_nests_by_each_folders_delimiter() -> None:
    def folder(i: int, name: str, delimiter: str | None, special: str | None = None) -> FolderInfo:
        return FolderInfo(i, 1, name, name, delimiter, special)

    folders = [
        folder(1, "Work.Sent", ".", "\\Sent"),  # sorts before its parent: still under it
        folder(2, "Work", "."),
        folder(3, "INBOX.Lists.py", "."),  # Courier's layout: everything under INBOX
        folder(4, "INBOX", "."),
        folder(5, "v1.2/notes", "/"),  # another account's "/": the "." is just a character
        folder(6, "Flat", None),
    ]
    tree = [
        (entry.path, entry.folder.id if entry.folder else None) for entry in folder_tree(folders)
    ]
    assert tree == [
        (("INBOX",), 4),
        (("INBOX", "Lists"), None),  # a level that is not a shown folder
        (("INBOX", "Lists", "py"), 3),
        (("Flat",), 6),
        (("v1.2",), None),
        (("v1.2", "notes"), 5),
        (("Work",), 2),
        (("Work", "Sent"), 1),
    ]
    assert folder_parts(folders[0]) == ("Work", "Sent")


def test_fuzzy_score_prefers_word_starts() -> None:
    assert fuzzy_score("arc", "Archive") is not None
    assert fuzzy_score("xyz", "Archive") is None
    archive, research = fuzzy_score("arc", "Archive"), fuzzy_score("arc", "Lists/research")
    assert archive is not None and research is not None and archive > research


async def test_folder_pane_nests_and_counts_and_switches_folder() -> None:
    backend = MemoryBackend(inbox_size=30, extra_folders=["Lists/python", "Lists/rust"])
    backend.deliver(7, MemoryMessage(uid=1, date=1, subject="rusty"))
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        text = screen_text(app)
        assert "INBOX 10" in text  # every third synthetic message is unread
        lines = text.splitlines()
        order = [
            next(i for i, ln in enumerate(lines) if name in ln)
            for name in ("INBOX", "Drafts", "Sent", "Archive", "Trash", "Lists", "python", "rust")
        ]
        assert order == sorted(order)
        # Tab to the folder pane, pick "rust", Enter opens it.
        await pilot.press("tab")
        assert focused_id(app) == "folders"
        assert app.folder_tree.select_folder(7)
        await pilot.press("enter")
        await wait_for_rows(pilot, ml)
        assert ml.folder_id == 7 and ml.row_count == 1
        assert focused_id(app) == "messages"
        assert "rusty" in screen_text(app)


async def test_reader_opens_marks_read_and_q_goes_back_then_quits() -> None:
    backend = MemoryBackend(inbox_size=9)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("enter")  # uid 9: unread
        await wait_until(pilot, lambda: app.reader.body_text)
        assert (app.reader.display, ml.display) == (True, False)
        assert app.reader.body_text.strip() == "Body of 9."
        assert "Subject: Message number 9" in screen_text(app)
        opened = backend.performed[-1]
        assert isinstance(opened, SetRead) and opened.value is True
        await pilot.press("q")
        assert (app.reader.display, ml.display) == (False, True)
        assert focused_id(app) == "messages"
        await wait_for_rows(pilot, ml)
        row = ml.row_at(0)
        assert row is not None and row.seen
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_help_lists_every_binding_with_user_keymap() -> None:
    app = MailApp(MemoryBackend(inbox_size=20), keymap={"list.down": "n,ctrl+n"})
    # Tall enough for the whole table: every binding must be on the one screen.
    async with app.run_test(size=(120, 84)) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("n")
        assert ml.cursor == 1
        await pilot.press("j")  # j is no longer bound to list.down
        assert ml.cursor == 1
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for spec in DEFAULT_KEYS:
            assert spec.id in text, spec.id
        assert display_keys("n,ctrl+n") in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_unknown_binding_id_is_refused() -> None:
    with pytest.raises(KeymapError, match=r"list\.dwon"):
        MailApp(MemoryBackend(inbox_size=1), keymap={"list.dwon": "n"})


async def test_filter_narrows_the_list_and_q_clears_it() -> None:
    backend = MemoryBackend(inbox_size=120)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("slash", *"number 11", "enter")
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 11)
        await wait_for_rows(pilot, ml)
        assert {ml.uid_at(i) for i in range(ml.row_count)} == {11, *range(110, 120)}
        await pilot.press("q")
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 120)
        assert app.is_running


async def test_move_picks_folder_fuzzily() -> None:
    backend = MemoryBackend(inbox_size=5, extra_folders=["Projects/alpha"])
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("m")
        assert isinstance(app.screen, FolderPicker)
        await pilot.press(*"alp", "enter")
        await wait_until(pilot, lambda: backend.performed)
        request = backend.performed[-1]
        assert isinstance(request, Move) and request.uids == (5,)
        assert backend.folders_by_id[request.dest_folder_id].name == "Projects/alpha"
        await wait_for_rows(pilot, ml)
        assert ml.row_count == 4


async def test_status_bar_and_compose_requests() -> None:
    backend = MemoryBackend(inbox_size=3)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        backend.events.publish(ConnectionState("work", "online"))
        backend.events.publish(OperationsState(pending=3, failed=1))
        await wait_until(pilot, lambda: "failed" in app.status_bar.text)
        assert "work: online" in app.status_bar.text
        assert "3 pending, 1 failed" in app.status_bar.text
        await pilot.press("r", "R", "f", "c")
        await wait_until(pilot, lambda: len(backend.compose_requests) == 4)
        assert backend.compose_requests == [
            ("reply", 1, 3),
            ("reply_all", 1, 3),
            ("forward", 1, 3),
            ("compose", 1, 3),
        ]


async def test_command_palette_runs_list_actions() -> None:
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("ctrl+p")
        await pilot.press(*"Archive")
        await wait_until(pilot, lambda: palette_offers(app, "Archive"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: backend.performed)
        assert isinstance(backend.performed[-1], Archive)
        assert backend.performed[-1].uids == (5,)


async def test_palette_names_actions_and_keys_as_a_person_reads_them() -> None:
    app = MailApp(MemoryBackend(inbox_size=5), keymap={"list.archive": "a,e"})
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        helps = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert helps["Flag"].startswith("!  ·  list.flag")
        assert helps["Help"].startswith("?")
        assert helps["Archive"].startswith("a e")  # the user's keys, not the default
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reader.body_shown)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles.count("Reply") == 1 and titles.count("Delete") == 1
        helps = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert helps["Delete"].startswith("in the reader: d")


async def test_command_palette_offers_reader_actions_while_a_message_is_open() -> None:
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert "Source" not in titles  # no message open: nothing for it to act on
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reader.body_shown)
        await pilot.press("ctrl+p")
        await pilot.press(*"Source")
        await wait_until(pilot, lambda: palette_offers(app, "Source"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reader.source_shown)


def test_store_events_translate_to_backend_events() -> None:
    assert backend_event_from_store(MessagesChanged(3, added=(1,), updated=(2,))) == (
        MessagesUpdated(3, frozenset({1, 2}))
    )
    assert backend_event_from_store(FolderCountsChanged(3, 10, 2)) == CountsUpdated(frozenset({3}))
    assert backend_event_from_store(FoldersChanged(1)) == FoldersUpdated()
    assert backend_event_from_store(BodyStored(3, 7)) == BodyAvailable(3, 7)
    assert backend_event_from_store(ExternalChange()) == MessagesUpdated(None)
    assert backend_event_from_store(OperationsChanged(1)) is None


async def test_the_readers_own_download_is_laid_out_once(rendered_uids: list[bytes]) -> None:
    """Storing a download announces it (BodyAvailable) while the reader still waits for
    it: that must not start a second layout of the same message beside the reader's."""

    class AnnouncingBackend(MemoryBackend):
        async def body(self, folder_id: int, uid: int) -> bytes | None:
            raw = await super().body(folder_id, uid)
            self.events.publish(BodyAvailable(folder_id, uid))  # as the store does
            await asyncio.sleep(0.05)  # the event is handled before the download returns
            return raw

    backend = AnnouncingBackend(inbox_size=3)
    backend.not_cached.add((1, 3))
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reader.body_shown)
        await pilot.pause(0.3)  # a second layout, if one were started, would land in this time
        assert backend.downloads == [(1, 3)]
        assert sum(b"Body of 3." in raw for raw in rendered_uids) == 1


async def test_reader_shows_body_once_it_is_downloaded() -> None:
    backend = MemoryBackend(inbox_size=0)
    backend.deliver(1, MemoryMessage(uid=1, date=1, subject="Later", body=None))
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "not been downloaded" in screen_text(app))
        inbox = backend.folder_named("INBOX")
        inbox.replace(MemoryMessage(uid=1, date=1, subject="Later", body=b"\r\nArrived.\r\n"))
        backend.events.publish(BodyAvailable(1, 1))
        await wait_until(pilot, lambda: "Arrived." in app.reader.body_text)
        assert "Arrived." in screen_text(app)


async def test_new_mail_over_a_dialog_goes_to_the_status_bar_not_over_it() -> None:
    backend = MemoryBackend(inbox_size=3)
    app = MailApp(backend)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        backend.events.publish(NewMailNotice("work", "INBOX", "Eve", "Lunch?", 1))
        await wait_until(pilot, lambda: "New mail in INBOX: Eve: Lunch?" in app.status_bar.text)
        await pilot.pause()
        assert not app.screen.query("Toast")  # no toast over the help
        await pilot.press("escape")
        # With the list on screen, new mail is a toast again.
        backend.events.publish(NewMailNotice("work", "INBOX", "Bob", "Hi", 1))
        await wait_until(pilot, lambda: len(app.screen.query("Toast")) == 1)
