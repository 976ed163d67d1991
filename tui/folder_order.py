"""The order folders are listed in, by the folder pane and the folder picker alike, and how
the pane nests them by each folder's hierarchy delimiter (RFC 3501 §5.1.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.protocol import FolderInfo

__all__ = ["TreeEntry", "folder_parts", "folder_tree", "sort_folders"]


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
_PLAIN = 10


def _rank(folder: FolderInfo) -> tuple[int, str]:
    if folder.name.upper() == "INBOX":
        return (0, "")
    special = (folder.special_use or "").lower()
    return (_SPECIAL_ORDER.get(special, _PLAIN), folder.display_name.casefold())


def sort_folders(folders: Sequence[FolderInfo]) -> list[FolderInfo]:
    """Order folders: INBOX, special-use ones, then the rest alphabetically."""
    return sorted(folders, key=_rank)


def folder_parts(folder: FolderInfo) -> tuple[str, ...]:
    """The folder's name split at its own delimiter: ``("Projects", "alpha")``.

    Servers differ ("/" on one, "." on another), so the delimiter is the folder's, never
    assumed. INBOX and folders of a flat namespace (no delimiter) are one part.
    """
    name = folder.display_name or folder.name
    if folder.delimiter and name.upper() != "INBOX":
        parts = tuple(part for part in name.split(folder.delimiter) if part)
        return parts or (name,)
    return (name,)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One row of the folder pane: the path from the top, and the folder there, or None for a
    level that is not itself a shown folder (a ``\\Noselect`` parent, or one not kept)."""

    path: tuple[str, ...]
    folder: FolderInfo | None


def folder_tree(folders: Sequence[FolderInfo]) -> list[TreeEntry]:
    """The pane's rows in order: every parent before its children, siblings in
    ``sort_folders`` order, a missing parent level made up once.

    A child that sorts before its parent (``Work/Sent`` is special-use, ``Work`` is not)
    still comes after it, under it.
    """
    by_path: dict[tuple[str, ...], list[FolderInfo]] = {}
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for folder in sort_folders(folders):
        path = folder_parts(folder)
        if path not in by_path:
            by_path[path] = []
            for depth in range(len(path), 0, -1):  # link the path and any level missing above
                parent, here = path[: depth - 1], path[:depth]
                siblings = children.setdefault(parent, [])
                if here in siblings:
                    break
                siblings.append(here)
        by_path[path].append(folder)

    def key(path: tuple[str, ...]) -> tuple[int, str]:
        shown = by_path.get(path)
        return _rank(shown[0]) if shown else (_PLAIN, path[-1].casefold())

    rows: list[TreeEntry] = []

    def walk(parent: tuple[str, ...]) -> None:
        for path in sorted(children.get(parent, ()), key=key):
            shown: list[FolderInfo | None] = [*by_path.get(path, ())] or [None]
            rows.extend(TreeEntry(path, folder) for folder in shown)
            walk(path)

    walk(())
    return rows
