"""Client-side protocol rules that Dovecot cannot be made to exercise: a tiny scripted server.

What a server decides is tested against Dovecot (test_client.py). Here: refusing to continue
without STARTTLS, the XOAUTH2/OAUTHBEARER wire format and error acknowledgement, a BYE in the
middle of a command, COMPRESS=DEFLATE framing.
"""

from __future__ import annotations

import asyncio
import base64
import zlib

import pytest

from sync.imap import Bye, Disconnected, ImapClient, ImapCommandError, ImapDisconnected
from sync.imap.errors import ImapSecurityError
from tests.imap.scripted import StartScript


async def _tag(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    line = await reader.readline()
    tag, _, rest = line.partition(b" ")
    return tag.decode(), rest


async def test_starttls_not_offered_is_fatal(scripted: StartScript) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n")
        await reader.read()

    port = await scripted(script)
    with pytest.raises(ImapSecurityError, match="STARTTLS"):
        await ImapClient.connect("127.0.0.1", port, security="starttls", timeout=2)


async def test_starttls_refused_is_fatal(scripted: StartScript) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
        tag, _ = await _tag(reader)
        writer.write(f"{tag} NO not today\r\n".encode())
        await reader.read()

    port = await scripted(script)
    with pytest.raises(ImapSecurityError, match="refused"):
        await ImapClient.connect("127.0.0.1", port, security="starttls", timeout=2)


async def test_data_injected_after_starttls_ok_is_fatal(
    scripted: StartScript,
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
        tag, _ = await _tag(reader)
        writer.write(f"{tag} OK go\r\n* 5 EXISTS\r\n".encode())
        await reader.read()

    port = await scripted(script)
    with pytest.raises(ImapSecurityError, match="after STARTTLS"):
        await ImapClient.connect("127.0.0.1", port, security="starttls", timeout=2)


@pytest.mark.parametrize(
    ("mechanism", "acknowledgement"), [("XOAUTH2", b""), ("OAUTHBEARER", b"\x01")]
)
async def test_oauth_mechanisms(
    scripted: StartScript, mechanism: str, acknowledgement: bytes
) -> None:
    received: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH={mechanism}] hi\r\n".encode())
        for attempt in range(2):
            tag, rest = await _tag(reader)
            received.append(base64.b64decode(rest.split()[-1]))
            if attempt == 0:  # refuse the first token the way Gmail does
                writer.write(b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n")
                received.append(base64.b64decode((await reader.readline()).strip()))
                writer.write(f"{tag} NO [AUTHENTICATIONFAILED] invalid\r\n".encode())
            else:
                writer.write(f"{tag} OK [CAPABILITY IMAP4rev1 IDLE] welcome\r\n".encode())
        await reader.read()

    port = await scripted(script)
    client = await ImapClient.connect("127.0.0.1", port, security="none", timeout=2)
    try:
        method = getattr(client, f"authenticate_{mechanism.lower()}")
        with pytest.raises(ImapCommandError) as failure:
            await method("me@example.org", "bad-token")
        assert failure.value.code == "AUTHENTICATIONFAILED"
        await method("me@example.org", "good-token")
        assert "IDLE" in client.capabilities
    finally:
        await client.close()
    if mechanism == "XOAUTH2":
        assert received[0] == b"user=me@example.org\x01auth=Bearer bad-token\x01\x01"
    else:
        assert received[0] == (
            b"n,a=me@example.org,\x01host=127.0.0.1\x01port=%d\x01auth=Bearer bad-token\x01\x01"
            % port
        )
    assert received[1] == acknowledgement
    assert b"good-token" in received[2]


async def test_bye_during_a_command_fails_it_at_once(
    scripted: StartScript,
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
        await _tag(reader)
        writer.write(b"* 1 FETCH (UID 1 FLAGS ())\r\n* BYE going away\r\n")
        await reader.read()  # ...and keep the socket open: the client must not wait for it

    port = await scripted(script)
    client = await ImapClient.connect("127.0.0.1", port, security="none", timeout=30)
    try:
        with client.unsolicited.subscribe() as events:
            with pytest.raises(ImapDisconnected, match="going away"):
                await asyncio.wait_for(client.uid_fetch("1:*", ["FLAGS"]), 5)
            kinds = []
            while (event := events.get_nowait()) is not None:
                kinds.append(event)
        assert Bye("going away") in kinds
        assert any(isinstance(event, Disconnected) for event in kinds)
    finally:
        await client.close()


async def test_compress_deflate(scripted: StartScript) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* PREAUTH [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] hi\r\n")
        tag, rest = await _tag(reader)
        assert rest == b"COMPRESS DEFLATE\r\n"
        writer.write(f"{tag} OK deflating\r\n".encode())
        inflate = zlib.decompressobj(-15)
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        buffer = b""
        while b"\r\n" not in buffer:
            buffer += inflate.decompress(await reader.read(1024))
        tag = buffer.split(b" ")[0].decode()
        reply = f"* 3 EXISTS\r\n{tag} OK done\r\n".encode()
        writer.write(deflate.compress(reply) + deflate.flush(zlib.Z_SYNC_FLUSH))
        await reader.read()

    port = await scripted(script)
    client = await ImapClient.connect("127.0.0.1", port, security="none", timeout=2)
    try:
        assert await client.compress()
        responses = await client.noop()
        assert [type(response).__name__ for response in responses] == ["Exists"]
    finally:
        await client.close()


async def test_unexpected_greeting_is_refused(
    scripted: StartScript,
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* BYE too busy\r\n")
        await reader.read()

    port = await scripted(script)
    with pytest.raises(ImapDisconnected, match="too busy"):
        await ImapClient.connect("127.0.0.1", port, security="none", timeout=2)


async def test_silent_server_times_out_at_connect(
    scripted: StartScript,
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets

    port = await scripted(script)
    with pytest.raises(ImapDisconnected):
        await ImapClient.connect("127.0.0.1", port, security="none", timeout=0.5)
