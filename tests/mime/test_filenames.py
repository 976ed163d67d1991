"""Safe attachment names and saving without ever overwriting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.mime.filenames import (
    MAX_NAME_BYTES,
    AttachmentExistsError,
    AttachmentSaveError,
    safe_filename,
    save_attachment,
)
from tests.mime.corpus import HOSTILE_FILENAMES

_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in range(10)
}


@pytest.mark.parametrize(("name", "expected"), HOSTILE_FILENAMES)
def test_hostile_names(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_long_names_keep_their_extension_within_255_bytes() -> None:
    name = safe_filename("é" * 300 + ".jpeg")
    assert name.endswith(".jpeg")
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert "\ufffd" not in name  # cut on a character boundary


def test_empty_and_dot_names_fall_back() -> None:
    for name in (None, "", ".", "..", "...", "/", "\x1b", " . "):
        assert safe_filename(name) == "attachment"
    assert safe_filename(None, fallback="image.png") == "image.png"
    assert safe_filename(None, fallback="../x") == "x"


def _assert_safe(name: str) -> None:
    assert name
    assert "/" not in name and "\\" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in name)
    assert not any(char in '<>:"|?*' for char in name)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name.split(".")[0].upper().rstrip() not in _WINDOWS_DEVICES
    assert name == name.strip(" ") and not name.endswith(".")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_any_name_becomes_safe(name: str) -> None:
    _assert_safe(safe_filename(name))


class _Part:
    def __init__(self, data: bytes, safe_name: str = "report.pdf") -> None:
        self.data = data
        self.safe_name = safe_name

    def iter_payload(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        for start in range(0, len(self.data), 3):
            yield self.data[start : start + 3]


def test_save_writes_the_content(tmp_path: Path) -> None:
    path = save_attachment(_Part(b"hello world"), tmp_path)
    assert path == tmp_path / "report.pdf"
    assert path.read_bytes() == b"hello world"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]  # no temp file left


def test_save_never_overwrites_by_default(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"precious")
    with pytest.raises(AttachmentExistsError) as caught:
        save_attachment(_Part(b"new"), tmp_path)
    assert isinstance(caught.value, FileExistsError)
    assert (tmp_path / "report.pdf").read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]


def test_save_can_pick_a_free_name(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"one")
    (tmp_path / "report (2).pdf").write_bytes(b"two")
    path = save_attachment(_Part(b"three"), tmp_path, if_exists="rename")
    assert path.name == "report (3).pdf"
    assert path.read_bytes() == b"three"
    assert (tmp_path / "report.pdf").read_bytes() == b"one"


def test_save_replaces_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"old")
    path = save_attachment(_Part(b"new"), tmp_path, if_exists="replace")
    assert path.read_bytes() == b"new"


def test_a_given_name_cannot_escape_the_directory(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    path = save_attachment(_Part(b"x"), inner, "../../evil.sh")
    assert path == inner / "evil.sh"
    assert not (tmp_path / "evil.sh").exists()


def test_save_into_a_missing_directory_raises_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(AttachmentSaveError):
        save_attachment(_Part(b"x"), tmp_path / "missing")


def test_a_failing_payload_leaves_no_partial_file(tmp_path: Path) -> None:
    class Broken(_Part):
        def iter_payload(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
            yield b"half"
            raise OSError(5, "I/O error")

    with pytest.raises(AttachmentSaveError):
        save_attachment(Broken(b""), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_without_hard_links_the_name_is_still_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "report.pdf").write_bytes(b"precious")
    with pytest.raises(AttachmentExistsError):
        save_attachment(_Part(b"new"), tmp_path)
    path = save_attachment(_Part(b"new"), tmp_path, if_exists="rename")
    assert path.name == "report (2).pdf" and path.read_bytes() == b"new"
    assert (tmp_path / "report.pdf").read_bytes() == b"precious"
