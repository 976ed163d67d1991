"""The order folders are listed in, by the folder pane and the folder picker alike."""

from __future__ import annotations

from collections.abc import Sequence

from tui.protocol import FolderInfo

__all__ = ["sort_folders"]


# RFC 6154 special-use attributes, in the order the pane lists them.
_SPECIAL_ORDER = {
    "\\inbox": 0,
    "\\drafts": 2,
    "\\sent": 3,
    "\\archive": 4,
    "\\all": 5,
    "\\flagged": 6,
    "\\junk": 7,
    "\\trash": 8,
}


def _rank(folder: FolderInfo) -> tuple[int, str]:
    if folder.name.upper() == "INBOX":
        return (0, "")
    special = (folder.special_use or "").lower()
    return (_SPECIAL_ORDER.get(special, 10), folder.display_name.casefold())


def sort_folders(folders: Sequence[FolderInfo]) -> list[FolderInfo]:
    """Order folders: INBOX, special-use ones, then the rest alphabetically."""
    return sorted(folders, key=_rank)
