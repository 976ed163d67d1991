"""One account's sync: connections, folder discovery, live watching, reconnects.

Connections (a small pool per account):
- the *worker* runs every command that changes or reads mailbox state: folder list, folder
  reconciliation (``FolderSynchronizer``), and (with ``sync.ops``) queued local operations;
- the *watcher* only listens: with NOTIFY (RFC 5465) it hears about every folder of the
  account through STATUS and LIST responses while it IDLEs; without NOTIFY it IDLEs on INBOX
  (RFC 2177) and a poll (LIST + reconciliation, every ``poll_interval``) covers the rest;
- without NOTIFY, a third connection IDLEs on the folder the UI shows when that is not INBOX;
- without IDLE too (plain IMAP4rev1), nothing listens: the worker alone polls, the folder the
  UI shows every ``viewed_poll_interval``, everything every ``poll_interval``. No command the
  server did not advertise is sent (RFC 3501 §6.1.1: the client goes by CAPABILITY).

IDLE is renewed every 25 minutes, before the 29 minutes after which RFC 2177 §3 lets servers
drop an idle client. Any dropped connection ends the session; ``run_live`` reconnects with
exponential backoff and jitter and tells the UI through ``ConnectionStateChanged``. The backoff
starts over only after a session stayed up ``healthy_after`` seconds, and ``LoginRate`` caps
logins per minute whatever happens: a server that drops us right after every login must not
see us log in once a second (providers lock such accounts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from sync.backoff import LoginRate, jittered_backoff
from sync.config import AccountConfig, Config
from sync.credentials import CredentialError, resolve_secret
from sync.engine.bodies import BodyPrefetcher, Prefetch
from sync.engine.events import ConnectionPhase, ConnectionStateChanged, EngineEvent
from sync.engine.folder_sync import FolderSynchronizer
from sync.events import EventBus, Subscription
from sync.imap import (
    Disconnected,
    Exists,
    Expunge,
    FetchResult,
    ImapClient,
    ImapCommandError,
    ImapDisconnected,
    ImapError,
    ImapSecurityError,
    ListEntry,
    MailboxStatus,
    ServerFeatures,
    Unsolicited,
    Vanished,
    decode_mailbox,
)
from sync.store import FolderRow, Store
from sync.store.events import ExternalChange, OperationsChanged
from sync.store.search import index_pending_headers

__all__ = [
    "AccountFatalError",
    "AccountSync",
    "SyncSettings",
    "authenticate",
    "guess_special_use",
    "is_syncable",
]

log = logging.getLogger(__name__)

_FOLDER_LIST = -1  # a job meaning "refresh the folder list" in the worker's queue
_REPLAY = -2  # a job meaning "replay the queue of local operations"
_NOTIFY_SPEC = "(PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))"

# Servers without SPECIAL-USE (RFC 6154): the names clients have long agreed on.
_SPECIAL_BY_NAME = {
    "sent": "\\Sent",
    "sent items": "\\Sent",
    "sent messages": "\\Sent",
    "sent mail": "\\Sent",
    "drafts": "\\Drafts",
    "draft": "\\Drafts",
    "trash": "\\Trash",
    "deleted items": "\\Trash",
    "deleted messages": "\\Trash",
    "junk": "\\Junk",
    "spam": "\\Junk",
    "junk e-mail": "\\Junk",
    "archive": "\\Archive",
    "archives": "\\Archive",
}
_SPECIAL_USES = (
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Important",  # RFC 8457
    "\\Junk",
    "\\Sent",
    "\\Trash",
)
_SPECIAL_ORDER = ("\\Drafts", "\\Sent", "\\Archive", "\\Junk", "\\Trash", "\\Flagged", "\\All")


class OperationReplayer(Protocol):
    """What the engine needs from the local-operations queue (``sync.ops``)."""

    async def replay(self, client: ImapClient, features: ServerFeatures) -> float | None:
        """Apply every pending operation of the account to the server, in order; return the
        seconds until an operation held back by a temporary failure is due (else None)."""


class OutboxSending(Protocol):
    """What the engine needs from the outbox (``sync.outbox.OutboxSender``)."""

    async def send_due(self, *, ignore_backoff: bool = False) -> float | None:
        """Send every due outgoing message; return the seconds until the next is due."""


class AccountFatalError(Exception):
    """A failure that retrying cannot fix: refused login, bad certificate, no secret."""


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """How the engine behaves; built from the config (``from_config``) or by tests."""

    poll_interval: float = 60.0
    # Without IDLE: how often the folder on screen is polled (the rest waits poll_interval).
    viewed_poll_interval: float = 15.0
    show_all_folders: bool = False
    # \All, \Flagged and \Important folders hold copies of mail kept elsewhere (RFC 6154,
    # RFC 8457; Gmail's All Mail, Starred, Important): skipped unless asked for.
    sync_virtual_folders: bool = False
    idle_renew: float = 25 * 60.0
    timeout: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    # A session that stayed up this long was healthy: the next drop starts the backoff over.
    healthy_after: float = 60.0
    # The most logins in any minute, whatever the backoff says.
    logins_per_minute: int = 6
    # Extensions to leave unused even when offered (benchmarks and fallback tests).
    disabled_extensions: frozenset[str] = frozenset()
    prefetch: Prefetch = "recent"

    @classmethod
    def from_config(cls, config: Config) -> SyncSettings:
        """The settings a config file asks for."""
        return cls(
            poll_interval=config.poll_interval,
            viewed_poll_interval=config.viewed_poll_interval,
            show_all_folders=config.show_all_folders,
            sync_virtual_folders=config.sync_virtual_folders,
            prefetch=config.prefetch,
        )


def guess_special_use(entry: ListEntry) -> str | None:
    """The entry's special use: from SPECIAL-USE attributes, else from well-known names."""
    if entry.special_use:
        return _canonical_special_use(entry.special_use)
    for attribute in entry.attributes:
        canonical = _canonical_special_use(attribute)
        if canonical is not None:
            return canonical
    leaf = entry.name.rsplit(entry.delimiter, 1)[-1] if entry.delimiter else entry.name
    return _SPECIAL_BY_NAME.get(leaf.lower())


