"""The sync engine: keeps the store reconciled with each account's IMAP server, live.

Server -> engine -> store -> events -> UI. Local changes travel the other way through the
operations queue (``sync.ops``), which the engine replays before it pulls (RFC 4549 §4).

Modules: ``events`` (typed events, cheap to import), ``folder_sync`` (one folder),
``account`` (connections, live watching, reconnects), ``bodies`` (on-demand and prefetched
bodies), ``lock`` (one syncing process per account), ``runner`` (every account). Nothing is
imported here, so the small ``events`` module does not drag in the IMAP client.
"""
