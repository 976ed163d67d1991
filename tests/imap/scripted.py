"""A tiny scripted IMAP server on loopback, for what Dovecot cannot be made to send on cue.

A script is given each connection's reader and writer and plays the server's side; a client
hanging up mid-script is not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# Starts a server that plays ``script`` to every connection; returns its port.
StartScript = Callable[[Script], Awaitable[int]]


@contextlib.asynccontextmanager
async def scripted_servers() -> AsyncIterator[StartScript]:
    """Start scripted servers on free loopback ports; all are closed on leaving."""
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await script(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    try:
        yield start
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
