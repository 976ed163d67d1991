"""``ImapClient.uid_fetch_rows``: the caller's row parser takes its command's answers only.

A scripted server sends what Dovecot cannot be made to send on cue: another session's flag
change in the middle of the FETCH, an answer for a UID nobody asked for, a response the row
parser does not know, and a FETCH right after the tagged completion.
"""

from __future__ import annotations

import asyncio

from sync.imap import FetchResult, ImapClient
from sync.imap.lexer import RawResponse
from tests.imap.scripted import StartScript


def _envelope(subject: str) -> str:
    return f'(NIL "{subject}" NIL NIL NIL NIL NIL NIL NIL NIL)'


def subject_rows(raw: RawResponse) -> tuple[int, str] | None:
    """A toy row parser: (uid, subject) of ``UID n ENVELOPE (NIL "subject" ...)`` only."""
    text = raw.text.decode()
    if "ENVELOPE" not in text or "X-ODD" in text:
        return None
    uid = int(text.split("UID ")[1].split(" ")[0])
    return uid, text.split('"')[1]


async def test_rows_are_the_commands_own_answers(
    scripted: StartScript,
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        line = await reader.readline()
        tag = line.split(b" ")[0].decode()
        assert b"UID FETCH 1:3 (UID ENVELOPE)" in line
        writer.write(
            (
                f"* 1 FETCH (UID 1 ENVELOPE {_envelope('one')})\r\n"
                "* 7 FETCH (UID 9 FLAGS (\\Seen))\r\n"  # another session's change
                f"* 2 FETCH (UID 2 ENVELOPE {_envelope('two')})\r\n"
                f"* 8 FETCH (UID 50 ENVELOPE {_envelope('fifty')})\r\n"  # not asked for
            ).encode()
        )
        await writer.drain()
        await asyncio.sleep(0.05)  # a second read: rows arrive in more than one batch
        writer.write(
            (
                f"* 3 FETCH (UID 3 ENVELOPE {_envelope('three')} X-ODD 1)\r\n"
                f"{tag} OK done\r\n"
                f"* 1 FETCH (UID 1 ENVELOPE {_envelope('late')})\r\n"  # after the completion
            ).encode()
        )
        await writer.drain()
        line = await reader.readline()
        writer.write(line.split(b" ")[0] + b" OK noop\r\n")
        await writer.drain()
        await reader.read()

    port = await scripted(script)
    client = await ImapClient.connect("127.0.0.1", port, security="none", timeout=5)
    try:
        with client.unsolicited.subscribe() as unsolicited:
            rows: list[str] = []
            left: list[FetchResult] = []
            batches = 0
            async for taken, results in client.uid_fetch_rows(
                [1, 2, 3], ["ENVELOPE"], subject_rows
            ):
                rows += taken
                left += results
                batches += 1
            await client.noop()
            published = []
            while (event := unsolicited.get_nowait()) is not None:
                published.append(event)
    finally:
        await client.close()
    assert rows == ["one", "two"]
    assert [(item.uid, item.extra) for item in left] == [(3, {"X-ODD": "1"})]
    assert batches >= 2
    others = sorted(
        (event.uid, event.envelope.subject if event.envelope else None)
        for event in published
        if isinstance(event, FetchResult)
    )
    assert others == [(1, "late"), (9, None), (50, "fifty")]
