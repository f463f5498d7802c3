"""Publishing committed events through the hub, batched per channel."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable

from subscriptions.channels import channels_of, encode
from subscriptions.events import Event
from subscriptions.hub import Hub

log = logging.getLogger(__name__)

BATCH = 1000
YIELD_EVERY = 200
"""Channels published to between two turns given to the event loop's other tasks."""
YIELD_EVERY_EVENTS = 500
"""Events read and sorted into channels between two such turns, about 1 ms of work on the development machine.

A certification of 100,000 sittings makes 200,000 events: 0.7 s in one go (bench/certify_bench.py), a
page asked meanwhile waited for all of it."""


class BroadcastPublisher:
    """Sends events to their channels, at most 1,000 per message; never raises (best-effort).

    Call only after the transaction that produced the events has committed.
    Channels that reach no one (:meth:`Hub.reaches`) are neither encoded nor sent.
    When the backend is down, each channel fails fast (the hub's timeout, 2 s
    by default; at once when the connection is refused) and is logged; the
    commit stands. The same on every backend (``memory://`` or Redis).
    """

    def __init__(self, hub: Hub):
        self._hub = hub

    async def publish(self, events: Iterable[Event]) -> None:
        """Send ``events`` (any iterable, read once and lazily) to their channels, in order within each channel.

        An iterable that raises while being read (``Exception``) is logged at ERROR with its error, and the
        events read before it are still sent; the caller never sees the error. Cancellation propagates.
        """
        by_channel = await self._by_channel(events)
        for sent, (channel, batch) in enumerate(by_channel.items(), 1):
            if sent % YIELD_EVERY == 0:
                # An in-memory backend never suspends: without this, the 100,000 test takers' channels of
                # one large certification would hold the event loop (every other request) for seconds.
                await asyncio.sleep(0)
            try:
                for start in range(0, len(batch), BATCH):
                    await self._hub.publish(channel, encode(batch[start : start + BATCH]))
            except Exception as exc:  # noqa: BLE001 - events are best-effort; the commit stands
                log.warning("could not publish %d events to %s: %r", len(batch), channel, exc)

    async def _by_channel(self, events: Iterable[Event]) -> dict[str, list[Event]]:
        """The events that can reach someone, by channel; those read before ``events`` raised, if it does."""
        by_channel: dict[str, list[Event]] = defaultdict(list)
        reaches = self._hub.reaches
        read = 0
        try:
            for event in events:
                for channel in channels_of(event):
                    if reaches(channel):
                        by_channel[channel].append(event)
                read += 1
                if read % YIELD_EVERY_EVENTS == 0:
                    await asyncio.sleep(0)
        except Exception:  # events are best-effort: the caller's commit stands, the events read go out
            log.exception("could not read every event to publish; sending the %d read before the error", read)
        return by_channel
