"""Large messages open text first (issue 7): BODYSTRUCTURE, the header and the text parts
are fetched, attachments stay on the server as placeholders until the whole message is
asked for. Against the real Dovecot, with the bytes that came over counted."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sync.dovecot import MailUser
from sync.engine import bodies
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.bodies import BodyFetcher
from sync.engine.partial import assemble, decoded_size, plan_partial
from sync.imap import BodyStructure, FetchResult, ImapClient
from sync.mime.message import (
    PLACEHOLDER_HEADER,
    NotDownloadedError,
    PartialMessage,
    parse_message,
)
from sync.store import FolderRow, Store
from tests.engine.helpers import config_for
from tests.rig.device import Device

BIG = 25 * 1024 * 1024
TEXT = "Here are the photos from the trip.\r\nThe big one is attached.\r\n"


def mime(*parts: str, boundary: str, subtype: str = "mixed", headers: str = "") -> str:
    """A multipart entity (headers, then the parts between RFC 2046 delimiter lines)."""
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts)
    return (
        f'{headers}Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'
        f"{body}--{boundary}--\r\n"
    )


def top(entity: str, subject: str) -> bytes:
    """A whole message around a top-level entity."""
    head = (
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
        f"Subject: {subject}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{hashlib.sha1(subject.encode()).hexdigest()}@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
    )
    return (head + entity).encode()


def text(content: str, subtype: str = "plain", extra: str = "") -> str:
    return f"Content-Type: text/{subtype}; charset=utf-8\r\n{extra}\r\n{content}"


def attachment(data: bytes, name: str, kind: str = "application/zip", extra: str = "") -> str:
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n").rstrip("\r\n")
    return (
        f'Content-Type: {kind}; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n{extra}\r\n{encoded}"
    )


@pytest.fixture(scope="module")
def big_data() -> bytes:
    """25 MiB of random bytes, made once for the module."""
    return os.urandom(BIG)


@pytest.fixture(scope="module")
def big_message(big_data: bytes) -> bytes:
    """A text part and a 25 MiB attachment (about 34 MB on the wire, base64)."""
    entity = mime(text(TEXT), attachment(big_data, "photos.zip"), boundary="outer-b")
    return top(entity, "Holiday photos")


@dataclass
class Counter:
    """Bytes of body sections and FETCH commands that came over the fetcher's connection."""

    section_bytes: int = 0
    fetches: int = 0


def counting(
    account_sync: AccountSync, counter: Counter
) -> Callable[[], Awaitable[tuple[ImapClient, object]]]:
    """``account_sync.connect`` whose client counts what UID FETCH returns."""

    async def connect() -> tuple[ImapClient, object]:
        client, features = await account_sync.connect()
        original = client.uid_fetch

        async def uid_fetch(*args: Any, **kwargs: Any) -> list[FetchResult]:
            results = await original(*args, **kwargs)
            counter.fetches += 1
            counter.section_bytes += sum(
                len(value) for item in results for value in item.sections.values() if value
            )
            return results

        client.uid_fetch = uid_fetch  # type: ignore[method-assign]
        return client, features

    return connect


@dataclass
class Rig:
    """A synced store, its INBOX, the account's sync and a fetcher that counts."""

    store: Store
    inbox: FolderRow
    sync: AccountSync
    fetcher: BodyFetcher
    counter: Counter


@pytest.fixture
async def rig(
    mail_user: MailUser, device: Device, data_dir: Path, store: Store
) -> AsyncIterator[Rig]:
    """A store synced (headers only) with an empty INBOX and a counting fetcher; tests append
    and call `sync_headers`."""
    config = config_for(mail_user, data_dir)
    account_sync = AccountSync(config.accounts[0], store, SyncSettings(prefetch="none"))
    await account_sync.run_once()
    inbox = next(f for f in await store.folders() if f.name == "INBOX")
    counter = Counter()
    fetcher = BodyFetcher(store, counting(account_sync, counter))
    try:
        yield Rig(store, inbox, account_sync, fetcher, counter)
    finally:
        await fetcher.close()


