"""Attachment file names that are safe to create on any common file system.

A sender chooses the name: it may hold path separators (``../../.bashrc``), an absolute
path, a Windows device name (``CON``, ``COM1``), control characters, bidi overrides that
disguise the extension, or 400 characters. RFC 2183 §2.3 says a receiver must not trust
directory information and should use only the last path component; the rest is ours.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, Protocol

from sync.clean import clean_text

__all__ = [
    "MAX_NAME_BYTES",
    "AttachmentExistsError",
    "AttachmentSaveError",
    "SavablePart",
    "display_filename",
    "safe_filename",
    "save_attachment",
]

# Most file systems (ext4, APFS, NTFS in UTF-16 units) cap a name near 255 bytes.
MAX_NAME_BYTES = 255
# Keep an extension only when it looks like one; a 200-character "extension" is a stem.
_MAX_EXTENSION_CHARS = 16

_SEPARATORS = re.compile(r"[/\\]")
# Characters Windows refuses in names, plus ":" (an NTFS alternate data stream).
_RESERVED_CHARS = re.compile(r'[<>:"|?*]')
_RUNS_OF_UNDERSCORES = re.compile(r"_{2,}")
# Windows device names are reserved with any extension and any case (CON.txt, com1.tar.gz);
# digits include the superscripts Windows also treats as device numbers.
_DEVICE_NAMES = re.compile(
    r"(?:CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|CLOCK\$|(?:COM|LPT)[0-9¹²³])(?:\..*)?",
    re.IGNORECASE,
)


def display_filename(name: str | None, *, max_length: int | None = None) -> str:
    """Return an attachment's name as sent, made safe to show (not to use as a path)."""
    return clean_text(name or "", single_line=True, max_length=max_length)


def safe_filename(name: str | None, *, fallback: str = "attachment") -> str:
    """Return a file name built from ``name`` that is safe to create in a chosen directory.

    No path separators (only the last path component is kept, RFC 2183 §2.3), never ``.``
    or ``..``, no leading dot (no hidden files), no control or bidi characters, no Windows
    device name, no characters Windows refuses, and at most 255 bytes of UTF-8 with the
    extension kept. An empty result becomes ``fallback`` (itself made safe).
    """
    return _sanitize(name or "") or _sanitize(fallback) or "attachment"


def _sanitize(name: str) -> str:
    text = unicodedata.normalize("NFC", clean_text(name, single_line=True))
    # RFC 2183 §2.3: only the last path component; "a/b/../c" and "C:\\x\\y" lose the path.
    parts = [part for part in _SEPARATORS.split(text) if part.strip(" .")]
    text = parts[-1] if parts else ""
    text = _RESERVED_CHARS.sub("_", text)
    text = _RUNS_OF_UNDERSCORES.sub("_", text)
    # Leading dots hide the file (".bashrc"); trailing dots and spaces vanish on Windows.
    text = text.strip(" .")
    if _DEVICE_NAMES.fullmatch(text):
        text = "_" + text
    return _cap_length(text)


def _cap_length(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_CHARS:
        stem, extension = name, ""
    suffix = "." + extension if extension else ""
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    # Cut on a character boundary; never leave a half UTF-8 sequence.
    cut = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return cut + suffix


class AttachmentSaveError(OSError):
    """Saving an attachment failed (the message says why; ``filename`` is the target)."""


class AttachmentExistsError(AttachmentSaveError, FileExistsError):
    """The chosen name is taken: the UI asks before replacing (``if_exists="replace"``)."""


class SavablePart(Protocol):
    """What :func:`save_attachment` needs (``sync.mime.message.AttachmentInfo`` has it)."""

    @property
    def safe_name(self) -> str:
        """A file name already made safe."""
        ...

    def iter_payload(self, chunk_size: int = ...) -> Iterator[bytes]:
        """Yield the decoded content in chunks."""
        ...


def save_attachment(
    part: SavablePart,
    directory: Path,
    name: str | None = None,
    *,
    if_exists: Literal["error", "rename", "replace"] = "error",
) -> Path:
    """Write an attachment's decoded content into ``directory``; return the path written.

    ``name`` (default: the part's ``safe_name``) is sanitized again with
    :func:`safe_filename`, so it can never leave ``directory``. The content is written to a
    temporary file in the same directory, flushed, and then linked in atomically: a reader
    never sees half a file. An existing file is never replaced unless the user said so:
    ``if_exists="error"`` raises :class:`AttachmentExistsError`, ``"rename"`` picks the first
    free ``name (2).ext``, ``"replace"`` swaps the file atomically. Other failures raise
    :class:`AttachmentSaveError`.
    """
    directory = Path(directory)
    filename = safe_filename(name if name is not None else part.safe_name)
    try:
        handle, temporary_name = tempfile.mkstemp(prefix=".mailtui-", suffix=".part", dir=directory)
    except OSError as error:
        raise AttachmentSaveError(
            error.errno, f"cannot write in {directory}: {error.strerror}"
        ) from error
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as output:
            for chunk in part.iter_payload():
                output.write(chunk)
            output.flush()
            os.fsync(output.fileno())
        return _move_into_place(temporary, directory, filename, if_exists)
    except AttachmentSaveError:
        raise
    except OSError as error:
        raise AttachmentSaveError(
            error.errno, f"cannot save {filename}: {error.strerror or error}"
        ) from error
    finally:
        temporary.unlink(missing_ok=True)


def _candidates(filename: str) -> Iterator[str]:
    yield filename
    stem, dot, extension = filename.rpartition(".")
    if not dot or not stem:
        stem, extension = filename, ""
    suffix = "." + extension if extension else ""
    for number in range(2, 10_000):
        yield _cap_length(f"{stem} ({number}){suffix}")


def _move_into_place(temporary: Path, directory: Path, filename: str, if_exists: str) -> Path:
    if if_exists == "replace":
        target = directory / filename
        temporary.replace(target)  # atomic on POSIX and on NTFS
        return target
    for candidate in _candidates(filename):
        target = directory / candidate
        try:
            # A hard link fails if the name exists: an atomic "create, never overwrite".
            os.link(temporary, target)
            return target
        except FileExistsError:
            if if_exists == "error":
                raise AttachmentExistsError(
                    errno.EEXIST, f"{candidate} already exists", str(target)
                ) from None
            continue
        except OSError as error:
            if error.errno not in _NO_HARD_LINKS:
                raise
        # No hard links here (FAT, some network file systems): reserve the name with
        # O_EXCL, then move the finished file over our own empty placeholder.
        try:
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if if_exists == "error":
                raise AttachmentExistsError(
                    errno.EEXIST, f"{candidate} already exists", str(target)
                ) from None
            continue
        os.close(descriptor)
        temporary.replace(target)
        return target
    raise AttachmentSaveError(errno.EEXIST, f"no free name for {filename} in {directory}")


_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}
)
