"""Benchmark local operations: a burst of flag changes made here, until they are on the server.

Run: ``python benchmarks/bench_ops.py [--count 1000] [--reduced]``.

One user gets ``--count`` unread messages in INBOX (seeded straight into the Maildir) on a
private Dovecot (``--reduced``: without MOVE/UIDPLUS/CONDSTORE/QRESYNC), and is synced into a
fresh store. Then ``--count`` separate ``Operations.mark_read`` calls (one per message, as a
user pressing a key on each would make them; each is its own store transaction) are made:

- *offline*: queued with no connection, then replayed by ``Replayer.replay`` on one
  connection, with consecutive compatible flag changes batched into UID sets, and again
  without batching (one UID STORE per change) for comparison;
- *live*: made while ``run_live`` runs, timed from the first call until another device
  (stdlib imaplib) sees every message ``\\Seen`` on the server.

Printed: time to queue the burst, replay time, STORE commands sent, end-to-end live time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import imaplib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' corpus and rig

from sync.dovecot import DovecotServer, MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.imap import ImapClient
from sync.ops import Operations, Replayer
from sync.store import Store
from tests.engine.helpers import config_for
from tests.rig.corpus import make_message, seed_maildir


class _CountingClient:
    """The real client, counting UID STORE commands."""

    def __init__(self, client: ImapClient) -> None:
        self._client = client
        self.stores = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def uid_store(self, *args: Any, **kwargs: Any) -> Any:
        self.stores += 1
        return await self._client.uid_store(*args, **kwargs)


def _unseen(user: MailUser) -> int:
    conn = imaplib.IMAP4(user.server.host, user.server.imap_port)
    try:
        conn.login(user.username, user.password)
        _, data = conn.status("INBOX", "(UNSEEN)")
        text = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
        return int(text.rsplit("UNSEEN", 1)[1].strip(" )"))
    finally:
        conn.logout()


async def _fresh(
    server: DovecotServer, count: int, base: Path
) -> tuple[MailUser, Store, AccountSync]:
    user = server.add_user()
    seed_maildir(server, user.username, "INBOX", (make_message(i) for i in range(count)))
    data = Path(tempfile.mkdtemp(dir=base))
    store = await Store.open(data / "mailtui.sqlite3")
    config = config_for(user, data)
    sync = AccountSync(
        config.accounts[0],
        store,
        SyncSettings(prefetch="none"),
        operations=Replayer(store, config.accounts[0].name),
    )
    await sync.run_once()
    return user, store, sync


async def _burst(store: Store) -> float:
    inbox = next(f for f in await store.folders() if f.name == "INBOX")
    uids = list(await store.folder_uids(inbox.id))
    ops = Operations(store)
    start = time.perf_counter()
    for uid in uids:
        await ops.mark_read(inbox.id, [uid])
    return time.perf_counter() - start


async def _offline(server: DovecotServer, count: int, base: Path, batch: bool) -> None:
    user, store, sync = await _fresh(server, count, base)
    try:
        queued = await _burst(store)
        client, features = await sync.connect()
        counting = _CountingClient(client)
        replayer = Replayer(store, sync.account.name, batch_flags=batch)
        start = time.perf_counter()
        await replayer.replay(counting, features)  # type: ignore[arg-type]
        replayed = time.perf_counter() - start
        await client.logout()
        assert _unseen(user) == 0, "not every change reached the server"
        label = "batched" if batch else "one by one"
        print(
            f"  offline, {label:10}: queue {count} changes {queued:.2f} s"
            f" ({queued / count * 1e3:.2f} ms each); replay {replayed:.2f} s,"
            f" {counting.stores} UID STORE",
            flush=True,
        )
    finally:
        await store.close()


async def _live(server: DovecotServer, count: int, base: Path) -> None:
    user, store, sync = await _fresh(server, count, base)
    task = asyncio.create_task(sync.run_live())
    try:
        await asyncio.wait_for(sync.wait_live(), 30)
        start = time.perf_counter()
        queued = await _burst(store)
        while await asyncio.to_thread(_unseen, user) > 0:  # noqa: ASYNC110 - polls a server
            await asyncio.sleep(0.02)
        total = time.perf_counter() - start
        print(
            f"  live: {count} changes queued in {queued:.2f} s; all on the server after"
            f" {total:.2f} s",
            flush=True,
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()


async def _main(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="mailtui-bench-ops-"))
    await asyncio.to_thread(base.chmod, 0o755)  # Dovecot's mail user must traverse it
    server = DovecotServer.start(base / "dovecot", reduced=args.reduced)
    try:
        kind = "reduced" if args.reduced else "full"
        print(f"{args.count} flag changes (mark read), Dovecot {kind}", flush=True)
        await _offline(server, args.count, base, batch=True)
        await _offline(server, args.count, base, batch=False)
        await _live(server, args.count, base)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="flag changes in the burst")
    parser.add_argument("--reduced", action="store_true", help="the reduced-capability server")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
