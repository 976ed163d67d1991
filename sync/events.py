"""A small typed publish/subscribe bus: how the store and the engine announce changes.

Publishing never blocks and never awaits: each subscriber owns an unbounded queue, so a slow
subscriber cannot stall a sync transaction. Subscribers close their subscription when done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

__all__ = ["EventBus", "Subscription"]

EventT = TypeVar("EventT")


class Subscription(Generic[EventT]):
    """One subscriber's queue of events; iterate it with ``async for``, close it when done."""

    def __init__(self, bus: EventBus[EventT]) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[EventT | None] = asyncio.Queue()
        self.closed = False

    def _deliver(self, event: EventT | None) -> None:
        self._queue.put_nowait(event)

    async def get(self) -> EventT:
        """Wait for the next event. Raises ``StopAsyncIteration`` once closed."""
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def get_batch(self) -> list[EventT]:
        """Wait for the next event, then take every one queued behind it: a burst is
        handled once. Raises ``StopAsyncIteration`` once closed."""
        batch = [await self.get()]
        while (more := self.get_nowait()) is not None:
            batch.append(more)
        return batch

    def get_nowait(self) -> EventT | None:
        """Return the next queued event, or None when there is none."""
        try:
            event = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if event is None:
            self._queue.put_nowait(None)  # keep the close marker for the next reader
        return event

    def close(self) -> None:
        """Stop receiving events and wake any waiting reader."""
        if not self.closed:
            self.closed = True
            self._bus._remove(self)
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[EventT]:
        return self

    async def __anext__(self) -> EventT:
        return await self.get()

    def __enter__(self) -> Subscription[EventT]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventBus(Generic[EventT]):
    """Fan-out of typed events to any number of in-process subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription[EventT]] = []

    def subscribe(self) -> Subscription[EventT]:
        """Return a new subscription that receives every event published from now on."""
        subscription = Subscription(self)
        self._subscribers.append(subscription)
        return subscription

    def publish(self, event: EventT) -> None:
        """Deliver ``event`` to every current subscriber without blocking."""
        for subscription in list(self._subscribers):
            subscription._deliver(event)

    def close(self) -> None:
        """Close every subscription (their readers stop)."""
        for subscription in list(self._subscribers):
            subscription.close()

    def _remove(self, subscription: Subscription[EventT]) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)
