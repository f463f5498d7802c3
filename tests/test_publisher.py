"""The publisher sends each channel's events only where they can reach someone (subscriptions/publisher.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from harness import REDIS_URL, unavailable

from subscriptions import channels
from subscriptions.channels import decode, organisation_channel
from subscriptions.events import CreditBalanceChanged, NotificationCreated
from subscriptions.hub import Hub
from subscriptions.publisher import BroadcastPublisher

AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


async def test_in_memory_only_channels_with_a_subscriber_are_sent():
    async with Hub("memory://") as hub:
        publisher = BroadcastPublisher(hub)
        # given a subscriber of test taker 1 only
        async with hub.subscribe(channels.test_taker_channel(1)) as subscription:
            assert hub.reaches(channels.test_taker_channel(1))
            assert not hub.reaches(channels.test_taker_channel(2))
            assert not hub.reaches(organisation_channel(7))
            # when a certification tells test takers 1 and 2 and changes the balance
            await publisher.publish(
                [NotificationCreated(1, 11, AT), NotificationCreated(2, 12, AT), CreditBalanceChanged(7, 90, -2, AT)]
            )
            # then test taker 1 hears their notification, and nothing else is in flight
            message = await asyncio.wait_for(subscription.get(), 5)
            assert decode(message.text) == [NotificationCreated(1, 11, AT)]
            assert subscription.get_nowait() is None
        assert not hub.reaches(channels.test_taker_channel(1))


async def test_through_redis_every_channel_is_sent_for_the_other_processes():
    if REDIS_URL is None:
        unavailable("Redis (CERTIFY_TEST_REDIS_URL)")
    prefix = f"test-{uuid.uuid4().hex}:"
    channel = channels.test_taker_channel(2)
    # given a subscriber in another process only
    async with (
        Hub(REDIS_URL, prefix=prefix) as sender,
        Hub(REDIS_URL, prefix=prefix) as other_process,
        other_process.subscribe(channel) as subscription,
    ):
        assert sender.reaches(channel)
        # when this process publishes, then the other hears it
        await BroadcastPublisher(sender).publish([NotificationCreated(2, 12, AT)])
        message = await asyncio.wait_for(subscription.get(), 5)
        assert decode(message.text) == [NotificationCreated(2, 12, AT)]
