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

    ``timeout`` (seconds) bounds connecting, publishing, waiting for a
    SUBSCRIBE confirmation and waiting for a PONG. ``health_seconds``: after
    that long without a byte from Redis, the subscriber connection sends a
    PING; no answer within ``timeout`` means the connection is dead, even if
    it was never closed (a frozen server, a network that silently drops
    packets), so a silent stream is noticed within ``health_seconds +
    timeout`` (docs/RULES.md, "Realtime").
    """

    def __init__(self, url: str, *, timeout: float = 2.0, health_seconds: float = 5.0):
        self._url = url
        self._timeout = timeout
        self._health_seconds = health_seconds
        self._client: redis.Redis | None = None
        self._pubsub: Any = None
        self._confirmations: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._heard = 0.0
        self._pinged: float | None = None

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
        self._heard = asyncio.get_running_loop().time()

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
        """The next message; raises (ConnectionError, TimeoutError, …) when the connection is lost or silent."""
        while True:
            message = await self._pubsub.get_message(timeout=await self._check_health())
            if message is None:
                continue
            self._heard, self._pinged = asyncio.get_running_loop().time(), None
            kind, channel = message["type"], message["channel"]
            if kind == "message":
                return Event(channel=channel.decode(), message=message["data"].decode())
            if kind == "subscribe":
                waiters = self._confirmations.get(channel.decode())
                if waiters:
                    waiter = waiters.pop(0)
                    if not waiter.done():
                        waiter.set_result(None)

    async def _check_health(self) -> float:
        """PING after ``health_seconds`` of silence; raise when the PONG is ``timeout`` late; return how long to wait."""
        now = asyncio.get_running_loop().time()
        if self._pinged is None and now - self._heard >= self._health_seconds:
            await asyncio.wait_for(self._pubsub.ping(), self._timeout)
            self._pinged = now
        if self._pinged is None:
            return max(self._health_seconds - (now - self._heard), 0.01)
        if now - self._pinged >= self._timeout:
            raise ConnectionError(f"redis sent nothing for {now - self._heard:.1f} s and did not answer a PING")
        return max(self._timeout - (now - self._pinged), 0.01)


def backend_for(url: str, *, timeout: float = 2.0, health_seconds: float = 5.0) -> BroadcastBackend:
    """A fresh, unconnected backend for ``url`` (``memory://``, ``redis://``, ``rediss://``, else broadcaster's).

    ``health_seconds``: how often a silent Redis subscriber connection is PINGed (:class:`RedisBackend`).
    """
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryBackend(url)
    if scheme in ("redis", "rediss"):
        return RedisBackend(url, timeout=timeout, health_seconds=health_seconds)
    return Broadcast(url)._backend  # postgres://, kafka://: broadcaster's own backends
