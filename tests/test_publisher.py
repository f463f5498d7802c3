"""The publisher sends each channel's events only where they can reach someone (subscriptions/publisher.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
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


def events_then_a_failure() -> Iterator:
    """Three events for two channels, then the error of whatever produced them."""
    yield NotificationCreated(1, 11, AT)
    yield CreditBalanceChanged(7, 90, -1, AT)
    yield NotificationCreated(1, 12, AT)
    raise RuntimeError("the sittings' query failed")


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_events_read_before_the_iterable_fails_are_sent_and_the_failure_is_logged(backend, caplog):
    if backend == "redis" and REDIS_URL is None:
        unavailable("Redis (CERTIFY_TEST_REDIS_URL)")
    url, prefix = ("memory://", "") if backend == "memory" else (REDIS_URL, f"test-{uuid.uuid4().hex}:")
    async with AsyncExitStack() as stack:
        sender = await stack.enter_async_context(Hub(url, prefix=prefix))
        # given subscribers of both channels: in this process on memory://, in another one through Redis
        receiver = sender if backend == "memory" else await stack.enter_async_context(Hub(url, prefix=prefix))
        test_taker = await stack.enter_async_context(receiver.subscribe(channels.test_taker_channel(1)))
        organisation = await stack.enter_async_context(receiver.subscribe(organisation_channel(7)))
        # when the iterable of events fails after three, then publishing returns
        with caplog.at_level(logging.ERROR, logger="subscriptions.publisher"):
            assert await BroadcastPublisher(sender).publish(events_then_a_failure()) is None
        # and the three events read reach their channels
        assert decode((await asyncio.wait_for(test_taker.get(), 5)).text) == [
            NotificationCreated(1, 11, AT),
            NotificationCreated(1, 12, AT),
        ]
        assert decode((await asyncio.wait_for(organisation.get(), 5)).text) == [CreditBalanceChanged(7, 90, -1, AT)]
    # and the failure is logged once, with its error
    logged = [record for record in caplog.records if record.name == "subscriptions.publisher"]
    assert [(record.levelname, record.getMessage()) for record in logged] == [
        ("ERROR", "could not read every event to publish; sending the 3 read before the error")
    ]
    assert repr(logged[0].exc_info[1]) == 'RuntimeError("the sittings\' query failed")'
