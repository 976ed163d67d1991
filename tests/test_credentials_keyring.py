"""`keyring = true`: the password comes from the system keyring (the optional extra).

A real `keyring` package with an in-memory back end set for the test; no D-Bus, no files.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend

from sync.config import PasswordSource
from sync.credentials import CredentialError, resolve_secret


class MemoryKeyring(KeyringBackend):
    """A keyring back end that keeps (service, user) -> password in a dict."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring leaves it unannotated
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    """A back end that fails the way a locked or absent D-Bus secret service does."""

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("secret service is locked: hunter2")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def source(service: str | None = None, user: str | None = None) -> PasswordSource:
    return PasswordSource("keyring", account="work", keyring_service=service, keyring_user=user)


async def test_the_secret_comes_from_the_keyring(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("mailtui", "work", "s3cret")
    memory_keyring.set_password("corp-mail", "me@example.org", "other")
    assert await resolve_secret(source()) == "s3cret"
    assert await resolve_secret(source("corp-mail", "me@example.org")) == "other"


async def test_no_entry_says_how_to_store_one(memory_keyring: MemoryKeyring) -> None:
    with pytest.raises(CredentialError) as caught:
        await resolve_secret(source())
    assert "no password stored; store one with: keyring set mailtui work" in str(caught.value)


async def test_a_failing_back_end_is_named_without_its_message() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    try:
        with pytest.raises(CredentialError) as caught:
            await resolve_secret(source())
    finally:
        keyring.set_keyring(previous)
    assert "the keyring failed: RuntimeError" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # `import keyring` now raises ImportError
    with pytest.raises(CredentialError) as caught:
        await resolve_secret(source())
    assert "pip install 'mailtui[keyring]'" in str(caught.value)
