"""Building blocks of the subscription generators: typed events, bursts, work shared per message.

The generators themselves (scoping, filters, queries) are in
:mod:`resolvers.realtime`; they hold ``async with hub.subscribe(channel)`` for
exactly as long as the subscription lives, so a cancelled or closed
subscription releases its channel at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import TypeVar

from subscriptions.hub import Message, Subscription

E = TypeVar("E")
T = TypeVar("T")


def events_of(message: Message, kind: type[E] | tuple[type, ...]) -> list[E]:
    """The events of ``message`` that are instances of ``kind``, in publication order."""
    return [event for event in message.events if isinstance(event, kind)]


async def typed_messages(subscription: Subscription, kind: type[E] | tuple[type, ...]) -> AsyncIterator[tuple[Message, list[E]]]:
    """Each message with at least one ``kind`` event, with those events. Raises StreamInterrupted when the stream ends."""
    while True:
        message = await subscription.get()
        events = events_of(message, kind)
        if events:
            yield message, events


async def bursts(subscription: Subscription, kind: tuple[type, ...], window: float) -> AsyncIterator[None]:
    """Once per burst of ``kind`` events, at most once per ``window`` seconds.

    The first event after a quiet ``window`` is answered at once, with every
    event already queued behind it absorbed (a commit's events are published
    together, after the commit: the consumer's re-read sees all of it); an
    event within ``window`` of the previous yield waits for the rest of that
    window and absorbs what came meanwhile. Events arriving while the consumer
    works start the next burst, so the last change is always followed by one
    more yield (no stale final state).
    """
    loop = asyncio.get_running_loop()
    quiet_at = float("-inf")
    async for _ in typed_messages(subscription, kind):
        if (wait := quiet_at - loop.time()) > 0:
            await asyncio.sleep(wait)
        while subscription.get_nowait() is not None:
            pass
        quiet_at = loop.time() + window
        yield


class _Computation:
    """A task computing a shared value and the futures of the subscribers waiting for it."""

    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Future):
        self.task = task
        self.waiters: list[asyncio.Future] = []
        task.add_done_callback(self._settle)

    def _settle(self, task: asyncio.Future) -> None:
        # One callback sets every waiter (asyncio.shield would cost two callbacks and a closure per waiter).
        if task.cancelled():
            for waiter in self.waiters:
                waiter.cancel()
        elif (error := task.exception()) is not None:
            for waiter in self.waiters:
                if not waiter.done():
                    waiter.set_exception(error)
        else:
            value = task.result()
            for waiter in self.waiters:
                if not waiter.done():
                    waiter.set_result(value)
        self.waiters = []


async def shared(message: Message, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
    """``compute()`` once per ``(message, key)`` for all local subscribers; a cancelled waiter does not cancel it."""
    computation = message.shared.get(key)
    if computation is None:
        computation = message.shared[key] = _Computation(asyncio.ensure_future(compute()))
    task = computation.task
    if task.done():
        return task.result()
    waiter = task.get_loop().create_future()
    computation.waiters.append(waiter)
    return await waiter
