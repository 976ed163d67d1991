"""The layers of ``sync``, highest first: a module imports only from its own layer or below.

Written down here, and enforced by tests/test_sync_layers.py over every import statement
(lazy and ``TYPE_CHECKING`` ones included), together with "no import cycles". The two flows
of docs/architecture.md read off it: the engine drives the queue (``ops``) and the outbox over
the store; the store indexes with ``search``'s pure query and thread code; IMAP, SMTP and MIME
know nothing of the store. A module added to ``sync`` must be given a layer here.

Plain data, no imports: reading it costs nothing.
"""

from __future__ import annotations

__all__ = ["LAYERS"]

LAYERS: tuple[tuple[str, ...], ...] = (
    # What the commands call: they may use everything below.
    ("sync.setup_check", "sync.demo"),
    # The sync engine: accounts, folders, bodies, the server phase of a search.
    ("sync.engine",),
    # Outgoing mail: queued in the store, sent over SMTP, its follow-ups queued as ops.
    ("sync.outbox",),
    # The operations queue: local changes first, replayed to the server.
    ("sync.ops",),
    # The one source of truth (SQLite) and its typed change events.
    ("sync.store",),
    # Search queries, threading and IMAP SEARCH criteria: no store, no connection.
    ("sync.search",),
    ("sync.smtp", "sync.sample_mail"),
    # Protocols and formats.
    ("sync.imap", "sync.compose", "sync.credentials", "sync.paths"),
    ("sync.mime",),
    # Leaves: they import nothing of sync.
    (
        "sync.clean",
        "sync.config",
        "sync.events",
        "sync.backoff",
        "sync.logsetup",
        "sync.dovecot",
        "sync.cyrus",
        "sync.tlsconfig",
        "sync.layers",
        "sync.server_rig",
    ),
)