async def append_and_sync(rig: Rig, device: Device, raw: bytes) -> int:
    """Append as another device, and sync the headers (row with its size, no body)."""
    uid = device.append("INBOX", raw)
    await rig.sync.run_once()
    row = await rig.store.message(rig.inbox.id, uid)
    assert row is not None and not row.has_body
    return uid


async def test_a_25_mb_message_opens_with_its_text_and_without_its_attachment(
    rig: Rig, device: Device, big_message: bytes, big_data: bytes
) -> None:
    uid = await append_and_sync(rig, device, big_message)
    raw = await rig.fetcher.fetch(rig.inbox, uid)

    assert isinstance(raw, PartialMessage)
    # Two round trips and a few KB, against the 34 MB of the message.
    assert rig.counter.fetches == 2
    assert rig.counter.section_bytes < 4096 and len(raw) < 4096, (rig.counter, len(raw))
    assert len(big_message) > 30_000_000
    # The store keeps whole messages only.
    assert await rig.store.body(rig.inbox.id, uid) is None
    row = await rig.store.message(rig.inbox.id, uid)
    assert row is not None and not row.has_body

    parsed = parse_message(raw)
    assert parsed.partial and parsed.headers.subject == "Holiday photos"
    assert parsed.body.text == TEXT.replace("\r\n", "\n").rstrip("\n")
    [photos] = parsed.attachments
    assert (photos.filename, photos.content_type, photos.downloaded) == (
        "photos.zip",
        "application/zip",
        False,
    )
    assert abs(photos.size - len(big_data)) < len(big_data) // 1000  # the server's figure
    assert parsed.not_downloaded_size == photos.size
    with pytest.raises(NotDownloadedError):
        photos.payload()

    # Opened again: from memory, nothing fetched.
    assert await rig.fetcher.fetch(rig.inbox, uid) is raw
    assert rig.counter.fetches == 2

    # The attachment wanted: the whole message, kept in the store, exactly as sent.
    whole = await rig.fetcher.fetch(rig.inbox, uid, whole=True)
    assert whole is not None and not isinstance(whole, PartialMessage)
    assert hashlib.sha256(whole).digest() == hashlib.sha256(big_message).digest()
    assert await rig.store.body(rig.inbox.id, uid) == whole
    [saved] = parse_message(whole).attachments
    assert saved.downloaded and hashlib.sha256(saved.payload()).digest() == (
        hashlib.sha256(big_data).digest()
    )
    again = await rig.fetcher.fetch(rig.inbox, uid)  # from the store now, whole
    assert again == whole and not isinstance(again, PartialMessage)
    # Everything went with BODY.PEEK: the message is still unread on the server.
    assert "\\Seen" not in device.flags("INBOX")[uid]