def _canonical_special_use(attribute: str) -> str | None:
    # Cyrus sends special-use flags in lower case (shared/NOTES.md).
    for name in _SPECIAL_USES:
        if attribute.lower() == name.lower():
            return name
    return None


def is_syncable(folder: FolderRow, settings: SyncSettings) -> bool:
    """Whether the engine keeps this folder (``FolderRow.syncable``)."""
    return folder.syncable(
        show_all=settings.show_all_folders, virtual=settings.sync_virtual_folders
    )


def sync_order(folders: Iterable[FolderRow]) -> list[FolderRow]:
    """INBOX first, then special-use folders, then the rest by name."""

    def key(folder: FolderRow) -> tuple[int, int, str]:
        if folder.name.upper() == "INBOX":
            return (0, 0, "")
        if folder.special_use in _SPECIAL_ORDER:
            return (1, _SPECIAL_ORDER.index(folder.special_use), folder.name)
        return (2, 0, folder.display_name.lower())

    return sorted(folders, key=key)


async def open_connection(account: AccountConfig, step_limit: float) -> ImapClient:
    """Connect to the account's IMAP server with its TLS settings (security, CA file, pinned
    fingerprint); not logged in yet. ``step_limit`` bounds each network step, in seconds."""
    return await ImapClient.connect(
        account.imap_host,
        account.imap_port,
        security=account.imap_security,
        ca_file=account.ca_file,
        fingerprint=account.fingerprint,
        timeout=step_limit,
    )


