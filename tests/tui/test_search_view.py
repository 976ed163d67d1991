"""Search results and threads in the message list.

The UI flows run on the memory backend under Pilot (typing shows results, a bad query is
explained, results from several folders are acted on in their own folders, server hits are
marked, threads collapse and expand); `SearchSource` and `ThreadSource` are checked for keyset
paging on a real store; the server phase runs against the real Dovecot with bodies never
downloaded.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest

from sync.config import parse_config
from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.paths import store_path
from sync.search import parse_query
from sync.store import MessageRecord, Store
from sync.store.search import SearchKey, search_messages, thread_page
from tests.engine.helpers import config_for
from tests.rig.device import Device
from tests.tui.helpers import screen_text, wait_for_rows, wait_until
from tests.tui.memory import BASE_TIME, MemoryBackend, MemoryMessage
from tui.app import MailApp
from tui.backend import StoreBackend
from tui.protocol import MessageSource
from tui.search_view import (
    SERVER_MARK,
    SearchHit,
    SearchSource,
    ServerNews,
    ThreadSource,
    row_id,
    split_row_id,
)

SIZE = (120, 30)


def _all_uids(app: MailApp) -> list[int]:
    ml = app.message_list
    return [ml.uid_at(i) for i in range(ml.row_count)]


# ------------------------------------------------------------------------- memory backend, UI


async def test_typing_shows_results_before_enter() -> None:
    backend = MemoryBackend(inbox_size=120)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("slash", *"number 11")
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 11)
        assert set(_all_uids(app)) == {11, *range(110, 120)}
        assert app.focused is app.query_one("#filter")  # still typing: the input keeps keys
        await pilot.press("backspace")  # "number 1": more results, still without Enter
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count > 11)
        await pilot.press("enter")
        await wait_for_rows(pilot, ml)
        assert app.focused is ml
        await pilot.press("q")
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 120)


async def test_a_bad_query_is_explained_under_the_input() -> None:
    backend = MemoryBackend(inbox_size=30)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("slash", *"(lunch")
        await wait_until(pilot, lambda: "without a matching" in screen_text(app))
        assert "'(' without a matching ')'" in screen_text(app)
        assert ml.row_count == 30 and app.errors == []  # the list is left as it was
        await pilot.press(")")  # fixed: the message goes, the results come
        await wait_until(pilot, lambda: "without a matching" not in screen_text(app))
        assert app.is_running


async def test_global_search_spans_folders_and_acts_in_each() -> None:
    backend = MemoryBackend(inbox_size=20, extra_folders=["Projects"])
    projects = backend.folder_named("Projects")
    for uid in (1, 2, 3):
        projects.add(MemoryMessage(uid, BASE_TIME + 10_000 + uid, subject=f"Zebra plan {uid}"))
    inbox = backend.folder_named("INBOX")
    inbox.add(MemoryMessage(50, BASE_TIME + 5_000, subject="Zebra crossing"))
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("F", *"zebra", "enter")
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 4)
        await wait_for_rows(pilot, ml)
        located = [ml.locate(uid) for uid in _all_uids(app)]
        assert located == [
            (projects.folder_id, 3),
            (projects.folder_id, 2),
            (projects.folder_id, 1),
            (inbox.folder_id, 50),
        ]
        assert "Zebra crossing" in screen_text(app)
        # Select one result in each folder and flag them: one request per folder.
        await pilot.press("space", "G", "space", "exclamation_mark")
        await wait_until(pilot, lambda: len(backend.performed) == 2)
        requests = {(r.folder_id, r.uids) for r in backend.performed}
        assert requests == {(projects.folder_id, (3,)), (inbox.folder_id, (50,))}
        # Opening a result opens it in its own folder.
        await pilot.press("g", "enter")
        await wait_until(pilot, lambda: app.reader.display)
        assert (app.reader.folder_id, app.reader.uid) == (projects.folder_id, 3)


async def test_server_hits_are_marked_and_counted() -> None:
    backend = MemoryBackend(inbox_size=5, extra_folders=["Projects"])
    projects = backend.folder_named("Projects").folder_id
    backend.server_hits = [(projects, MemoryMessage(9, BASE_TIME + 99_000, subject="Tender"))]
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("F", *"number 2")
        await wait_until(pilot, lambda: "1 more on the server" in screen_text(app))
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 2)
        await wait_for_rows(pilot, ml)
        assert ml.locate(ml.uid_at(0)) == (projects, 9)  # newest first, merged in order
        assert f"{SERVER_MARK}Tender" in screen_text(app)


async def test_offline_server_phase_says_local_results_only() -> None:
    backend = MemoryBackend(inbox_size=5, server_offline=True)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("F", *"number")
        await wait_until(pilot, lambda: "Offline: local results only" in screen_text(app))
        ml = app.message_list
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 5)


async def test_thread_view_shows_counts_and_expands() -> None:
    backend = MemoryBackend(inbox_size=0)
    inbox = backend.folder_named("INBOX")
    subjects = {1: "Plans", 2: "Re: Plans", 3: "Other", 4: "Re: Plans", 5: "Lonely"}
    for uid, subject in subjects.items():
        date = BASE_TIME + (10 * uid if uid != 4 else 100)  # the Plans thread is newest
        inbox.add(MemoryMessage(uid, date, subject=subject))
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        assert ml.row_count == 5
        await pilot.press("T")
        await wait_until(pilot, lambda: isinstance(ml.source, ThreadSource) and ml.keys_loaded)
        await wait_for_rows(pilot, ml)
        assert ml.row_count == 3  # Plans (3), Lonely, Other
        assert "▸ (3) Plans" in screen_text(app)
        await pilot.press("enter")  # Enter on a collapsed thread expands it
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 5)
        await wait_for_rows(pilot, ml)
        assert _all_uids(app)[:3] == [1, 2, 4]  # the thread, oldest first under its head
        assert "▾ (3) Plans" in screen_text(app)
        assert "└ Re: Plans" in screen_text(app)
        await pilot.press("j", "v")  # collapse from inside the thread
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 3)
        assert ml.cursor_uid == 1
        await pilot.press("enter")  # expand again...
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 5)
        await pilot.press("enter")  # ...then Enter opens the head
        await wait_until(pilot, lambda: app.reader.display)
        assert app.reader.uid == 1
        await pilot.press("q", "T")
        await wait_until(pilot, lambda: not isinstance(ml.source, ThreadSource))
        await wait_until(pilot, lambda: ml.keys_loaded and ml.row_count == 5)


# ------------------------------------------------------------------------- real store, paging


def _record(uid: int, subject: str, when: int, **extra: str | None) -> MessageRecord:
    return MessageRecord(
        uid=uid,
        message_id=extra.get("message_id") or f"<{uid}.{when}@example.org>",
        subject=subject,
        from_name="Sender",
        from_addr="sender@example.org",
        to="me@example.org",
        cc="",
        date=when,
        internaldate=when,
        size=100,
        flags=(),
        modseq=None,
        has_attachment=False,
        in_reply_to=extra.get("in_reply_to"),
        references=extra.get("references"),
    )


@pytest.fixture
async def paged_store(tmp_path: Path) -> AsyncIterator[tuple[Store, int, int]]:
    """Two folders: 300 messages each, every third about "alpha"; INBOX in threads of 4."""
    opened = await Store.open(tmp_path / "store.sqlite3")
    try:
        async with opened.write() as w:
            account = await w.ensure_account("work", "me@example.org")
            inbox = await w.upsert_folder(
                account, "INBOX", display_name="INBOX", delimiter="/", special_use=None
            )
            other = await w.upsert_folder(
                account, "Other", display_name="Other", delimiter="/", special_use=None
            )
            records = []
            for uid in range(1, 301):
                root = (uid - 1) // 4 * 4 + 1  # uids 1-4 are one thread, 5-8 the next...
                reply = {} if uid == root else {"in_reply_to": f"<{root}.t@example.org>"}
                message_id = f"<{uid}.t@example.org>"
                subject = "alpha news" if uid % 3 == 0 else "beta news"
                # Same second for many messages: ties are broken by folder and uid.
                when = BASE_TIME + uid // 2
                records.append(_record(uid, subject, when, message_id=message_id, **reply))
            await w.upsert_messages(inbox, records)
            await w.upsert_messages(
                other,
                [
                    _record(uid, "alpha" if uid % 3 == 0 else "x", BASE_TIME + uid // 2)
                    for uid in range(1, 301)
                ],
            )
        yield opened, inbox, other
    finally:
        await opened.close()


async def _read_all(source: MessageSource, limit: int) -> list[int]:
    """Every row of a source, page by page, each page keyed by the arrays of ``keys``."""
    sort_values, ids = await source.keys()
    rows: list[int] = []
    while len(rows) < len(ids):
        after = (sort_values[len(rows) - 1], ids[len(rows) - 1]) if rows else None
        page = await source.page(after, limit)
        assert page, f"no rows after position {len(rows)} of {len(ids)}"
        rows += [row.uid for row in page]
    assert rows == list(ids)
    return rows


def _backend(store: Store, tmp_path: Path) -> StoreBackend:
    """A backend over the store, not started (its reads need no engine)."""
    text = (
        '[accounts.work]\nemail = "me@example.org"\nimap_host = "imap.example.org"\n'
        'password_command = "true"\n'
    )
    config = parse_config(text, tmp_path / "config.toml")
    return StoreBackend(config, store, lock_dir=tmp_path / "locks", run_engine=False)


async def test_search_source_pages_match_the_order(
    paged_store: tuple[Store, int, int], tmp_path: Path
) -> None:
    store, inbox, other = paged_store
    backend = _backend(store, tmp_path)
    source = await backend.search_source(inbox, "alpha")
    assert isinstance(source, SearchSource)
    rows = await _read_all(source, 37)
    assert len(rows) == 200  # 100 in each folder
    # The same rows as the store's own search, newest first, ties by folder then uid.
    expected = await search_messages(store, parse_query("alpha"), limit=1000)
    assert [split_row_id(value) for value in rows] == [(r.folder_id, r.uid) for r in expected]
    assert {folder for folder, _ in map(split_row_id, rows)} == {inbox, other}
    # In one folder (the filter), the same paging.
    filtered = await backend.filtered_source(inbox, "alpha")
    assert filtered is not None
    assert len(await _read_all(filtered, 50)) == 100
    # The cap keeps the newest results.
    capped = SearchSource(source._pager, inbox, cap=30)
    _, ids = await capped.keys()
    assert list(ids) == rows[:30] and capped.truncated


async def test_search_source_merges_server_hits_in_order(
    paged_store: tuple[Store, int, int],
) -> None:
    store, inbox, _ = paged_store
    query = parse_query("beta")
    hidden = {1, 299}  # beta messages whose bodies "are not here": only the server finds them

    async def pager(after: tuple[int, int, int] | None, limit: int) -> list[SearchHit]:
        key = SearchKey(*after) if after is not None else None
        found = await search_messages(store, query, after=key, limit=limit)
        return [SearchHit(r.internaldate, r.folder_id, r) for r in found if r.uid not in hidden]

    server_rows = await store.messages(inbox, [1, 2, 299])  # 2 was listed already

    async def server(shown: Collection[tuple[int, int]]) -> AsyncIterator[ServerNews]:
        assert (inbox, 2) in shown and (inbox, 1) not in shown
        yield ServerNews(hits=[SearchHit(r.internaldate, r.folder_id, r) for r in server_rows])

    source = SearchSource(pager, inbox, server_phase=server)
    local = list((await source.keys())[1])
    assert len(local) == 200 - 2
    async for _ in source.server_results():
        pass
    rows = await _read_all(source, 23)
    assert len(rows) == 200 and sorted(rows) == sorted(
        {*local, row_id(inbox, 1), row_id(inbox, 299)}
    )
    everything = await search_messages(store, query, limit=1000)
    assert rows == [row_id(r.folder_id, r.uid) for r in everything]  # merged in order
    marked = [
        row.uid
        for row in await source.page(None, 1000)
        if (row.subject or "").startswith(SERVER_MARK)
    ]
    assert sorted(marked) == sorted(row_id(inbox, uid) for uid in hidden)


async def test_thread_source_pages_with_expanded_threads(
    paged_store: tuple[Store, int, int], tmp_path: Path
) -> None:
    store, inbox, _ = paged_store
    source = await _backend(store, tmp_path).thread_source(inbox)
    assert isinstance(source, ThreadSource)
    collapsed = await _read_all(source, 11)
    assert len(collapsed) == 75  # 300 messages in threads of 4
    heads = await thread_page(store, inbox, collapsed=True, limit=1000)
    assert collapsed == [head.message.uid for head in heads]
    page = await source.page(None, 3)
    assert all(row.subject is not None and row.subject.startswith("▸ (4) ") for row in page)
    # Expand three threads, one of them across a page boundary of the reads below.
    for uid in (collapsed[0], collapsed[5], collapsed[40]):
        assert await source.toggle(uid)
        await source.keys()
    expanded = await _read_all(source, 7)
    assert len(expanded) == 75 + 3 * 3
    full = await thread_page(store, inbox, limit=1000)
    wanted = {collapsed[0], collapsed[5], collapsed[40]}
    threads = {
        (row.thread_sort, row.thread_id)
        for row in full
        if row.rank == 0 and row.message.uid in wanted
    }
    assert expanded == [
        row.message.uid
        for row in full
        if row.rank == 0 or (row.thread_sort, row.thread_id) in threads
    ]
    # Collapsing from a member row works too.
    member = expanded[1]
    assert await source.toggle(member)
    await source.keys()
    assert len(await _read_all(source, 13)) == 75 + 2 * 3


# ------------------------------------------------------------------------- the real server


async def test_server_phase_on_dovecot_finds_mail_without_bodies(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    device.create_folder("Archive")
    body = "From: a@example.org\r\nSubject: {s}\r\n\r\nthe zanzibar plan\r\n"
    device.append("INBOX", body.format(s="Trip").encode())
    device.append("Archive", body.format(s="Old trip").encode())
    device.append("INBOX", b"From: b@example.org\r\nSubject: Other\r\n\r\nnothing\r\n")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = config_for(mail_user, data_dir)
    store = await Store.open(store_path(data_dir))
    try:
        await AccountSync(config.accounts[0], store, SyncSettings(prefetch="none")).run_once()
        folders = {f.name: f.id for f in await store.folders()}
        async with StoreBackend(
            config,
            store,
            lock_dir=data_dir / "locks",
            settings=SyncSettings(prefetch="none"),
            run_engine=False,
        ) as backend:
            source = await backend.search_source(folders["INBOX"], "zanzibar")
            assert isinstance(source, SearchSource) and source.has_server_phase
            assert len((await source.keys())[1]) == 0  # no body here: nothing locally
            news = [item async for item in source.server_results()]
            assert all(item.unavailable is None for item in news)
            _, ids = await source.keys()
            assert sorted(source.locate(value)[0] for value in ids) == sorted(
                [folders["INBOX"], folders["Archive"]]
            )
            rows = await source.page(None, 10)
            assert {row.subject for row in rows} == {
                f"{SERVER_MARK}Trip",
                f"{SERVER_MARK}Old trip",
            }
            # Offline: the phase says so instead of failing.
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            backend.config = config_for(mail_user, data_dir, port=port)
            offline = await backend.search_source(folders["INBOX"], "zanzibar")
            assert isinstance(offline, SearchSource)
            await offline.keys()
            said = [item async for item in offline.server_results()]
            assert len(said) == 1 and said[0].unavailable
    finally:
        await store.close()
