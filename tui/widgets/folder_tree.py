"""The folder pane: accounts, then their folders with unread counts, nested by the delimiter.

Labels are built as `Text` from cleaned names (Tree parses a plain ``str`` label as markup).
Special-use folders come first (RFC 6154 attributes), in the order people expect; the rest
follow alphabetically. Counts update in place, so the cursor and expansion survive new mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.folder_order import folder_parts, folder_tree
from tui.keys import bindings_for
from tui.protocol import AccountInfo, FolderInfo
from tui.text import as_text, clean

__all__ = ["FolderTree", "folder_label"]


NodeData = AccountInfo | FolderInfo | None


def folder_label(leaf: str, unread: int) -> Text:
    """A folder's label: its (cleaned) last name part, then its unread count in bold."""
    label = as_text(clean(leaf, max_length=120))
    if unread:
        label.append(f" {unread}", style="bold")
    return label


class FolderTree(Tree[NodeData]):
    """Accounts and their folders; posts `FolderTree.FolderChosen` when a folder is picked."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings_for("folders"))

    class FolderChosen(Message):
        """The user picked a folder."""

        def __init__(self, folder: FolderInfo) -> None:
            super().__init__()
            self.folder = folder

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text("Mail"), None, id=id, classes=classes)
        self.show_root = False
        self.guide_depth = 2
        self._folder_nodes: dict[int, TreeNode[NodeData]] = {}
        self._shape: tuple[tuple[int, str, str | None], ...] = ()

    def process_label(self, label: str | Text) -> Text:
        """Never parse a label as markup: a ``str`` becomes plain `Text`."""
        text = as_text(clean(label)) if isinstance(label, str) else label
        return text.split()[0] if text.plain else text

    def show_folders(self, accounts: Sequence[AccountInfo], folders: Sequence[FolderInfo]) -> None:
        """Show these accounts and folders; counts update in place when the shape is unchanged."""
        shape = tuple(
            (f.id, f.name, f.delimiter) for f in sorted(folders, key=lambda f: f.id)
        ) + tuple((-a.id, a.name, None) for a in accounts)
        if shape == self._shape:
            for folder in folders:
                node = self._folder_nodes.get(folder.id)
                if node is not None:
                    node.data = folder
                    node.set_label(folder_label(_leaf(folder), folder.unread))
            return
        self._shape = shape
        chosen = self.chosen_folder_id
        self.clear()
        self._folder_nodes.clear()
        for account in accounts:
            account_node = self.root.add(
                as_text(clean(account.name), "bold"), data=account, expand=True
            )
            mine = [f for f in folders if f.account_id == account.id]
            nodes: dict[tuple[str, ...], TreeNode[NodeData]] = {}
            for entry in folder_tree(mine):
                parent = nodes.get(entry.path[:-1], account_node)
                shown = entry.folder
                if shown is None:  # a level that is not a folder itself (\Noselect)
                    nodes[entry.path] = parent.add(as_text(clean(entry.path[-1])), expand=True)
                    continue
                node = parent.add(
                    folder_label(entry.path[-1], shown.unread), data=shown, expand=True
                )
                nodes[entry.path] = node
                self._folder_nodes[shown.id] = node
        for node in self._folder_nodes.values():
            if not node.children:
                node.allow_expand = False  # a leaf: no expand arrow
        if chosen is not None and chosen in self._folder_nodes:
            self.move_cursor(self._folder_nodes[chosen])

    @property
    def chosen_folder_id(self) -> int | None:
        """The folder under the cursor, if the cursor is on a folder."""
        node = self.cursor_node
        return node.data.id if node is not None and isinstance(node.data, FolderInfo) else None

    def select_folder(self, folder_id: int) -> bool:
        """Move the cursor to a folder; False when it is not shown."""
        node = self._folder_nodes.get(folder_id)
        if node is None:
            return False
        self.move_cursor(node)
        return True

    def folder(self, folder_id: int) -> FolderInfo | None:
        """The shown folder with this id."""
        node = self._folder_nodes.get(folder_id)
        return node.data if node is not None and isinstance(node.data, FolderInfo) else None

    def folders(self) -> list[FolderInfo]:
        """Every shown folder, in pane order."""
        return [n.data for n in self._folder_nodes.values() if isinstance(n.data, FolderInfo)]

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        """Enter or click on a folder chooses it."""
        if isinstance(event.node.data, FolderInfo):
            event.stop()
            self.post_message(self.FolderChosen(event.node.data))


def _leaf(folder: FolderInfo) -> str:
    return folder_parts(folder)[-1]
