"""Folder names as servers really spell them, against the "/" and the "." Dovecot.

Hierarchies nest by the server's own delimiter (RFC 3501 §5.1.1), names travel as modified
UTF-7 (§5.1.3) and as quoted strings or literals (§4.3), and a RENAME takes the children with
it (§6.3.5). Each test runs against both servers and checks the store against what another
device reads from the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.ops import Operations, OperationsError, Replayer
from sync.store import FolderRow, Store
from tests.engine.helpers import running_live, server_state, store_state
from tests.ops.helpers import engine
from tests.rig.corpus import make_message
from tests.rig.device import Device, encode_mailbox_name
from tests.waits import eventually
from tui.folder_order import folder_tree
from tui.protocol import FolderInfo


@pytest.fixture(params=["slash", "dot"])
def sep_user(request: pytest.FixtureRequest) -> MailUser:
    """A fresh user on the "/" server, then on the "." server."""
    name = "mail_user" if request.param == "slash" else "dot_user"
    user: MailUser = request.getfixturevalue(name)
    return user


@pytest.fixture
def other(sep_user: MailUser) -> Iterator[Device]:
    """'Another device' for ``sep_user``."""
    with Device.connect(sep_user) as device:
        yield device


def _sep(user: MailUser) -> str:
    return user.server.separator


async def _by_display(store: Store) -> dict[str, FolderRow]:
    return {folder.display_name: folder for folder in await store.folders()}


def _info(folder: FolderRow) -> FolderInfo:
    """The folder as the TUI gets it from the store (``tui.backend.store_backend``)."""
    return FolderInfo(
        id=folder.id,
        account_id=folder.account_id,
        name=folder.name,
        display_name=folder.display_name,
        delimiter=folder.delimiter,
        special_use=folder.special_use,
        unread=folder.unread,
        total=folder.total,
    )


async def _in_sync(store: Store, device: Device) -> bool:
    return await store_state(store) == server_state(device)


# ---------------------------------------------------------------------------------- nesting


async def test_nested_folders_keep_the_server_delimiter(
    sep_user: MailUser, other: Device, store: Store, data_dir: Path
) -> None:
    s = _sep(sep_user)
    assert other.delimiter == s
    nested = ["Projects", f"Projects{s}alpha", f"Projects{s}alpha{s}deep"]
    for index, name in enumerate(nested):
        other.create_folder(name)
        other.append(name, make_message(index, subject=f"in {name}"))
    # A child whose parent was never made: the parent is a level, not a folder.
    other.create_folder(f"Lists{s}python")
    other.append(f"Lists{s}python", make_message(9))

    await engine(sep_user, store, data_dir).run_once()

    assert await store_state(store) == server_state(other)
    rows = await _by_display(store)
    for name in [*nested, f"Lists{s}python"]:
        assert rows[name].delimiter == s, name
        assert rows[name].name == name  # plain ASCII: the server's spelling is the name
    # The parent level: \Noselect on LAYOUT=fs; \NonExistent on Maildir++ (RFC 5258 §3),
    # which the engine leaves out of the store.
    if "Lists" in rows:
        assert "\\noselect" in {a.lower() for a in rows["Lists"].attributes}
    # The folder pane nests by each folder's own delimiter: parents before their children.
    kept = [_info(f) for f in await store.folders() if f.syncable(show_all=False)]
    tree = [
        (entry.path, entry.folder.display_name if entry.folder else None)
        for entry in folder_tree(kept)
    ]
    assert tree[-5:] == [
        (("Lists",), None),  # \Noselect: a level, not a folder
        (("Lists", "python"), f"Lists{s}python"),
        (("Projects",), "Projects"),
        (("Projects", "alpha"), f"Projects{s}alpha"),
        (("Projects", "alpha", "deep"), f"Projects{s}alpha{s}deep"),
    ]


# ---------------------------------------------------------------------------- awkward names


def _awkward(s: str) -> list[str]:
    """Names that need modified UTF-7, quoting or escaping; on the "/" server also a "." in
    a name (Maildir++ refuses both "." and "/" in a name, so the "." server has no such)."""
    names = [
        "Entwürfe",
        "日本語",
        "Café & Co",
        "a&b",
        "two  spaces",
        'say "hi"',
        "back\\slash",
        "100% *sure*",
        f"Entwürfe{s}Ünter & Über",
    ]
    return [*names, "v1.2 notes"] if s == "/" else names


async def test_awkward_names_sync_and_take_local_changes(
    sep_user: MailUser, other: Device, store: Store, data_dir: Path
) -> None:
    names = _awkward(_sep(sep_user))
    for index, name in enumerate(names):
        other.create_folder(name)
        other.append(name, make_message(index, subject=f"in #{index}"))
        other.append("INBOX", make_message(100 + index, subject=f"for #{index}"))
    sync = engine(sep_user, store, data_dir)

    await sync.run_once()

    assert await store_state(store) == server_state(other)
    rows = await _by_display(store)
    for index, name in enumerate(names):
        assert name in rows, f"{name!r} not shown as such: {sorted(rows)}"
        assert rows[name].name == encode_mailbox_name(name)  # the server's spelling, kept
        assert [r.subject for r in await store.page(rows[name].id, limit=5, after=None)] == [
            f"in #{index}"
        ]

    # Local changes into and inside each of them reach the server.
    ops = Operations(store)
    inbox_rows = {
        row.subject: row.uid for row in await store.page(rows["INBOX"].id, limit=50, after=None)
    }
    for index, name in enumerate(names):
        await ops.move(rows["INBOX"].id, [inbox_rows[f"for #{index}"]], rows[name].id)
        [first] = [
            row.uid for row in await store.page(rows[name].id, limit=5, after=None) if row.uid > 0
        ]
        await ops.flag(rows[name].id, [first])
    await sync.run_once()

    assert await store.pending_operations(rows["INBOX"].account_id, include_failed=True) == []
    assert await store_state(store) == server_state(other)
    for index, name in enumerate(names):
        subjects = other.subjects(name)
        assert sorted(subjects.values()) == [f"for #{index}", f"in #{index}"], name
        flags = other.flags(name)
        [flagged] = [uid for uid, flag in flags.items() if "\\Flagged" in flag]
        assert subjects[flagged] == f"in #{index}"
    assert other.subjects("INBOX") == {}


async def test_live_changes_in_awkward_folders_are_heard(
    sep_user: MailUser, other: Device, store: Store, data_dir: Path
) -> None:
    names = _awkward(_sep(sep_user))[:8]
    for name in names:
        other.create_folder(name)
    sync = engine(sep_user, store, data_dir)
    async with running_live(sync):
        async with asyncio.timeout(10):
            await sync.wait_live()
        for index, name in enumerate(names):
            other.append(name, make_message(index, subject=f"live #{index}"))
        await eventually(lambda: _in_sync(store, other), within=10, what="new mail in every folder")


# ---------------------------------------------------------------------------------- renames


async def test_parent_renamed_elsewhere_takes_its_children(
    sep_user: MailUser, other: Device, store: Store, data_dir: Path
) -> None:
    """RFC 3501 §6.3.5: RENAME of a parent renames its inferiors too. The store follows with
    the same folder rows (same ids, same UIDVALIDITY), so nothing is downloaded again."""
    s = _sep(sep_user)
    old = ["Projects", f"Projects{s}alpha", f"Projects{s}alpha{s}deep"]
    new = ["Work 2026", f"Work 2026{s}alpha", f"Work 2026{s}alpha{s}deep"]
    for index, name in enumerate(old):
        other.create_folder(name)
        for n in range(2):
            other.append(name, make_message(10 * index + n, subject=f"{index}.{n}"))
    sync = engine(sep_user, store, data_dir)
    await sync.run_once()
    before = await _by_display(store)
    deep = before[old[2]]
    [first_uid, _] = await store.folder_uids(deep.id)
    async with store.write() as unit:  # a body the reader has opened
        await unit.store_body(deep.id, first_uid, other.fetch_raw(old[2], first_uid))

    other.rename_folder("Projects", "Work 2026")
    assert {*new} <= set(other.folders()) and not {*old} & set(other.folders())
    await sync.run_once()

    assert await store_state(store) == server_state(other)
    after = await _by_display(store)
    assert not {*old} & set(after), "the old names are gone"
    for was, now in zip(old, new, strict=True):
        assert after[now].id == before[was].id, f"{now} is {was}, renamed, not a new folder"
        assert after[now].name == now and after[now].delimiter == s
    assert await store.body(deep.id, first_uid) is not None  # kept, not fetched again


async def test_parent_renamed_elsewhere_while_live(
    sep_user: MailUser, other: Device, store: Store, data_dir: Path
) -> None:
    """The same rename heard live (NOTIFY MailboxName, RFC 5465 §5.4): children follow, and
    mail that arrives in a renamed child afterwards lands in the kept row."""
    s = _sep(sep_user)
    other.create_folder("Projects")
    other.create_folder(f"Projects{s}alpha")
    other.append(f"Projects{s}alpha", make_message(1, subject="before"))
    sync = engine(sep_user, store, data_dir)
    async with running_live(sync):
        async with asyncio.timeout(10):
            await sync.wait_live()
        child = (await _by_display(store))[f"Projects{s}alpha"]
        other.rename_folder("Projects", "Done")
        other.append(f"Done{s}alpha", make_message(2, subject="after"))

        async def renamed() -> bool:
            rows = await _by_display(store)
            return (
                "Projects" not in rows and f"Done{s}alpha" in rows and await _in_sync(store, other)
            )

        await eventually(renamed, within=10, what="the rename and the new mail")
    rows = await _by_display(store)
    assert rows[f"Done{s}alpha"].id == child.id
    # The device moved the parent's subscription only (Dovecot leaves the children's under
    # the old names): the engine carries the child's along, so it stays shown and synced.
    assert rows[f"Done{s}alpha"].subscribed
    assert f"Done{s}alpha" in other.subscribed()
    assert f"Projects{s}alpha" not in other.subscribed()


# ------------------------------------------------------------------- local folder operations


async def test_local_folder_operations_with_the_delimiter_in_names(
    sep_user: MailUser, other: Device, store: Store, data_dir: Path
) -> None:
    """Create a child, rename a child, rename its parent (the children go along, RFC 3501
    §6.3.5, here at once and on the server), delete a child: all through ``sync.ops``."""
    s = _sep(sep_user)
    other.create_folder("Projects")
    other.append("Projects", make_message(1, subject="parent mail"))
    other.append("INBOX", make_message(3, subject="inbox mail"))
    sync = engine(sep_user, store, data_dir)
    await sync.run_once()
    ops = Operations(store)
    account_id = (await store.accounts())[0].id

    await ops.create_folder(account_id, f"Projects{s}alpha")
    await ops.create_folder(account_id, f"Projects{s}Entwürfe")
    await ops.create_folder(account_id, f"Projects{s}alpha{s}deep")
    rows = await _by_display(store)
    assert rows[f"Projects{s}alpha{s}deep"].delimiter == s
    await ops.append(rows[f"Projects{s}alpha{s}deep"].id, make_message(2, subject="deep mail"))
    await sync.run_once()
    assert {f"Projects{s}alpha", f"Projects{s}Entwürfe", f"Projects{s}alpha{s}deep"} <= set(
        other.subscribed()
    )
    assert await store_state(store) == server_state(other)

    with pytest.raises(OperationsError, match="exists already"):
        await ops.rename_folder(rows["Projects"].id, f"Projects{s}alpha")
    with pytest.raises(OperationsError, match="INBOX"):  # RFC 3501 §6.3.5: a move, really
        await ops.rename_folder(rows["INBOX"].id, "Old mail")

    # Queued before the parent's rename, into a child: it goes out under the old name.
    [parent_mail] = await store.folder_uids(rows["Projects"].id)
    await ops.move(rows["Projects"].id, [parent_mail], rows[f"Projects{s}alpha"].id)
    await ops.rename_folder(rows[f"Projects{s}Entwürfe"].id, f"Projects{s}Drafts 2")
    await ops.rename_folder(rows["Projects"].id, "Done")
    # Queued after it, into a child: under the new name.
    [inbox_mail] = await store.folder_uids(rows["INBOX"].id)
    await ops.move(rows["INBOX"].id, [inbox_mail], rows[f"Projects{s}alpha"].id)
    # Optimistic: the children carry the new name at once, with their messages.
    shown = await _by_display(store)
    assert {"Done", f"Done{s}alpha", f"Done{s}alpha{s}deep", f"Done{s}Drafts 2"} <= set(shown)
    assert not any(name.startswith("Projects") for name in shown)
    deep = shown[f"Done{s}alpha{s}deep"]
    assert deep.id == rows[f"Projects{s}alpha{s}deep"].id
    # Each queued name must be right the first time: no detour through a refreshed folder list
    # (which would rename rows back and forth under the user's eyes).
    replayer = sync.operations
    assert isinstance(replayer, Replayer)
    replayer.refresh_folders = None
    await sync.run_once()

    folders = set(other.folders())
    assert {"Done", f"Done{s}alpha", f"Done{s}alpha{s}deep", f"Done{s}Drafts 2"} <= folders
    assert not any(name.startswith("Projects") for name in folders)
    subscribed = set(other.subscribed())
    assert {"Done", f"Done{s}alpha", f"Done{s}alpha{s}deep", f"Done{s}Drafts 2"} <= subscribed
    assert not any(name.startswith("Projects") for name in subscribed)
    assert list(other.subjects(f"Done{s}alpha{s}deep").values()) == ["deep mail"]
    assert sorted(other.subjects(f"Done{s}alpha").values()) == ["inbox mail", "parent mail"]
    assert other.subjects("Done") == {} and other.subjects("INBOX") == {}
    assert await store_state(store) == server_state(other)
    after = await _by_display(store)
    assert after[f"Done{s}alpha{s}deep"].id == deep.id and after[f"Done{s}alpha"].subscribed

    await ops.delete_folder(after[f"Done{s}Drafts 2"].id)
    await sync.run_once()
    assert f"Done{s}Drafts 2" not in other.folders()
    assert await store_state(store) == server_state(other)
    assert await store.pending_operations(account_id, include_failed=True) == []


async def test_refused_parent_rename_puts_the_children_back(
    sep_user: MailUser, other: Device, store: Store, data_dir: Path
) -> None:
    s = _sep(sep_user)
    other.create_folder("Projects")
    other.create_folder(f"Projects{s}alpha")
    other.append(f"Projects{s}alpha", make_message(1))
    sync = engine(sep_user, store, data_dir)
    await sync.run_once()
    rows = await _by_display(store)

    await Operations(store).rename_folder(rows["Projects"].id, "~refused")  # "Begins with '~'"
    assert f"~refused{s}alpha" in await _by_display(store)
    client, features = await sync.connect()
    try:
        assert sync.operations is not None
        await sync.operations.replay(client, features)  # the replay alone, no folder list
    finally:
        await client.logout()

    after = await _by_display(store)
    assert after[f"Projects{s}alpha"].id == rows[f"Projects{s}alpha"].id
    assert not any(name.startswith("~") for name in after)
    assert await store_state(store) == server_state(other)
    [failed] = await store.pending_operations(rows["Projects"].account_id, include_failed=True)
    assert failed.failed and failed.kind == "rename_folder"
