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
MAX_DURATION = timedelta(days=3650)
"""Ten years: the longest claim window, reminder lead or deadline extension (longer ones are mistakes,
and far-future instants overflow Python's datetime)."""
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

    def claim_deadline(self, certified_at: datetime, expires: datetime | None = None) -> datetime:
        """When a certificate opened at ``certified_at`` lapses unless claimed: a claim window later,
        or when its sitting's validity ends (``expires``) if that is sooner, so the reminders and
        the lapse e-mail name the day it really lapses."""
        deadline = certified_at + self.claim_window
        return deadline if expires is None else min(deadline, expires)

    def deadline_after_rejection(
        self, deadline: datetime | None, rejected_at: datetime, expires: datetime | None = None
    ) -> datetime | None:
        """The claim deadline once a claim is rejected at ``rejected_at``.

        A claim submitted before its deadline is never lapsed (docs/RULES.md,
        "The certificate's life"): when the deadline has passed, or is nearer
        than the shortest reminder lead (the claim window without reminders),
        the test taker gets a whole window from the rejection; otherwise it stays.
        The deadline never moves earlier (a lead may be longer than the window),
        and a new window ends at the sitting's expiry (``expires``) if that is sooner.
        """
        if deadline is None:
            return None
        grace = min(self.claim_reminders, default=self.claim_window)
        if deadline - rejected_at >= grace:
            return deadline
        window_end = rejected_at + self.claim_window
        return max(deadline, window_end if expires is None else min(window_end, expires))


DEFAULT_POLICY = LifecyclePolicy()


def claimable_until(claim_deadline: datetime | None, expires: datetime | None) -> datetime | None:
    """When an unclaimed certificate lapses: its claim deadline, or its sitting's expiry if sooner (None: never)."""
    moments = [moment for moment in (claim_deadline, expires) if moment is not None]
    return min(moments) if moments else None


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