def nested_message(blob: bytes) -> bytes:
    """mixed > [alternative > (plain, related > (html, inline image)), a PDF, a forwarded
    message (mixed > plain, attachment), a forwarded single-part message, an attached
    message, a small signature file]."""
    related = mime(
        text("<p>Hello <b>HTML</b> <img src='cid:logo'></p>", "html"),
        attachment(blob, "logo.png", "image/png", extra="Content-ID: <logo>\r\n").replace(
            "attachment;", "inline;"
        ),
        boundary="rel-b",
        subtype="related",
    )
    alternative = mime(
        text("Hello plain text.\r\n> quoted"), related, boundary="alt-b", subtype="alternative"
    )
    forwarded = (
        "Content-Type: message/rfc822\r\n\r\n"
        "From: Carol <carol@example.org>\r\nSubject: Inner report\r\n"
        "MIME-Version: 1.0\r\n"
        + mime(text("Inner text of the report."), attachment(blob, "inner.bin"), boundary="in-b")
    )
    forwarded_plain = (
        "Content-Type: message/rfc822\r\n\r\n"
        "From: Dan <dan@example.org>\r\nSubject: Short note\r\n\r\nJust a short forwarded note."
    )
    attached = (
        'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="old.eml"\r\n'
        "\r\nFrom: Eve <eve@example.org>\r\nSubject: Attached\r\n\r\n" + "attached body\r\n" * 20
    )
    entity = mime(
        alternative,
        attachment(blob, "report.pdf", "application/pdf"),
        forwarded,
        forwarded_plain,
        attached,
        attachment(b"-----BEGIN PGP SIGNATURE-----\n", "sig.asc", "application/pgp-signature"),
        boundary="outer-b",
    )
    return top(entity, "Nested")


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Partial downloads from 64 KiB, so that the structure tests need no big messages."""
    monkeypatch.setattr(bodies, "PARTIAL_THRESHOLD", 64 * 1024)


@pytest.mark.usefixtures("small_threshold")
async def test_nested_parts_get_the_right_sections(rig: Rig, device: Device) -> None:
    blob = os.urandom(200_000)
    raw_whole = nested_message(blob)
    uid = await append_and_sync(rig, device, raw_whole)
    partial = await rig.fetcher.fetch(rig.inbox, uid)
    assert isinstance(partial, PartialMessage)
    assert len(partial) < 8000 and rig.counter.section_bytes < 8000

    got, want = parse_message(partial), parse_message(raw_whole)
    # The same text, in both versions (plain and HTML), forwarded messages inline.
    assert got.body == want.body
    assert "Inner text of the report." in got.body.text
    assert "Just a short forwarded note." in got.body.text
    html_got = parse_message(partial, prefer_html=True).body
    assert html_got == parse_message(raw_whole, prefer_html=True).body
    assert "Hello HTML" in html_got.text
    # The same tree: every section number as IMAP numbers it (RFC 3501 §6.4.5); only the
    # inside of the attached message (5), left on the server, is not known yet.
    assert [(p.path, p.content_type, p.role) for p in got.parts] == [
        (p.path, p.content_type, p.role) for p in want.parts if not p.path.startswith("5.")
    ]
    listed = {a.part_path: a for a in got.attachments}
    whole_listed = {a.part_path: a for a in want.attachments}
    assert listed.keys() == whole_listed.keys() == {"2", "3.2", "5", "6"}
    for path in ("2", "3.2", "5"):  # left on the server
        assert not listed[path].downloaded
        assert listed[path].filename == whole_listed[path].filename
        assert listed[path].content_type == whole_listed[path].content_type
    for path in ("2", "3.2"):
        assert abs(listed[path].size - len(blob)) < 100
    # Shown as HTML, the related image is listed, inline, with its Content-ID.
    [logo] = [a for a in parse_message(partial, prefer_html=True).attachments if a.inline]
    assert (logo.part_path, logo.content_id, logo.downloaded) == ("1.2.2", "logo", False)
    # The signature is small: it came along, and saves without a download.
    assert listed["6"].downloaded and listed["6"].payload() == b"-----BEGIN PGP SIGNATURE-----\n"


@pytest.mark.usefixtures("small_threshold")
async def test_a_message_without_a_text_part_is_fetched_whole(rig: Rig, device: Device) -> None:
    blob = os.urandom(200_000)
    single = top(attachment(blob, "scan.pdf", "application/pdf"), "Only a scan")
    uid = await append_and_sync(rig, device, single)
    raw = await rig.fetcher.fetch(rig.inbox, uid)
    assert raw == single and not isinstance(raw, PartialMessage)
    assert await rig.store.body(rig.inbox.id, uid) == single
    assert rig.counter.fetches == 2  # BODYSTRUCTURE first, then BODY[]


@pytest.mark.usefixtures("small_threshold")
async def test_mostly_text_is_fetched_whole(rig: Rig, device: Device) -> None:
    # Little would be saved by leaving 40 KB behind: the whole message is kept instead.
    long_text = "A long letter line.\r\n" * 10_000
    raw_whole = top(
        mime(text(long_text), attachment(os.urandom(30_000), "a.bin"), boundary="b"), "Letter"
    )
    uid = await append_and_sync(rig, device, raw_whole)
    raw = await rig.fetcher.fetch(rig.inbox, uid)
    assert raw == raw_whole and not isinstance(raw, PartialMessage)


@pytest.mark.usefixtures("small_threshold")
async def test_a_sender_cannot_fake_placeholders(rig: Rig, device: Device) -> None:
    blob = os.urandom(200_000)
    fake = f"{PLACEHOLDER_HEADER}: 1\r\n"
    raw_whole = top(
        mime(
            text("Visible text, not a placeholder.", extra=fake),
            attachment(blob, "real.bin", extra=f"{PLACEHOLDER_HEADER}: 7\r\n"),
            attachment(b"small and here", "small.txt", "text/plain", extra=fake),
            boundary="b",
            headers=fake,
        ),
        "Hostile",
    )
    uid = await append_and_sync(rig, device, raw_whole)
    partial = await rig.fetcher.fetch(rig.inbox, uid)
    assert isinstance(partial, PartialMessage)
    parsed = parse_message(partial)
    assert parsed.body.text == "Visible text, not a placeholder."
    real, small = parsed.attachments
    assert not real.downloaded and abs(real.size - len(blob)) < 100  # the server's size
    assert small.downloaded and small.payload() == b"small and here"
    # In a whole message the header means nothing at all.
    whole = parse_message(raw_whole)
    assert not whole.partial and all(a.downloaded for a in whole.attachments)
    assert whole.attachments[0].payload() == blob
    assert not parse_message(PartialMessage(raw_whole), partial=False).partial


# --------------------------------------------------------------------------- pure planning


def leaf(kind: str, sub: str, size: int | None, **extra: Any) -> BodyStructure:
    return BodyStructure(kind, sub, size=size, encoding="base64", **extra)


def test_plans_fall_back_on_odd_structures() -> None:
    header = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    big = leaf("application", "zip", 10_000_000)
    body = leaf("text", "plain", 100)
    good = BodyStructure("multipart", "mixed", params={"boundary": "b"}, parts=(body, big))
    assert plan_partial(good, header) is not None
    assert plan_partial(None, header) is None
    assert plan_partial(good, None) is None
    assert plan_partial(good, b"Subject: cut off\r\n") is None  # not a whole header block
    assert plan_partial(big, header) is None  # one part: nothing to leave behind
    no_boundary = BodyStructure("multipart", "mixed", parts=(body, big))
    assert plan_partial(no_boundary, header) is None
    no_size = BodyStructure(
        "multipart", "mixed", params={"boundary": "b"}, parts=(body, leaf("image", "png", None))
    )
    assert plan_partial(no_size, header) is None


def test_assembly_refuses_missing_sections_and_wrong_boundaries() -> None:
    header = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    structure = BodyStructure(
        "multipart",
        "mixed",
        params={"boundary": "b"},
        parts=(leaf("text", "plain", 5), leaf("application", "zip", 10_000_000)),
    )
    plan = plan_partial(structure, header)
    assert plan is not None and plan.items == (
        "BODY.PEEK[1.MIME]",
        "BODY.PEEK[1]",
        "BODY.PEEK[2.MIME]",
    )
    sections: dict[str, bytes | None] = {
        "BODY[1.MIME]": b"Content-Type: text/plain\r\n\r\n",
        "BODY[1]": b"hello",
        "BODY[2.MIME]": b"Content-Type: application/zip\r\n\r\n",
    }
    built = assemble(plan, sections)
    assert built is not None
    parsed = parse_message(built)
    assert parsed.body.text == "hello"
    assert parsed.attachments[0].size == decoded_size(10_000_000, "base64")
    assert assemble(plan, {**sections, "BODY[1]": None}) is None
    assert assemble(plan, {k: v for k, v in sections.items() if k != "BODY[2.MIME]"}) is None
    other = plan_partial(structure, header.replace(b"boundary=b", b"boundary=c"))
    assert other is not None and assemble(other, sections) is None


def test_decoded_size_of_base64_lines() -> None:
    for size in (0, 1, 57, 58, 1000, 3 * 1024 * 1024 + 7):
        encoded = base64.encodebytes(os.urandom(size)).replace(b"\n", b"\r\n")
        assert abs(decoded_size(len(encoded), "base64") - size) <= 2
    assert decoded_size(1234, "7bit") == 1234
