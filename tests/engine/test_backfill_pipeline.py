"""The overlapped first sync (fetcher and committer) keeps the crash guarantee at every commit.

With the engine's default sizes a test folder fits in one chunk, so here the synchronizer
runs with small ones (chunks of 300 UIDs, 64-row batches): a folder takes several chunks and
several commits per chunk, some of them carrying the progress mark. The sync is stopped at
each commit in turn, before it (rolled back) or right after it, while the fetcher is still
streaming; the committed state must then satisfy the marks' promise (every UID from
``synced_low_uid`` to ``synced_high_uid`` is stored), and a resumed sync must end equal to
the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sync.dovecot import MailUser
from sync.engine import account as account_module
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.folder_sync import FolderSynchronizer
from sync.store import Store
from tests.engine.crash_child import write_stopping_at
from tests.engine.helpers import config_for, server_state, store_state
from tests.rig.corpus import make_message, seed_maildir
from tests.rig.device import Device

MESSAGES = 700


class Stopped(Exception):
    """Raised at the chosen commit, as a kill would stop the process there."""


class SmallSteps(FolderSynchronizer):
    """The engine's synchronizer with small chunks and batches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs, first_batch=50, batch_size=64, chunk_size=300)


def _raise_stopped() -> None:
    raise Stopped


def stop_at(monkeypatch: pytest.MonkeyPatch, commit: int, *, before: bool) -> None:
    """Make the ``commit``-th unit of work fail before its COMMIT, or right after it."""
    write = write_stopping_at(commit, before=before, stop=_raise_stopped)
    monkeypatch.setattr(Store, "write", write)


async def promise_kept(store: Store) -> None:
    """Every folder's committed marks describe rows that are all there."""
    for folder in await store.folders():
        low, high = folder.marks.synced_low_uid, folder.marks.synced_high_uid
        uids = set(await store.folder_uids(folder.id))
        assert folder.total == len(uids)
        if low is not None and high is not None and low <= high:
            assert set(range(low, high + 1)) <= uids, (folder.name, low, high)


@pytest.fixture
def seeded(mail_user: MailUser, device: Device) -> Device:
    seed_maildir(
        mail_user.server, mail_user.username, "INBOX", (make_message(i) for i in range(MESSAGES))
    )
    return device


@pytest.mark.parametrize("before", [True, False], ids=["before-commit", "after-commit"])
async def test_stop_at_every_commit_then_resume(
    mail_user: MailUser,
    seeded: Device,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    before: bool,
) -> None:
    monkeypatch.setattr(account_module, "FolderSynchronizer", SmallSteps)
    expected = server_state(seeded, ["INBOX"])
    settings = SyncSettings(prefetch="none")
    commit = 0
    while True:
        commit += 1
        data_dir = tmp_path / f"{commit}"
        config = config_for(mail_user, data_dir)
        async with await Store.open(data_dir / "mailtui.sqlite3") as store:
            with monkeypatch.context() as patch:
                stop_at(patch, commit, before=before)
                try:
                    await AccountSync(config.accounts[0], store, settings).run_once()
                except Stopped:
                    pass
                else:
                    break  # the sync had fewer commits than this: every point was tried
            await promise_kept(store)
            await AccountSync(config.accounts[0], store, settings).run_once()
            await promise_kept(store)
            state = await store_state(store)
            assert state["INBOX"] == expected["INBOX"]
            inbox = await store.folder_by_name(1, "INBOX")
            assert inbox is not None and inbox.marks.synced_low_uid == 1
    assert commit > 15  # several chunks, several batches each: the pipeline was exercised
