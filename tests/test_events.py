"""The event bus's subscriptions: a burst is taken in one batch, in order; close ends it."""

from __future__ import annotations

import asyncio

import pytest

from sync.events import EventBus


async def test_get_batch_waits_then_takes_the_whole_burst_in_order() -> None:
    bus: EventBus[int] = EventBus()
    with bus.subscribe() as subscription:
        waiting = asyncio.create_task(subscription.get_batch())
        await asyncio.sleep(0)  # it waits: nothing is queued yet
        assert not waiting.done()
        for number in (1, 2, 3):
            bus.publish(number)
        assert await waiting == [1, 2, 3]
        bus.publish(4)
        assert await subscription.get_batch() == [4]
        bus.close()
        with pytest.raises(StopAsyncIteration):
            await subscription.get_batch()
