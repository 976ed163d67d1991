"""JWZ threading: broken and partial References, loops, duplicates, the subject fallback,
a realistic corpus, and the thread cache in the store."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.sample_mail import make_message
from sync.search import Threaded, ThreadInput, build_threads, message_ids
from sync.store import Store
from sync.store.search import _ensure_threads, thread_page, thread_rows
from tests.store.helpers import make_folder, record


def msg(
    uid: int,
    mid: str | None,
    refs: str | None = None,
    irt: str | None = None,
    subject: str = "s",
    date: int | None = None,
) -> ThreadInput:
    return ThreadInput(uid, mid, irt, refs, subject, uid * 10 if date is None else date)


def shape(rows: list[Threaded]) -> list[list[tuple[int, int]]]:
    """Threads as lists of (uid, depth), in display order."""
    threads: list[list[tuple[int, int]]] = []
    current: tuple[int, int] | None = None
    for row in rows:
        if (row.thread_sort, row.thread_id) != current:
            threads.append([])
            current = (row.thread_sort, row.thread_id)
        threads[-1].append((row.uid, row.depth))
    return threads


def test_message_ids() -> None:
    assert message_ids("<a@b> <c@d>") == ["a@b", "c@d"]
    assert message_ids("junk <a@b> (comment) more") == ["a@b"]
    assert message_ids("bare@id") == ["bare@id"]
    assert message_ids("two words") == []
    assert message_ids(None) == message_ids("") == []


def test_chain_with_full_and_partial_references() -> None:
    rows = build_threads(
        [
            msg(1, "<a>"),
            msg(2, "<b>", refs="<a>", irt="<a>"),
            msg(3, "<c>", refs="<a> <b>"),
            msg(4, "<d>", refs="<b>"),  # References cut short: still under b
            msg(5, "<e>", irt="<a>"),  # In-Reply-To only
            msg(6, "<f>", refs="<a>", irt="<c>"),  # References lost the middle: irt wins
        ]
    )
    assert shape(rows) == [[(1, 0), (2, 1), (3, 2), (6, 3), (4, 2), (5, 1)]]
    assert {row.size for row in rows} == {6}
    assert {row.thread_id for row in rows} == {1}
    assert {row.thread_sort for row in rows} == {60}
    assert [row.position for row in rows] == [0, 1, 2, 3, 4, 5]


def test_missing_parent_holds_siblings_together() -> None:
    rows = build_threads(
        [msg(1, "<b>", refs="<gone>"), msg(2, "<c>", refs="<gone>"), msg(3, "<z>")]
    )
    assert shape(rows) == [[(3, 0)], [(1, 0), (2, 0)]]
    # A missing grandparent with one line of descent does not add a level.
    rows = build_threads([msg(1, "<b>", refs="<gone1> <gone2>"), msg(2, "<c>", refs="<b>")])
    assert shape(rows) == [[(1, 0), (2, 1)]]


def test_loops_self_references_and_duplicates() -> None:
    rows = build_threads(
        [
            msg(1, "<x>", refs="<y>"),
            msg(2, "<y>", refs="<x>"),  # would close a loop: not linked
            msg(3, "<s>", refs="<s>"),  # refers to itself
            msg(4, "<dup>"),
            msg(5, "<dup>"),  # same Message-ID again
            msg(6, None, refs="<dup>"),  # no Message-ID at all
        ]
    )
    uids = sorted(row.uid for row in rows)
    assert uids == [1, 2, 3, 4, 5, 6]
    threads = shape(rows)
    assert [(2, 0), (1, 1)] in threads or [(1, 0), (2, 1)] in threads
    assert [(3, 0)] in threads
    assert [(4, 0), (6, 1)] in threads and [(5, 0)] in threads


def test_subject_fallback_only_without_references() -> None:
    rows = build_threads(
        [
            msg(1, "<o>", subject="Lunch"),
            msg(2, "<r>", subject="Re: Lunch"),  # no references: joins by subject
            msg(3, "<q>", subject="RE: AW: lunch", refs="<elsewhere>"),  # has refs: stays
            msg(4, "<w1>", subject="Weekly digest"),
            msg(5, "<w2>", subject="Weekly digest"),  # same subject, not a reply: separate
            msg(6, "<early>", subject="Re: Later", date=1),  # reply older than the original
            msg(7, "<later>", subject="Later", date=100),
        ]
    )
    threads = shape(rows)
    assert [(1, 0), (2, 1)] in threads
    assert [(3, 0)] in threads
    assert [(4, 0)] in threads and [(5, 0)] in threads
    assert [(6, 0)] in threads and [(7, 0)] in threads


def test_threads_newest_first_siblings_oldest_first() -> None:
    rows = build_threads(
        [
            msg(1, "<a>", date=100),
            msg(2, "<b>", date=50),
            msg(3, "<a2>", refs="<a>", date=300),
            msg(4, "<a1>", refs="<a>", date=200),
            msg(5, "<c>", date=250),
        ]
    )
    assert shape(rows) == [[(1, 0), (4, 1), (3, 1)], [(5, 0)], [(2, 0)]]


def test_deep_chain_has_no_recursion_limit() -> None:
    chain = [msg(1, "<m1>")] + [msg(i, f"<m{i}>", irt=f"<m{i - 1}>") for i in range(2, 5001)]
    rows = build_threads(chain)
    assert [row.depth for row in rows] == list(range(5000))


_IDS = st.sampled_from(["<a>", "<b>", "<c>", "<d>", "<e>", None])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(_IDS, st.lists(_IDS, max_size=4), _IDS, st.sampled_from(["x", "Re: x", "y"])),
        max_size=15,
    )
)
def test_every_message_once_whatever_the_links(
    specs: list[tuple[str | None, list[str | None], str | None, str]],
) -> None:
    messages = [
        msg(uid, mid, " ".join(r for r in refs if r), irt, subject)
        for uid, (mid, refs, irt, subject) in enumerate(specs, start=1)
    ]
    rows = build_threads(messages)
    assert sorted(row.uid for row in rows) == list(range(1, len(specs) + 1))
    for thread in shape(rows):
        assert thread[0][1] == 0
        # Depth grows by at most one from a row to the next (a valid depth-first order).
        assert all(b[1] <= a[1] + 1 for a, b in itertools.pairwise(thread))


def test_sample_corpus_replies_sit_under_their_parents() -> None:
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    inputs = []
    for index in range(400):
        headers = parser.parsebytes(make_message(index))
        inputs.append(
            msg(
                index + 1,
                headers["Message-ID"],
                headers["References"],
                headers["In-Reply-To"],
                str(headers["Subject"]),
            )
        )
    rows = build_threads(inputs)
    parent_of: dict[int, int | None] = {}
    stack: list[tuple[int, int]] = []  # (uid, depth) ancestors of the current row
    for row in rows:
        while stack and stack[-1][1] >= row.depth:
            stack.pop()
        parent_of[row.uid] = stack[-1][0] if stack else None
        stack.append((row.uid, row.depth))
    by_id = {m.message_id: m.uid for m in inputs}
    replies = 0
    for m in inputs:
        if m.in_reply_to:
            replies += 1
            assert parent_of[m.uid] == by_id[m.in_reply_to]
    assert replies > 50


async def test_thread_cache_is_built_once_and_follows_changes(store: Store) -> None:
    folder = await make_folder(store)
    base = [
        record(1, message_id="<r@x>", subject="Root"),
        record(2, message_id="<c@x>", in_reply_to="<r@x>", references="<r@x>", subject="Re: Root"),
        record(3, message_id="<o@x>", subject="Other"),
    ]
    async with store.write() as unit:
        await unit.upsert_messages(folder, base)
    page = await thread_page(store, folder)
    assert [(r.message.uid, r.depth, r.thread_size) for r in page] == [
        (3, 0, 1),
        (1, 0, 2),
        (2, 1, 2),
    ]
    assert not await _ensure_threads(store, folder)  # warm: nothing to rebuild
    async with store.write() as unit:  # flags do not touch threads
        await unit.set_flags(folder, [(1, ("\\Seen",), None)])
    assert not await _ensure_threads(store, folder)
    # A late reply arrives: the cache is rebuilt on the next read, and the thread moves up.
    async with store.write() as unit:
        await unit.upsert_messages(
            folder,
            [record(4, message_id="<d@x>", in_reply_to="<c@x>", references="<r@x> <c@x>")],
        )
    collapsed = await thread_page(store, folder, collapsed=True)
    assert [(r.message.uid, r.thread_size) for r in collapsed] == [(1, 3), (3, 1)]
    assert collapsed[0].message.seen
    expanded = await thread_rows(store, collapsed[0])
    assert [(r.message.uid, r.depth) for r in expanded] == [(1, 0), (2, 1), (4, 2)]
    # Paging by key gives the same rows as one read.
    whole = await thread_page(store, folder)
    paged = []
    after = None
    while chunk := await thread_page(store, folder, after=after, limit=1):
        paged.extend(chunk)
        after = chunk[-1].key
    assert [r.message.uid for r in paged] == [r.message.uid for r in whole]
    # Expunged: the reply's child moves up to the root.
    async with store.write() as unit:
        await unit.remove_messages(folder, [2])
    rows = await thread_page(store, folder)
    assert [(r.message.uid, r.depth) for r in rows] == [(1, 0), (4, 1), (3, 0)]
    # A re-threading change (References rewritten) bumps the generation too.
    async with store.write() as unit:
        await unit.upsert_messages(
            folder, [replace(record(4, message_id="<d@x>"), references=None)]
        )
    rows = await thread_page(store, folder)
    assert [(r.message.uid, r.depth) for r in rows] == [(4, 0), (3, 0), (1, 0)]


async def test_deleting_a_folder_drops_its_cache(store: Store) -> None:
    folder = await make_folder(store)
    async with store.write() as unit:
        await unit.upsert_messages(folder, [record(1), record(2)])
    assert len(await thread_page(store, folder)) == 2
    async with store.write() as unit:
        await unit.delete_folder(folder)
    assert await store.fetch_all("SELECT * FROM search_threads") == []
    assert await store.fetch_all("SELECT * FROM search_thread_state") == []
