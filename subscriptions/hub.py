"""The per-process event hub: one backend subscription per channel, fanned out to bounded local queues.

Why not broadcaster 0.3.1's ``Broadcast`` directly (docs/RULES.md,
"Realtime"): it keeps one unbounded queue per subscriber, can lose a subscriber
when two subscribe to a new channel at once, and never notices that its Redis
connection died. The hub keeps broadcaster's backend interface but:

- subscribes each channel on the backend once, when its first local
  subscriber arrives (serialised, confirmed by Redis), and unsubscribes it as
  soon as the last one leaves (:meth:`Hub.subscriber_count` counts them);
- gives each subscriber a queue of at most ``queue_size`` messages; a
  subscriber that falls that far behind is ended with
  :class:`StreamInterrupted` instead of buffering without bound;
- runs a supervisor that reconnects with backoff (50 ms doubling to
  ``max_backoff``) when the backend fails. Choice: every subscription that was
  open when the stream broke is *ended* with :class:`StreamInterrupted`
  ("event stream interrupted; resubscribe") rather than silently resumed,
  because events published while the backend was down are lost; the client
  resubscribes (a live query then re-reads its page). While the backend is
  down, new subscriptions fail at once with the same error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from broadcaster._backends.base import BroadcastBackend

from subscriptions.backends import backend_for
from subscriptions.channels import decode
from subscriptions.events import Event

log = logging.getLogger(__name__)

INTERRUPTED = "event stream interrupted; resubscribe"
UNAVAILABLE = "event stream unavailable; resubscribe shortly"
FELL_BEHIND = "subscriber fell behind and events were dropped; resubscribe"


class StreamInterrupted(Exception):
    """The subscription's event stream ended abnormally; the client should resubscribe."""


class Message:
    """One published message as every local subscriber of its channel receives it (the same object).

    ``events`` is decoded once per process; ``shared`` lets subscribers share
    work derived from the message (e.g. one database check for many
    subscribers with the same filter).
    """

    __slots__ = ("channel", "text", "_events", "shared")

    def __init__(self, channel: str, text: str):
        self.channel = channel
        self.text = text
        self._events: list[Event] | None = None
        self.shared: dict[Any, Any] = {}

    @property
    def events(self) -> list[Event]:
        if self._events is None:
            try:
                self._events = decode(self.text)
            except (ValueError, TypeError, KeyError):
                log.warning("dropping a malformed message on %s", self.channel)
                self._events = []
        return self._events


_END = object()


class Consumers:
    """How many consumers the subscriptions opened under :func:`consumed_by` serve.

    A shared GraphQL stream (:mod:`server.multiplex`) serves every identical
    subscription from one hub subscription; it keeps ``count`` equal to its
    members so that :meth:`Hub.subscriber_count` still counts subscribers, not streams.
    """

    __slots__ = ("count",)

    def __init__(self, count: int):
        self.count = count


_consumers: ContextVar[Consumers | None] = ContextVar("certify_hub_consumers", default=None)


@contextmanager
def consumed_by(consumers: Consumers):
    """Subscriptions opened in this block (and in tasks started from it) count as ``consumers.count`` subscribers."""
    token = _consumers.set(consumers)
    try:
        yield consumers
    finally:
        _consumers.reset(token)


