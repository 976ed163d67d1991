"""Local search: every operator against a known corpus, and an index that follows changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, timedelta, timezone

import pytest

import sync.store.search as search_module
from sync.search import parse_query
from sync.store import Store
from sync.store.search import (
    SearchKey,
    compact_body_index,
    folders_needing_server,
    index_pending_bodies,
    search_messages,
)
from tests.search.corpus import CORPUS, build, raw_of, record_of

TODAY = date(2025, 1, 31)


async def found(store: Store, where: dict[str, tuple[int, int]], text: str) -> set[str]:
    """The corpus names ``text`` finds."""
    names = {key: name for name, key in where.items()}
    rows = await search_messages(store, parse_query(text, today=TODAY), zone=UTC, limit=1000)
    return {names.get((row.folder_id, row.uid), f"?{row.folder_id}/{row.uid}") for row in rows}


ALL = {mail.name for mail in CORPUS}
UNREAD = {"A1", "A4", "C10"}

CASES = [
    ("lunch", {"A1", "A3", "B1"}),  # subject twice, body once
    ("ramen", {"A1", "A3"}),  # body only
    ("LUNCH", {"A1", "A3", "B1"}),
    ('"quarterly report"', {"A2"}),  # B1 has "quarterly budget": not the phrase
    ("quarterly", {"A2", "B1"}),
    ("quarterly ramen", set()),
    ("lunch budget", {"B1"}),  # the terms may be in different places of one message
    ("repo*", {"A2", "A6"}),
    ("ram*", {"A1", "A3"}),
    ("ra*", set()),  # one or two letters typed so far: headers only
    ("body:ra*", {"A1", "A3"}),
    ("jos*", {"A6"}),
    ("from:maria", {"A1"}),
    ("from:maria.schmidt@example.de", {"A1"}),
    ("from:example.de", {"A1"}),
    ("from:jose", {"A6"}),  # diacritics folded: José
    ("to:priya", {"A2"}),  # to: covers Cc
    ("cc:priya", {"A2"}),
    ("to:maria", {"A3"}),
    ("subject:lunch", {"A1", "A3"}),
    ('subject:"final version"', {"B1"}),
    ("body:lunch", {"B1"}),
    ("has:attachment", {"A2", "A6"}),
    ("is:unread", UNREAD),
    ("is:read", ALL - UNREAD),
    ("-is:read", UNREAD),
    ("is:flagged", {"A2", "C10"}),
    ("is:unflagged", ALL - {"A2", "C10"}),
    ("is:answered", {"A3"}),
    ("is:draft", {"A6"}),
    ("before:2025-01-10", {"A6", "B1"}),
    ("after:2025-01-15", {"A4", "A5", "C10"}),
    ("date:2025-01-10", {"A1"}),
    ("after:2025-01-11 before:2025-01-13", {"A2", "A3"}),
    ("after:12d", {"A5"}),  # on or after 2025-01-19: A5 (20th), not C10 (18th)
    ("folder:Archive", {"B1"}),
    ("in:python", {"C10"}),  # the last level of Lists/python
    ("folder:inbox", {"A1", "A2", "A3", "A4", "A5", "A6"}),
    ("folder:nowhere", set()),
    ("lunch -from:alex", {"A1", "B1"}),
    ("uberweisung", {"A4"}),
    ("Überweisung", {"A4"}),
    ("ausgefuhrt", {"A4"}),  # body, diacritics folded
    ("ramen OR budget", {"A1", "A2", "A3", "B1"}),
    ("(lunch OR photos) is:unread", {"A1"}),
    ("python", {"C10"}),
    ("build", {"A5"}),  # no body cached: found by its subject
    ("-build", ALL - {"A5"}),  # a bodiless message is not lost by a negated term
    ("-lunch folder:inbox", {"A2", "A4", "A5", "A6"}),
    ("report.pdf", set()),
]


@pytest.mark.parametrize("plan", ["drive", "walk"])
@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_operator(
    store: Store, text: str, expected: set[str], plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both query plans: driven by a rare term's hits, or walking rows newest first.
    monkeypatch.setattr(search_module, "_DRIVE_LIMIT", 1_000_000 if plan == "drive" else 0)
    where = await build(store)
    assert await found(store, where, text) == expected


async def test_after_relative_includes_the_day(store: Store) -> None:
    where = await build(store)
    # 2025-01-31 minus 13 days is the 18th: C10's day, inclusive.
    assert await found(store, where, "after:13d") == {"A5", "C10"}


async def test_results_are_newest_first_and_page_by_key(store: Store) -> None:
    await build(store)
    query = parse_query("is:read OR is:unread")
    everything = await search_messages(store, query, limit=100)
    dates = [row.internaldate for row in everything]
    assert dates == sorted(dates, reverse=True) and len(everything) == len(CORPUS)
    pages = []
    after = None
    while page := await search_messages(store, query, after=after, limit=3):
        pages.extend(page)
        after = SearchKey.of(page[-1])
    assert [(r.folder_id, r.uid) for r in pages] == [(r.folder_id, r.uid) for r in everything]


@pytest.mark.parametrize("drive_limit", [1_000_000, 0])
async def test_scope_to_folders(
    store: Store, drive_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_module, "_DRIVE_LIMIT", drive_limit)
    where = await build(store)
    inbox, archive = where["A1"][0], where["B1"][0]
    rows = await search_messages(store, parse_query("lunch"), folder_ids=[inbox])
    assert {(r.folder_id, r.uid) for r in rows} == {where["A1"], where["A3"]}
    rows = await search_messages(store, parse_query("lunch"), folder_ids=[inbox, archive])
    assert {(r.folder_id, r.uid) for r in rows} == {where["A1"], where["A3"], where["B1"]}
    rows = await search_messages(store, parse_query("is:read"), folder_ids=[inbox], limit=2)
    assert [(r.folder_id, r.uid) for r in rows] == [where["A5"], where["A2"]]


async def _check_index(store: Store) -> None:
    """The header index holds exactly one entry per message, and FTS5 finds it consistent."""
    keys = await store.fetch_all(
        "SELECT folder_id * 8589934592 + 4294967296 + uid FROM messages ORDER BY 1"
    )
    indexed = await store.fetch_all("SELECT rowid FROM search_headers ORDER BY 1")
    assert keys == indexed
    async with store.write() as unit:
        await unit.fetch_all(
            "INSERT INTO search_headers (search_headers, rank) VALUES ('integrity-check', 1)"
        )


async def test_index_follows_adds_flags_moves_and_expunges(store: Store) -> None:
    where = await build(store)
    inbox, archive = where["A1"][0], where["B1"][0]
    a1 = next(mail for mail in CORPUS if mail.name == "A1")
    # Flags: read elsewhere.
    async with store.write() as unit:
        await unit.set_flags(inbox, [(1, ("\\Seen",), None)])
    assert await found(store, where, "is:unread") == {"A4", "C10"}
    # Added: new mail.
    async with store.write() as unit:
        await unit.upsert_messages(
            inbox, [replace(record_of(a1), uid=7, message_id="<new@x>", subject="Ramen recipe")]
        )
    assert await found(store, where, "ramen") == {"A1", "A3", f"?{inbox}/7"}
    # Moved to Archive (expunged here, appears there with a new UID): the body comes back by
    # Message-ID and size, and is found without being indexed again.
    async with store.write() as unit:
        await unit.remove_messages(inbox, [1])
        await unit.upsert_messages(archive, [replace(record_of(a1), uid=2)])
    assert await index_pending_bodies(store) == 0
    where["A1"] = (archive, 2)
    assert await found(store, where, "body:ramen") == {"A1", "A3"}
    assert await found(store, where, "from:maria folder:archive") == {"A1"}
    # Expunged.
    async with store.write() as unit:
        await unit.remove_messages(inbox, [3])
    assert await found(store, where, "body:ramen") == {"A1"}
    # A subject rewritten by a resync.
    async with store.write() as unit:
        await unit.upsert_messages(archive, [replace(record_of(a1), uid=2, subject="Dinner")])
    assert await found(store, where, "subject:lunch") == set()
    assert await found(store, where, "subject:dinner") == {"A1"}
    await _check_index(store)


async def test_provisional_uid_and_folder_removal(store: Store) -> None:
    where = await build(store)
    inbox, archive = where["A1"][0], where["B1"][0]
    a4 = next(mail for mail in CORPUS if mail.name == "A4")
    async with store.write() as unit:
        [provisional] = await unit.provisional_uids(1)
        await unit.upsert_messages(archive, [replace(record_of(a4), uid=provisional)])
    rows = await search_messages(store, parse_query("uberweisung folder:archive"))
    assert [(r.folder_id, r.uid) for r in rows] == [(archive, provisional)]
    async with store.write() as unit:
        await unit.change_uid(archive, provisional, 77)
    rows = await search_messages(store, parse_query("uberweisung folder:archive"))
    assert [(r.folder_id, r.uid) for r in rows] == [(archive, 77)]
    async with store.write() as unit:
        await unit.delete_folder(inbox)
        await unit.reset_folder(archive, 999)
    assert await found(store, where, "is:read OR is:unread") == {"C10"}
    await _check_index(store)


async def test_bodies_indexed_once_and_pruned(store: Store) -> None:
    where = await build(store)
    assert await index_pending_bodies(store) == 0  # everything was indexed
    async with store.write() as unit:
        await unit.remove_messages(where["B1"][0], [1])
        assert await unit.prune_bodies() == 1
    assert await found(store, where, "body:budget") == {"A2"}
    # One forgotten document among six: below the rebuild threshold, then above a low one.
    assert not await compact_body_index(store)
    assert await compact_body_index(store, threshold=0.1)
    assert await found(store, where, "body:budget") == set()  # re-queued, not indexed yet
    assert await folders_needing_server(store, parse_query("budget"))
    while await index_pending_bodies(store):
        pass
    assert await found(store, where, "body:budget") == {"A2"}


async def test_folders_needing_server(store: Store) -> None:
    where = await build(store)
    inbox = where["A1"][0]
    # A5 has no body: a text query may match it on the server; flag queries never need it.
    assert await folders_needing_server(store, parse_query("lunch")) == [inbox]
    assert await folders_needing_server(store, parse_query("subject:lunch")) == []
    assert await folders_needing_server(store, parse_query("is:unread")) == []
    async with store.write() as unit:
        await unit.store_body(inbox, 5, raw_of(replace(CORPUS[4], body="x")))
    assert await folders_needing_server(store, parse_query("lunch")) == [inbox]  # not indexed
    await index_pending_bodies(store)
    assert await folders_needing_server(store, parse_query("lunch")) == []


async def test_dates_follow_the_zone(store: Store) -> None:
    where = await build(store)
    # A1 is at 12:00 UTC on the 10th: 01:00 on the 11th in UTC+13; A3 moves to the 12th.
    rows = await search_messages(
        store, parse_query("date:2025-01-10"), zone=timezone(timedelta(hours=13))
    )
    assert {(r.folder_id, r.uid) for r in rows} == set()
    rows = await search_messages(
        store, parse_query("date:2025-01-11"), zone=timezone(timedelta(hours=13))
    )
    assert {(r.folder_id, r.uid) for r in rows} == {where["A1"]}


async def test_random_queries_run_without_sql_errors(store: Store) -> None:
    """Hundreds of generated queries: each parses (or raises QueryError) and runs."""
    import random

    from sync.search import QueryError

    await build(store)
    pieces = [
        *[
            "abc",
            "xyz",
            "é",
            "3",
            "(",
            ")",
            "-",
            "*",
            '"',
            "'",
            ":",
            "@",
            ".",
            "^",
            "{",
            "}",
            ";",
            "%",
            "_",
            "\\",
        ],
        " ",
        " ",
        "OR",
        "NOT",
        "lunch",
        "from:",
        "to:",
        "subject:",
        "body:",
        "is:unread",
        "has:attachment",
        "before:2025-01-12",
        "folder:INBOX",
        "NEAR",
        "AND",
        "'",
    ]
    rng = random.Random(9)
    ran = 0
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        try:
            query = parse_query(text, today=TODAY)
        except QueryError:
            continue
        await search_messages(store, query, limit=5)
        ran += 1
    assert ran > 100


@pytest.mark.parametrize("raw", [b"", b"Subject: only headers\r\n\r\n", b"\r\n"])
async def test_an_empty_or_header_only_body_is_indexed_and_search_goes_on(
    store: Store, raw: bytes
) -> None:
    """A 0-byte message from the server once stopped every search (issue 16): SQLite's
    substr() of an empty blob is NULL."""
    where = await build(store)
    inbox = where["A5"][0]
    async with store.write() as unit:
        await unit.store_body(inbox, 5, raw)
    assert await index_pending_bodies(store) == 1
    assert await index_pending_bodies(store) == 0
    assert await found(store, where, "lunch") == {"A1", "A3", "B1"}
    assert await folders_needing_server(store, parse_query("lunch")) == []
