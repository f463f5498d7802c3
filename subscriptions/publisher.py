"""Publishing committed events through the hub, batched per channel."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from subscriptions.channels import channels_of, encode
from subscriptions.events import Event
from subscriptions.hub import Hub

log = logging.getLogger(__name__)

BATCH = 1000


class BroadcastPublisher:
    """Sends events to their channels, at most 1,000 per message; never raises (best-effort).

    Call only after the transaction that produced the events has committed.
    When the backend is down, each channel fails fast (the hub's timeout, 2 s
    by default; at once when the connection is refused) and is logged; the
    commit stands.
    """

    def __init__(self, hub: Hub):
        self._hub = hub

    async def publish(self, events: Sequence[Event]) -> None:
        by_channel: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            for channel in channels_of(event):
                by_channel[channel].append(event)
        for channel, batch in by_channel.items():
            try:
                for start in range(0, len(batch), BATCH):
                    await self._hub.publish(channel, encode(batch[start : start + BATCH]))
            except Exception as exc:  # noqa: BLE001 - events are best-effort; the commit stands
                log.warning("could not publish %d events to %s: %r", len(batch), channel, exc)
