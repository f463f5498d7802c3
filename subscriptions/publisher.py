"""Publishing committed events through broadcaster, batched per channel."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from broadcaster import Broadcast

from subscriptions.channels import channels_of, encode
from subscriptions.events import Event

log = logging.getLogger(__name__)

BATCH = 1000


class BroadcastPublisher:
    """Sends events to their channels, at most 1,000 per message; never raises (best-effort).

    Call only after the transaction that produced the events has committed.
    """

    def __init__(self, broadcast: Broadcast):
        self._broadcast = broadcast

    async def publish(self, events: Sequence[Event]) -> None:
        by_channel: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            for channel in channels_of(event):
                by_channel[channel].append(event)
        for channel, batch in by_channel.items():
            for start in range(0, len(batch), BATCH):
                try:
                    await self._broadcast.publish(channel, encode(batch[start : start + BATCH]))
                except Exception:  # noqa: BLE001 - events are best-effort; the commit stands
                    log.warning("could not publish %d events to %s", len(batch), channel, exc_info=True)