class Subscription:
    """A local subscriber's bounded queue of :class:`Message`; :meth:`get` raises once the stream has ended.

    One consumer (the subscription's generator). The queue is a deque created
    on the first message and dropped once drained, so an idle subscriber holds
    no buffer (an ``asyncio.Queue`` costs three deques, ≈ 2 KB, per subscriber).
    """

    __slots__ = ("channel", "consumers", "_maxsize", "_items", "_waiter", "_error")

    def __init__(self, channel: str, maxsize: int):
        self.channel = channel
        self.consumers = _consumers.get()
        self._maxsize = maxsize
        self._items: deque[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: StreamInterrupted | None = None

    async def get(self) -> Message:
        """The next message. Raises :class:`StreamInterrupted` once the stream has ended."""
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._unwrap(self._pop())

    def get_nowait(self) -> Message | None:
        """The next message if one is waiting, else None. Raises like :meth:`get`."""
        if not self._items:
            return None
        return self._unwrap(self._pop())

    def _pop(self) -> Any:
        items = self._items
        assert items
        item = items.popleft()
        if not items:
            self._items = None
        return item

    def _put(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _unwrap(self, item: Any) -> Message:
        if item is _END:
            self._put(_END)  # every later get() raises too
            assert self._error is not None
            raise self._error
        return item

    def deliver(self, message: Message) -> None:
        if self._error is not None:
            return
        if self._maxsize > 0 and self._items is not None and len(self._items) >= self._maxsize:
            self.end(StreamInterrupted(FELL_BEHIND))
            return
        self._put(message)

    def end(self, error: StreamInterrupted) -> None:
        """End the stream: queued messages are still read, then :meth:`get` raises ``error``."""
        if self._error is not None:
            return
        self._error = error
        if error.args[0] == FELL_BEHIND or (
            self._maxsize > 0 and self._items is not None and len(self._items) >= self._maxsize
        ):
            self._items = None
        self._put(_END)


class Hub:
    """Channels of one process over one broadcaster-style backend (``memory://`` or ``redis://``).

    Args:
        url: the backend URL (``CERTIFY_BROADCAST_URL``).
        prefix: prepended to every channel on the backend, to isolate deployments sharing a Redis.
        queue_size: messages buffered per subscriber before it is ended as too slow.
        timeout: seconds allowed to connect, subscribe and publish.
        max_backoff: longest pause between reconnection attempts, seconds.
        health_seconds: silence after which a Redis stream is PINGed (dead if no PONG within ``timeout``).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        queue_size: int = 1000,
        timeout: float = 2.0,
        max_backoff: float = 1.0,
        health_seconds: float = 5.0,
    ):
        self._url = url
        self._in_process = url.startswith("memory://")
        self._health_seconds = health_seconds
        self._prefix = prefix
        self._queue_size = queue_size
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._backend: BroadcastBackend | None = None
        self._local: dict[str, set[Subscription]] = {}
        self._subscribed: set[str] = set()
        self._lock = asyncio.Lock()
        self._up = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self._chores: set[asyncio.Task] = set()
        self.interruptions = 0

    async def start(self) -> None:
        """Start the supervisor and wait up to ``timeout`` for the first connection (events are best-effort)."""
        self._supervisor = asyncio.create_task(self._supervise(), name="certify-hub")
        try:
            await asyncio.wait_for(self._up.wait(), self._timeout)
        except TimeoutError:
            log.warning("event backend %s not reachable yet; retrying in the background", self._url)

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with suppress(asyncio.CancelledError):
                await self._supervisor
        for task in list(self._chores):
            task.cancel()
        await asyncio.gather(*self._chores, return_exceptions=True)

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def connected(self) -> bool:
        return self._backend is not None

    def subscriber_count(self, channel: str | None = None) -> int:
        """Local subscribers of ``channel``, or of every channel (a shared stream counts as its :class:`Consumers`)."""
        channels = [self._local.get(channel, ())] if channel is not None else self._local.values()
        return sum(
            1 if subscription.consumers is None else subscription.consumers.count
            for subscriptions in channels
            for subscription in subscriptions
        )

    def reaches(self, channel: str) -> bool:
        """Whether a message published on ``channel`` now can reach anyone.

        ``memory://`` delivers only in this process, so a channel without a local subscriber reaches no one
        (100,000 sittings certified tell 100,000 test takers, few connected); other backends reach other processes.
        """
        return not self._in_process or channel in self._local

    def backend_channel_count(self) -> int:
        """Channels this process holds a backend subscription for."""
        return len(self._subscribed)

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until the backend is connected; False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """Receive ``channel``'s messages while the block runs.

        Raises:
            StreamInterrupted: the backend is down or refused the subscription.
        """
        backend = self._backend
        if backend is None:
            raise StreamInterrupted(UNAVAILABLE)
        subscription = Subscription(channel, self._queue_size)
        self._local.setdefault(channel, set()).add(subscription)
        try:
            try:
                async with self._lock:
                    if channel not in self._subscribed and self._backend is backend:
                        await backend.subscribe(self._prefix + channel)
                        self._subscribed.add(channel)
            except Exception as exc:
                log.warning("could not subscribe to %s: %r", channel, exc)
                raise StreamInterrupted(UNAVAILABLE) from exc
            yield subscription
        finally:
            subscribers = self._local.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._local[channel]
                    self._chore(self._release(channel))

    async def publish(self, channel: str, text: str) -> None:
        """Publish ``text`` on ``channel``.

        Raises:
            ConnectionError: the backend is down; TimeoutError: it did not answer within ``timeout``.
        """
        backend = self._backend
        if backend is None:
            raise ConnectionError("the event backend is not connected")
        # A timeout scope rather than wait_for, which wraps every publish in a task of its own: a
        # certification of 100,000 sittings publishes to 100,000 test takers' channels.
        async with asyncio.timeout(self._timeout):
            await backend.publish(self._prefix + channel, text)

    def _chore(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _release(self, channel: str) -> None:
        """Unsubscribe ``channel`` on the backend if no local subscriber came back meanwhile."""
        async with self._lock:
            if channel in self._local or channel not in self._subscribed:
                return
            self._subscribed.discard(channel)
            backend = self._backend
            if backend is None:
                return
            try:
                await asyncio.wait_for(backend.unsubscribe(self._prefix + channel), self._timeout)
            except Exception as exc:  # noqa: BLE001 - the supervisor notices a dead backend
                log.warning("could not unsubscribe from %s: %r", channel, exc)

    def _fan_out(self, channel: str, text: str) -> None:
        if not channel.startswith(self._prefix):
            return
        channel = channel[len(self._prefix) :]
        subscribers = self._local.get(channel)
        if not subscribers:
            return
        message = Message(channel, text)
        for subscription in list(subscribers):
            subscription.deliver(message)

    async def _supervise(self) -> None:
        delay = 0.05
        while True:
            backend = backend_for(self._url, timeout=self._timeout, health_seconds=self._health_seconds)
            try:
                await asyncio.wait_for(backend.connect(), self._timeout)
                async with self._lock:
                    for channel in list(self._local):
                        await backend.subscribe(self._prefix + channel)
                    self._subscribed = set(self._local)
                    self._backend = backend
            except Exception as exc:  # noqa: BLE001 - retried with backoff
                log.warning("event backend %s unreachable (%r); retrying in %.2fs", self._url, exc, delay)
                await self._dispose(backend)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            delay = 0.05
            self._up.set()
            log.info("event backend %s connected", self._url)
            try:
                while True:
                    event = await backend.next_published()
                    self._fan_out(event.channel, event.message)
            except Exception as exc:  # noqa: BLE001 - reconnect below
                log.warning("event stream from %s lost: %r", self._url, exc)
                self._interrupt()
            finally:
                self._up.clear()
                self._backend = None
                self._subscribed.clear()
                await self._dispose(backend)

    def _interrupt(self) -> None:
        """Mark the backend down and end every open subscription (they resubscribe)."""
        self._up.clear()
        self._backend = None
        self._subscribed.clear()
        self.interruptions += 1
        for subscribers in self._local.values():
            for subscription in list(subscribers):
                subscription.end(StreamInterrupted(INTERRUPTED))

    @staticmethod
    async def _dispose(backend: BroadcastBackend) -> None:
        with suppress(Exception):
            await asyncio.wait_for(backend.disconnect(), 2)
