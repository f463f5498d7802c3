"""Domain events published after a transaction commits.

Resolvers collect these while they work and hand them to a :class:`Publisher`
once the transaction has committed. Channel names and the wire encoding live
in :mod:`subscriptions.channels`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SittingStatusChanged:
    """One sitting moved from ``previous_status`` to ``status`` (CertificationStatus values)."""

    organisation_id: int
    sitting_id: int
    previous_status: str
    status: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SittingsRecorded:
    """Sittings of an organisation were created or had their facts changed."""

    organisation_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class CreditBalanceChanged:
    """An organisation's balance moved by ``delta`` credits to ``credit_balance``."""

    organisation_id: int
    credit_balance: int
    delta: int
    at: datetime


@dataclass(frozen=True, slots=True)
class NotificationCreated:
    """A notification now exists for ``test_taker_id``."""

    test_taker_id: int
    notification_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ReviewQueueChanged:
    """A certificate entered or left the review queue (``change``: ReviewQueueChange value)."""

    certificate_id: int
    organisation_id: int
    change: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CertificateRevoked:
    """An organisation's ISSUED certificate became REVOKED (its sitting stays CERTIFIED)."""

    organisation_id: int
    certificate_id: int
    at: datetime


Event = (
    SittingStatusChanged
    | SittingsRecorded
    | CreditBalanceChanged
    | NotificationCreated
    | ReviewQueueChanged
    | CertificateRevoked
)


class Publisher(Protocol):
    """Sends committed events to subscribers; best-effort, never raises to the caller."""

    async def publish(self, events: Iterable[Event]) -> None: ...


class NullPublisher:
    """A publisher that drops every event (CLI commands, scripts)."""

    async def publish(self, events: Iterable[Event]) -> None:
        return None
