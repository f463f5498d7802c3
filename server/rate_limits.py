"""Per-principal budgets in cost points per minute, shared by every worker of the service.

Each operation spends its cost (:mod:`server.cost`) from its principal's budget
before it runs: HTTP queries and mutations and websocket subscribes alike.
The budget is the ``limits`` package's sliding-window counter: the points spent
in the current minute plus the previous minute's, weighted by how much of it
still overlaps the last 60 s. Like a token bucket refilled continuously, it lets a
caller spend its whole budget at once and then earn it back over a minute,
with no burst at a window's edge. The counters live in this process
(``memory://``) or, when ``CERTIFY_BROADCAST_URL`` is a Redis URL, in that
Redis, so every worker draws on one budget. Source of the figures:
docs/RULES.md, "Rate limits".
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger(__name__)

STORAGE_TIMEOUT_SECONDS = 1.0
"""A budget check that takes longer lets the operation through (and is logged): the limiter never stalls a request."""


@dataclass(frozen=True, slots=True)
class Throttled:
    """An operation refused for its budget: ``retry_after`` whole seconds (≥ 1) until it would pass."""

    retry_after: int
    points_per_minute: int


def storage_for(broadcast_url: str, *, key_prefix: str) -> Storage:
    """Redis when ``broadcast_url`` is ``redis://`` or ``rediss://`` (redis-py's asyncio client), else memory."""
    if broadcast_url.startswith(("redis://", "rediss://")):
        return RedisStorage(
            f"async+{broadcast_url}",
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
        )
    return MemoryStorage()


class RateLimiter:
    """Spends cost points from per-principal budgets; one per process.

    ``storage``: where the counters live (:func:`storage_for`).
    """

    def __init__(self, storage: Storage):
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._last_failure_logged = 0.0

    async def spend(self, key: str, cost: int, *, points_per_minute: int) -> Throttled | None:
        """Spend ``cost`` points of ``key``'s budget of ``points_per_minute``; None when they were spent.

        ``key`` names the principal (e.g. ``"user:org_admin:alice"``, ``"ip:127.0.0.1"``).
        A cost larger than the whole budget is refused as if the budget were
        empty. When the storage fails or is slower than 1 s the points are not
        counted and the operation goes on: a broken limiter must not take the
        service down with it.
        """
        item = RateLimitItemPerMinute(points_per_minute)
        cost = max(cost, 1)
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                if cost <= points_per_minute and await self._limiter.hit(item, key, cost=cost):
                    return None
                window = await self._storage.get_sliding_window(item.key_for(key), item.get_expiry())
        except Exception:  # noqa: BLE001 - any storage failure lets the request through
            self._log_failure()
            return None
        return Throttled(_seconds_until(points_per_minute - cost, item.get_expiry(), *window), points_per_minute)

    async def close(self) -> None:
        """Release the storage's connections."""
        reset = getattr(self._storage, "aclose", None) or getattr(self._storage, "close", None)
        if reset is not None:
            try:
                await reset()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def _log_failure(self) -> None:
        now = time.monotonic()
        if now - self._last_failure_logged > 60:
            self._last_failure_logged = now
            log.warning("rate limit storage unavailable: operations are not being counted", exc_info=True)


def _seconds_until(
    allowed: int,
    expiry: int,
    previous_count: int,
    previous_expires_in: float,
    current_count: int,
    current_expires_in: float,
) -> int:
    """Whole seconds until the weighted count of the sliding window is at most ``allowed``.

    The count is ``previous × (previous_expires_in − t) / expiry + current`` until the
    current window ends, then the current window's points fade out the same way.
    ``limits`` keeps each window's counter for two windows, so ``current_expires_in``
    is the time left in the current window plus one window.
    """
    if allowed < 0:
        return expiry
    if current_count <= allowed:
        if previous_count == 0:
            return 1
        wait = previous_expires_in - (allowed - current_count) * expiry / previous_count
    else:
        wait = (current_expires_in - expiry) + expiry * (1 - allowed / current_count)
    return max(1, math.ceil(wait))
