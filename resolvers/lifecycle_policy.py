"""How long a certificate may wait for its claim, when people are reminded, and months of validity.

The durations are settings (README.md, "Settings": ``CERTIFY_CLAIM_WINDOW``,
``CERTIFY_CLAIM_REMINDERS``, ``CERTIFY_EXPIRY_REMINDER``); the rules that use
them are in docs/RULES.md, "The certificate's life".
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_CLAIM_WINDOW = timedelta(days=90)
DEFAULT_CLAIM_REMINDERS = (timedelta(days=14), timedelta(days=3))
DEFAULT_EXPIRY_REMINDER = timedelta(days=30)
MAX_VALIDITY_MONTHS = 1200
"""A hundred years: the longest validity a test may declare (``createTest(validityMonths)``)."""


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """The lifecycle's durations: the claim window, the leads of claim reminders and of the expiry reminder.

    ``claim_reminders`` are leads before the claim deadline, longest first;
    every duration is positive.
    """

    claim_window: timedelta = DEFAULT_CLAIM_WINDOW
    claim_reminders: tuple[timedelta, ...] = DEFAULT_CLAIM_REMINDERS
    expiry_reminder: timedelta = DEFAULT_EXPIRY_REMINDER

    def claim_deadline(self, certified_at: datetime) -> datetime:
        """When a certificate opened at ``certified_at`` lapses unless claimed."""
        return certified_at + self.claim_window

    def deadline_after_rejection(self, deadline: datetime | None, rejected_at: datetime) -> datetime | None:
        """The claim deadline once a claim is rejected at ``rejected_at``.

        A claim submitted before its deadline is never lapsed (docs/RULES.md,
        "The certificate's life"): when the deadline has passed, or is nearer
        than the shortest reminder lead (the claim window without reminders),
        the test taker gets a whole window from the rejection; otherwise it stays.
        The deadline never moves earlier (a lead may be longer than the window).
        """
        if deadline is None:
            return None
        grace = min(self.claim_reminders, default=self.claim_window)
        return max(deadline, rejected_at + self.claim_window) if deadline - rejected_at < grace else deadline


DEFAULT_POLICY = LifecyclePolicy()


def add_months(instant: datetime, months: int) -> datetime:
    """``instant`` plus ``months`` calendar months, the day clamped to the month's length (31 Jan + 1 = 28/29 Feb).

    The clock time and time zone are kept; ``months`` may be 0 or more.
    """
    index = instant.month - 1 + months
    year, month = instant.year + index // 12, index % 12 + 1
    day = min(instant.day, calendar.monthrange(year, month)[1])
    return instant.replace(year=year, month=month, day=day)


def expires_at(taken_at: datetime, validity_months: int | None) -> datetime | None:
    """The sitting's ``taken_at`` (aware) plus the test's validity in UTC calendar months, in UTC; None when it
    never expires."""
    return None if validity_months is None else add_months(taken_at.astimezone(UTC), validity_months)
