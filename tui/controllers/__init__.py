"""Plain classes (not widgets) that hold the main screen's logic beside the panes: the
reader's (opening, bodies, pre-rendering), the search's (filter, search, threads) and the
list actions' (operations, writing mail, undo).

Each gets what it needs passed in: the backend, getters for the widgets it drives, and the
node whose workers it starts (`start_worker`), so an exclusive worker group replaces its
predecessor as an ``@work(exclusive=True)`` method of that node would.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine

from textual.dom import DOMNode
from textual.worker import Worker

__all__ = ["start_worker"]


def start_worker(
    host: DOMNode,
    work: Callable[[], Coroutine[None, None, None]],
    *,
    name: str,
    group: str,
    exclusive: bool,
) -> Worker[None]:
    """Run ``work`` as a worker of ``host`` (``exclusive``: cancelling the one before it in
    its group). A failure is not raised: the host's on_worker_state_changed reports it."""
    return host.run_worker(work, name=name, group=group, exclusive=exclusive, exit_on_error=False)