async def authenticate(client: ImapClient, account: AccountConfig, secret: str) -> None:
    """Log in the way the server and the account allow: OAUTHBEARER or XOAUTH2 for an OAuth2
    token; AUTHENTICATE PLAIN (one round trip with SASL-IR, RFC 4959) where offered; else
    LOGIN. Raises ``ImapCommandError`` when the server refuses."""
    caps = client.capabilities
    if account.password_source.is_oauth2:
        if "AUTH=OAUTHBEARER" in caps:
            await client.authenticate_oauthbearer(account.username, secret)
        else:
            await client.authenticate_xoauth2(account.username, secret)
    elif "AUTH=PLAIN" in caps:
        await client.authenticate_plain(account.username, secret)
    else:
        await client.login(account.username, secret)


class AccountSync:
    """Keeps one account's folders in the store mirrored with its server."""

    def __init__(
        self,
        account: AccountConfig,
        store: Store,
        settings: SyncSettings | None = None,
        *,
        events: EventBus[EngineEvent] | None = None,
        secret: Callable[[], Awaitable[str]] | None = None,
        operations: OperationReplayer | None = None,
        outbox: OutboxSending | None = None,
    ) -> None:
        self.account = account
        self.operations = operations
        self.outbox = outbox
        self.store = store
        self.settings = settings or SyncSettings()
        self.events: EventBus[EngineEvent] = events or EventBus()
        self.phase = ConnectionPhase.STOPPED
        self._secret_source = secret
        self._secret: str | None = None
        self._account_id: int | None = None
        self._jobs: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()
        self._viewed: int | None = None
        self._viewed_changed = asyncio.Event()
        self._completed_pass = False
        self._online_since: float | None = None  # loop time the current session went online
        self._logins = LoginRate(self.settings.logins_per_minute, 60.0)
        self._pass_done = asyncio.Event()
        self._watching = asyncio.Event()
        # Set while the viewed folder's own IDLE listens (servers without NOTIFY).
        self._watching_viewed = asyncio.Event()
        self._replay_due: float | None = None

    # -- state -------------------------------------------------------------------------------

    def _publish(self, event: EngineEvent) -> None:
        self.events.publish(event)

    def _set_phase(
        self, phase: ConnectionPhase, detail: str = "", retry_in: float | None = None
    ) -> None:
        self.phase = phase
        self._publish(ConnectionStateChanged(self.account.name, phase, detail, retry_in))

    async def account_id(self) -> int:
        """This account's id in the store (created on first use)."""
        if self._account_id is None:
            async with self.store.write() as unit:
                self._account_id = await unit.ensure_account(self.account.name, self.account.email)
        return self._account_id

    def request_sync(self, folder_id: int) -> None:
        """Queue a folder for reconciliation by the worker (deduplicated)."""
        if folder_id not in self._queued:
            self._queued.add(folder_id)
            self._jobs.put_nowait(folder_id)

    def request_folder_list(self) -> None:
        """Queue a refresh of the folder list."""
        self.request_sync(_FOLDER_LIST)

    def watch(self, folder_id: int | None) -> None:
        """Tell the engine which folder the user looks at (it IDLEs there without NOTIFY)."""
        if folder_id != self._viewed:
            self._viewed = folder_id
            self._watching_viewed.clear()
            self._viewed_changed.set()

    # -- connections -------------------------------------------------------------------------

    async def _get_secret(self) -> str:
        if self._secret is None:
            if self._secret_source is not None:
                self._secret = await self._secret_source()
            else:
                try:
                    self._secret = await resolve_secret(self.account.password_source)
                except CredentialError as exc:
                    raise AccountFatalError(str(exc)) from None
        return self._secret

    async def connect(self) -> tuple[ImapClient, ServerFeatures]:
        """Open, authenticate and enable one connection; return it with the server's features.

        Raises ``AccountFatalError`` for what retrying cannot fix and ``ImapError``/``OSError``
        for what it may.
        """
        account = self.account
        if (wait := self._logins.wait_needed()) > 0:
            log.info(
                "%s: %d logins in the last minute; waiting %.0f s",
                account.name,
                self._logins.limit,
                wait,
            )
            await asyncio.sleep(wait)
        try:
            client = await open_connection(account, self.settings.timeout)
        except ImapSecurityError as exc:
            raise AccountFatalError(
                f"secure connection to {account.imap_host} failed: {exc}"
            ) from None
        try:
            secret = await self._get_secret()
            self._logins.record()
            try:
                await authenticate(client, account, secret)
            except ImapCommandError as exc:
                # A refused login is the user's to fix; hammering the server would lock the
                # account on many providers.
                raise AccountFatalError(
                    f"the server refused the login for {account.username}: {exc.text}"
                ) from None
            except ImapSecurityError as exc:
                raise AccountFatalError(str(exc)) from None
            disabled = self.settings.disabled_extensions
            offered = frozenset(c for c in client.capabilities if c not in disabled)
            enabled: frozenset[str] = frozenset()
            if "QRESYNC" in offered:
                with contextlib.suppress(ImapCommandError):
                    enabled = await client.enable("QRESYNC")
            features = ServerFeatures.from_capabilities(offered, enabled)
        except BaseException:
            await client.close()
            raise
        return client, features

    # -- one pass ----------------------------------------------------------------------------

    async def sync_folder_list(self, client: ImapClient, features: ServerFeatures) -> None:
        """Mirror the server's folder list: new, renamed, deleted folders and subscriptions.

        Without OBJECTID (RFC 8474) a rename cannot be told from delete + create, except that
        servers keep UIDVALIDITY across RENAME (RFC 3501 §6.3.5): a vanished folder whose
        UIDVALIDITY reappears under a new name was renamed, and keeps its messages.
        """
        account_id = await self.account_id()
        status_items = ("UIDVALIDITY",) if features.list_status else ()
        entries = [
            entry
            for entry in await client.list_mailboxes(
                "*", special_use=features.special_use, status_items=status_items
            )
            if "\\nonexistent" not in {a.lower() for a in entry.attributes}
        ]
        known = {folder.name: folder for folder in await self.store.folders(account_id)}
        on_server = {entry.raw_name: entry for entry in entries}
        gone = [folder for name, folder in known.items() if name not in on_server]
        fresh = [entry for name, entry in on_server.items() if name not in known]
        renamed: dict[int, ListEntry] = {}
        if gone and fresh:
            by_validity = {f.marks.uidvalidity: f for f in gone if f.marks.uidvalidity}
            for entry in fresh:
                validity = entry.status.uidvalidity if entry.status is not None else None
                if validity is None and entry.selectable:
                    validity = (await client.status(entry.name, ["UIDVALIDITY"])).uidvalidity
                folder = by_validity.pop(validity, None) if validity else None
                if folder is not None:
                    renamed[folder.id] = entry
        subscribed_now = await self._carry_subscriptions(client, known, renamed)
        async with self.store.write() as unit:
            for folder_id, entry in renamed.items():
                await unit.rename_folder(folder_id, entry.raw_name, entry.name)
            for folder in gone:
                if folder.id not in renamed:
                    await unit.delete_folder(folder.id)
            for entry in entries:
                lowered = {attribute.lower() for attribute in entry.attributes}
                await unit.upsert_folder(
                    account_id,
                    entry.raw_name,
                    display_name=entry.name,
                    delimiter=entry.delimiter,
                    special_use=guess_special_use(entry),
                    attributes=tuple(sorted(entry.attributes)),
                    subscribed="\\subscribed" in lowered
                    or entry.name.upper() == "INBOX"
                    or entry.raw_name in subscribed_now,
                )

    async def _carry_subscriptions(
        self, client: ImapClient, known: dict[str, FolderRow], renamed: dict[int, ListEntry]
    ) -> set[str]:
        """Subscribe the new names of subscribed folders renamed elsewhere; return them.

        A RENAME moves a parent's children (RFC 3501 §6.3.5) but servers keep subscriptions
        by name (§6.3.6): another client that moved the parent's subscription leaves the
        children's under the old names, and an unsubscribed child would vanish from the
        folder pane and stop syncing. The old names' subscriptions are dropped with them.
        """
        by_id = {folder.id: folder for folder in known.values()}
        carried: set[str] = set()
        for folder_id, entry in renamed.items():
            folder = by_id[folder_id]
            lowered = {attribute.lower() for attribute in entry.attributes}
            if not folder.subscribed or "\\subscribed" in lowered:
                continue
            try:
                await client.subscribe(entry.name)
            except ImapCommandError as exc:
                log.info("%s: could not subscribe %s: %s", self.account.name, entry.name, exc)
                continue
            with contextlib.suppress(ImapCommandError):
                await client.unsubscribe(decode_mailbox(folder.name))
            carried.add(entry.raw_name)
        return carried

    async def syncable_folders(self) -> list[FolderRow]:
        """The folders the engine keeps, in sync order."""
        folders = await self.store.folders(await self.account_id())
        return sync_order(f for f in folders if is_syncable(f, self.settings))

    async def sync_all(
        self, client: ImapClient, features: ServerFeatures, *, announce_new: bool = False
    ) -> None:
        """One full pass: local operations first (RFC 4549 §4: the client's changes go up
        before the server's come down), then the folder list, then every kept folder."""
        if self.operations is not None:
            self._replay_due = await self.operations.replay(client, features)
        await self.sync_folder_list(client, features)
        await self._forget_unsynced_views()
        synchronizer = FolderSynchronizer(
            client, self.store, features, account=self.account.name, publish=self._publish
        )
        for folder in await self.syncable_folders():
            if self.operations is not None:
                # A change made during a long pass goes out between folders, not after all.
                self._replay_due = await self.operations.replay(client, features)
            await self._sync_one(synchronizer, folder, announce_new=announce_new)

    async def _forget_unsynced_views(self) -> None:
        """Drop the rows an archive moved into a view this engine does not sync (Gmail's
        All Mail): kept until the next session so that the archive can be undone, they would
        only go stale after it. The server keeps the messages; provisional rows (not yet on
        the server) stay for their operation."""
        for folder in await self.store.folders(await self.account_id()):
            if not folder.virtual or is_syncable(folder, self.settings) or not folder.total:
                continue
            confirmed = [uid for uid in await self.store.folder_uids(folder.id) if uid > 0]
            if confirmed:
                async with self.store.write() as unit:
                    await unit.remove_messages(folder.id, confirmed)

    async def _sync_one(
        self, synchronizer: FolderSynchronizer, folder: FolderRow, *, announce_new: bool
    ) -> None:
        try:
            await synchronizer.sync(folder, announce_new=announce_new)
        except ImapCommandError as exc:
            # Deleted or renamed elsewhere between LIST and SELECT: the folder list will
            # catch up; the session goes on.
            log.info("%s: could not sync %s: %s", self.account.name, folder.name, exc)
            self.request_folder_list()

    async def run_once(self) -> None:
        """Connect, sync every kept folder once, disconnect. Raises on any failure."""
        self._set_phase(ConnectionPhase.CONNECTING, f"{self.account.imap_host}")
        try:
            client, features = await self.connect()
        except AccountFatalError as exc:
            self._set_phase(ConnectionPhase.FAILED, str(exc))
            raise
        except (ImapError, OSError) as exc:
            self._set_phase(ConnectionPhase.OFFLINE, str(exc))
            raise
        self._set_phase(ConnectionPhase.ONLINE)
        try:
            await self.sync_all(client, features)
            if self.outbox is not None:
                await self.outbox.send_due(ignore_backoff=True)
                if self.operations is not None:  # the Sent copy and \Answered go up now
                    await self.operations.replay(client, features)
            prefetcher = BodyPrefetcher(self.store, self.settings.prefetch)
            prefetcher.schedule([folder.id for folder in await self.syncable_folders()])
            while not prefetcher.idle:
                await prefetcher.step(client)
        finally:
            await client.logout()
            self._set_phase(ConnectionPhase.STOPPED)

    # -- live --------------------------------------------------------------------------------

    async def run_live(self) -> None:
        """Sync, then stay live until cancelled, reconnecting after every failure."""
        attempt = 0
        try:
            while True:
                self._set_phase(ConnectionPhase.CONNECTING, self.account.imap_host)
                try:
                    await self._live_session()
                except AccountFatalError as exc:
                    log.warning("%s: %s", self.account.name, exc)
                    delay = self.settings.backoff_max
                    self._set_phase(ConnectionPhase.FAILED, str(exc), delay)
                    self._secret = None  # the user may have fixed the password meanwhile
                except (ImapError, OSError, TimeoutError) as exc:
                    if self._stayed_healthy():  # a drop after a good session starts over
                        attempt = 0
                    delay = jittered_backoff(
                        attempt, self.settings.backoff_initial, self.settings.backoff_max
                    )
                    # The countdown shown is the real one: the login cap may hold us longer.
                    delay = max(delay, self._logins.wait_needed())
                    attempt += 1
                    log.info("%s: offline (%s); retrying in %.1f s", self.account.name, exc, delay)
                    self._set_phase(ConnectionPhase.OFFLINE, _reason(exc), delay)
                self._online_since = None
                await asyncio.sleep(delay)
        finally:
            self._set_phase(ConnectionPhase.STOPPED)

    def _stayed_healthy(self) -> bool:
        """Whether the session that just ended had been online ``healthy_after`` seconds."""
        if self._online_since is None:
            return False
        return asyncio.get_running_loop().time() - self._online_since >= self.settings.healthy_after

    async def _live_session(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            worker, features = await self.connect()
            stack.push_async_callback(worker.close)
            listens = features.notify or features.idle
            watcher: ImapClient | None = None
            if listens:
                # The watcher listens before the first pass starts, so a change made during or
                # right after the pass is heard, not lost between the pass and the first IDLE.
                watcher, _ = await self.connect()
                stack.push_async_callback(watcher.close)
            self._online_since = asyncio.get_running_loop().time()
            self._set_phase(ConnectionPhase.ONLINE, "" if listens else self._polling_note())
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._work(worker, features))
                    if watcher is not None:
                        tasks.create_task(self._watch(watcher, features))
                    else:
                        self._watching.set()  # nothing to wait for: the poll is the listener
                    tasks.create_task(self._follow_local_changes())
                    tasks.create_task(self._send_outbox())
                    if not features.notify:
                        tasks.create_task(self._poll())
                    if features.idle and not features.notify:
                        tasks.create_task(self._watch_viewed(features))
                    elif not features.idle:
                        tasks.create_task(self._poll_viewed())
            except BaseExceptionGroup as group:
                raise _first_error(group) from None
            finally:
                self._pass_done.clear()
                self._watching.clear()

    async def wait_live(self) -> None:
        """Wait until the first pass is done and the watcher listens (tests, benchmarks)."""
        await self._pass_done.wait()
        await self._watching.wait()

    async def wait_watching_viewed(self) -> None:
        """Wait until the folder given to ``watch`` has its own IDLE listening (no NOTIFY)."""
        await self._watching_viewed.wait()

    async def _next_job(self) -> int:
        job = await self._jobs.get()
        self._queued.discard(job)
        return job

    async def _work(self, client: ImapClient, features: ServerFeatures) -> None:
        await self.sync_all(client, features, announce_new=self._completed_pass)
        self._completed_pass = True
        self._pass_done.set()
        synchronizer = FolderSynchronizer(
            client, self.store, features, account=self.account.name, publish=self._publish
        )
        prefetcher = BodyPrefetcher(self.store, self.settings.prefetch)
        prefetcher.schedule([folder.id for folder in await self.syncable_folders()])
        retry_in = self._replay_due  # a temporarily failed operation's backoff
        headers_queued = True  # the pass may have queued rows for the header search index
        while True:
            if self._jobs.empty() and headers_queued:
                # The search index of new rows is built here, in steps, off the sync's path
                # (a search indexes what is still queued before it answers).
                headers_queued = await index_pending_headers(self.store) > 0
                continue
            if self._jobs.empty() and not prefetcher.idle:
                # Bodies only while nothing else waits: a live change never queues behind them.
                await prefetcher.step(client)
                continue
            wait = self.settings.idle_renew if retry_in is None else min(retry_in, 300.0)
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that lands as the wait completes, and the worker never stops.
                async with asyncio.timeout(wait):
                    job = await self._next_job()
            except TimeoutError:
                if retry_in is not None and self.operations is not None:
                    retry_in = await self.operations.replay(client, features)
                else:
                    await client.noop()  # keep the worker's session from timing out
                continue
            if self.operations is not None:
                # Before every job, not only on _REPLAY: local changes go up before server
                # changes come down (RFC 4549 §4), so a sync never undoes an optimistic change.
                retry_in = await self.operations.replay(client, features)
            if job == _REPLAY:
                continue
            if job == _FOLDER_LIST:
                before = {f.id: f.name for f in await self.syncable_folders()}
                await self.sync_folder_list(client, features)
                for kept in await self.syncable_folders():
                    # New, or renamed elsewhere: what changed under the new name (mail
                    # heard of while the name was still unknown here) is fetched now.
                    if before.get(kept.id) != kept.name or kept.marks.synced_high_uid is None:
                        self.request_sync(kept.id)
                continue
            folder = await self.store.folder(job)
            log.debug("%s: worker syncs %s", self.account.name, folder.name if folder else job)
            if folder is None or not is_syncable(folder, self.settings):
                continue
            await self._sync_one(synchronizer, folder, announce_new=True)
            headers_queued = True
            prefetcher.schedule([folder.id], newest_only=True)

    async def _folder_id_by_mailbox(self, mailbox: str) -> int | None:
        for folder in await self.store.folders(await self.account_id()):
            if folder.display_name == mailbox or decode_mailbox(folder.name) == mailbox:
                return folder.id
        return None

    async def _watch(self, client: ImapClient, features: ServerFeatures) -> None:
        """Listen for changes: NOTIFY for every folder, else IDLE on INBOX."""
        # Subscribed before NOTIFY/SELECT, so nothing the server says from then on is missed.
        with client.unsolicited.subscribe() as heard:
            if features.notify:
                # RFC 5465 §5: with no mailbox selected, every change arrives as STATUS
                # (messages or flags of a folder) or LIST (a folder created, renamed, deleted).
                await client.notify(_NOTIFY_SPEC)
                selected = None
            else:
                await client.select("INBOX", readonly=True)
                selected = "INBOX"
            await self._idle_forever(client, heard, selected, self._watching)

    async def _watch_viewed(self, features: ServerFeatures) -> None:
        """Without NOTIFY: IDLE on the folder the user looks at, when it is not INBOX.

        One connection for the session, opened the first time it is needed and moved from
        folder to folder by SELECT: a user flipping folders must not mean a login per flip.
        """
        client: ImapClient | None = None
        try:
            while True:
                self._viewed_changed.clear()
                viewed = self._viewed
                folder = await self.store.folder(viewed) if viewed is not None else None
                if folder is None or folder.name.upper() == "INBOX" or not features.idle:
                    await self._viewed_changed.wait()
                    continue
                if client is None:
                    client, _ = await self.connect()
                with client.unsolicited.subscribe() as heard:
                    mailbox = decode_mailbox(folder.name)
                    await client.select(mailbox, readonly=True)
                    try:
                        async with asyncio.TaskGroup() as tasks:
                            idler = tasks.create_task(
                                self._idle_forever(client, heard, mailbox, self._watching_viewed)
                            )
                            await self._viewed_changed.wait()  # the user moved to another folder
                            idler.cancel()
                    finally:
                        self._watching_viewed.clear()
        finally:
            self._watching_viewed.clear()
            if client is not None:
                await client.close()

    async def _idle_forever(
        self,
        client: ImapClient,
        heard: Subscription[Unsolicited],
        selected: str | None,
        listening: asyncio.Event | None = None,
    ) -> None:
        """IDLE until cancelled, renewing it in time; queue a sync for whatever is heard."""
        loop = asyncio.get_running_loop()
        while True:
            renew_at = loop.time() + self.settings.idle_renew
            async with client.idle():
                if listening is not None:
                    listening.set()
                while (remaining := renew_at - loop.time()) > 0:
                    try:
                        async with asyncio.timeout(remaining):  # not wait_for: see _work
                            events = await heard.get_batch()
                    except TimeoutError:
                        break
                    except StopAsyncIteration:
                        raise ImapDisconnected("connection closed while idle") from None
                    for event in events:
                        if isinstance(event, Disconnected):
                            raise ImapDisconnected(event.reason)
                    await self._on_events(events, selected)

    async def _on_events(self, events: list[Unsolicited], selected: str | None) -> None:
        log.debug("%s: watcher heard %s", self.account.name, events)
        for event in events:
            if isinstance(event, Exists | Expunge | Vanished | FetchResult):
                selected_id = await self._folder_id_by_mailbox(selected) if selected else None
                if selected_id is not None:
                    self.request_sync(selected_id)
            elif isinstance(event, MailboxStatus):
                # NOTIFY (RFC 5465 §5.1): another folder's messages or flags changed.
                folder_id = await self._folder_id_by_mailbox(event.mailbox)
                if folder_id is None:
                    self.request_folder_list()
                else:
                    self.request_sync(folder_id)
            elif isinstance(event, ListEntry):
                # NOTIFY MailboxName / SubscriptionChange (RFC 5465 §5.4, §5.5).
                self.request_folder_list()

    async def _follow_local_changes(self) -> None:
        """Replay as soon as an operation is queued, here or by another process (a TUI that
        leaves its changes for this ``mailtui sync``)."""
        if self.operations is None:
            return
        account_id = await self.account_id()
        with self.store.events.subscribe() as changes:
            async for event in changes:
                if isinstance(event, ExternalChange) or (
                    isinstance(event, OperationsChanged) and event.account_id == account_id
                ):
                    self.request_sync(_REPLAY)

    async def _send_outbox(self) -> None:
        """Send the outbox now (a connection is back: backoff or not), then whenever a
        message is due or the outbox changes, here or in another process."""
        if self.outbox is None:
            return
        account_id = await self.account_id()
        with self.store.events.subscribe() as changes:
            due = await self.outbox.send_due(ignore_backoff=True)
            while True:
                try:
                    async with asyncio.timeout(due):  # not wait_for: see _work
                        events = await changes.get_batch()
                except TimeoutError:
                    due = await self.outbox.send_due()
                    continue
                except StopAsyncIteration:
                    return
                if any(
                    isinstance(e, ExternalChange)
                    or (isinstance(e, OperationsChanged) and e.account_id == account_id)
                    for e in events
                ):
                    due = await self.outbox.send_due()

    def _polling_note(self) -> str:
        every = self.settings.poll_interval
        viewed = self.settings.viewed_poll_interval
        return f"no IDLE on this server: checking every {every:.0f} s ({viewed:.0f} s on screen)"

    async def _poll_viewed(self) -> None:
        """Without IDLE: sync the folder the user looks at every ``viewed_poll_interval``."""
        while True:
            await asyncio.sleep(self.settings.viewed_poll_interval)
            if self._viewed is not None:
                self.request_sync(self._viewed)

    async def _poll(self) -> None:
        """Without NOTIFY: every ``poll_interval``, refresh the folder list and every folder."""
        while True:
            await asyncio.sleep(self.settings.poll_interval)
            self.request_folder_list()
            for folder in await self.syncable_folders():
                self.request_sync(folder.id)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ImapDisconnected):
        return exc.reason
    return str(exc) or type(exc).__name__


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """The exception that ended a TaskGroup: a fatal one first, else the first one."""
    flat: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            flat.append(error)

    walk(group)
    for error in flat:
        if isinstance(error, AccountFatalError):
            return error
    for error in flat:
        if not isinstance(error, asyncio.CancelledError):
            return error
    return flat[0]
