"""Pub/sub backends behind the hub: broadcaster's for ``memory://`` (and others), our own for Redis.

broadcaster 0.3.1's Redis backend swallows a lost connection (its listener task
dies and ``next_published`` waits forever). :class:`RedisBackend` implements the
same ``BroadcastBackend`` interface but lets every failure surface from
``next_published`` and confirms subscriptions with Redis before returning, so
the hub can reconnect and tell its subscribers.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any
from urllib.parse import urlparse

from broadcaster import Broadcast
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from broadcaster._base import Event
from redis import asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


class RedisBackend(BroadcastBackend):
    """Redis pub/sub on one subscriber connection; no hidden retries (the hub reconnects).

    ``timeout`` (seconds) bounds connecting, publishing and waiting for a
    SUBSCRIBE confirmation.
    """

    def __init__(self, url: str, *, timeout: float = 2.0):
        self._url = url
        self._timeout = timeout
        self._client: redis.Redis | None = None
        self._pubsub: Any = None
        self._confirmations: dict[str, list[asyncio.Future[None]]] = defaultdict(list)

    async def connect(self) -> None:
        self._client = redis.Redis.from_url(
            self._url,
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        self._pubsub = self._client.pubsub()
        await asyncio.wait_for(self._pubsub.connect(), self._timeout)

    async def disconnect(self) -> None:
        for waiters in self._confirmations.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionError("redis backend disconnected"))
        self._confirmations.clear()
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._confirmations[channel].append(waiter)
        await self._pubsub.subscribe(channel)
        await asyncio.wait_for(waiter, self._timeout)

    async def unsubscribe(self, channel: str) -> None:
        await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._client.publish(channel, message)

    async def next_published(self) -> Event:
        """The next message; raises (ConnectionError, …) when the connection is lost."""
        while True:
            message = await self._pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind, channel = message["type"], message["channel"]
            if kind == "message":
                return Event(channel=channel.decode(), message=message["data"].decode())
            if kind == "subscribe":
                waiters = self._confirmations.get(channel.decode())
                if waiters:
                    waiter = waiters.pop(0)
                    if not waiter.done():
                        waiter.set_result(None)


def backend_for(url: str, *, timeout: float = 2.0) -> BroadcastBackend:
    """A fresh, unconnected backend for ``url`` (``memory://``, ``redis://``, ``rediss://``, else broadcaster's)."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryBackend(url)
    if scheme in ("redis", "rediss"):
        return RedisBackend(url, timeout=timeout)
    return Broadcast(url)._backend  # postgres://, kafka://: broadcaster's own backends
