"""A store written before search existed is indexed by the migration that adds it."""

from __future__ import annotations

from pathlib import Path

from sync.search import parse_query
from sync.store import Store
from sync.store.schema import MIGRATIONS
from sync.store.search import (
    index_pending_bodies,
    pending_body_count,
    search_messages,
    thread_page,
)
from sync.store.search_schema import SEARCH_SCHEMA
from tests.search.corpus import CORPUS, raw_of, record_of


async def test_existing_mail_is_indexed_on_upgrade(data_dir: Path) -> None:
    path = data_dir / "old.sqlite3"
    version = next(m.version for m in MIGRATIONS if m.step is SEARCH_SCHEMA)
    async with await Store.open(path, target_version=version - 1) as old, old.write() as unit:
        account = await unit.ensure_account("acct", "alex@example.org")
        folder = await unit.upsert_folder(
            account, "INBOX", display_name="INBOX", delimiter="/", special_use=None
        )
        mails = [mail for mail in CORPUS if mail.folder == "INBOX"]
        await unit.upsert_messages(folder, [record_of(mail) for mail in mails])
        for mail in mails:
            if mail.body is not None:
                await unit.store_body(folder, mail.uid, raw_of(mail))
    async with await Store.open(path) as store:
        assert {r.uid for r in await search_messages(store, parse_query("subject:lunch"))} == {
            1,
            3,
        }
        assert await pending_body_count(store) == 5
        assert await search_messages(store, parse_query("ramen")) == []  # bodies: not yet
        while await index_pending_bodies(store, limit=2):
            pass
        assert {r.uid for r in await search_messages(store, parse_query("body:ramen"))} == {1, 3}
        assert len(await thread_page(store, folder)) == 6
