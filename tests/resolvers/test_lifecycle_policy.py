"""Calendar months of validity and the claim deadline after a rejection (resolvers/lifecycle_policy.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from resolvers.lifecycle_policy import LifecyclePolicy, add_months, expires_at


@pytest.mark.parametrize(
    ("taken_at", "months", "expected"),
    [
        (datetime(2026, 1, 31, 10, tzinfo=UTC), 1, datetime(2026, 2, 28, 10, tzinfo=UTC)),
        (datetime(2028, 1, 31, 10, tzinfo=UTC), 1, datetime(2028, 2, 29, 10, tzinfo=UTC)),
        (datetime(2027, 2, 28, 10, tzinfo=UTC), 12, datetime(2028, 2, 28, 10, tzinfo=UTC)),
        (datetime(2028, 2, 29, 10, tzinfo=UTC), 12, datetime(2029, 2, 28, 10, tzinfo=UTC)),
        (
            datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC),
            1,
            datetime(2026, 4, 30, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (datetime(2026, 12, 31, 10, tzinfo=UTC), 2, datetime(2027, 2, 28, 10, tzinfo=UTC)),
        (datetime(2026, 1, 31, 10, tzinfo=UTC), 25, datetime(2028, 2, 29, 10, tzinfo=UTC)),
        (datetime(2026, 1, 15, 10, tzinfo=UTC), 1200, datetime(2126, 1, 15, 10, tzinfo=UTC)),
        (datetime(2026, 5, 31, 10, tzinfo=UTC), 0, datetime(2026, 5, 31, 10, tzinfo=UTC)),
    ],
    ids=[
        "31 Jan to 28 Feb",
        "31 Jan to 29 Feb of a leap year",
        "28 Feb to 28 Feb of a leap year",
        "29 Feb to 28 Feb",
        "31 Mar to 30 Apr, the clock kept",
        "over the year's end",
        "two years and a month to a leap day",
        "a hundred years",
        "no months",
    ],
)
def test_months_are_calendar_months_with_the_day_clamped_to_the_months_end(taken_at, months, expected):
    # when months are added to an instant, then the day is kept or clamped and the clock time kept
    assert add_months(taken_at, months) == expected
    assert expires_at(taken_at, months) == expected


def test_a_sitting_taken_elsewhere_expires_by_utc_calendar_months():
    # given a sitting taken on 31 January at 01:00 in UTC+2, which is 30 January at 23:00 in UTC
    taken_at = datetime(2026, 1, 31, 1, tzinfo=timezone(timedelta(hours=2)))

    # when it is valid for one month, then it expires a UTC month later, on 28 February, in UTC
    expiry = expires_at(taken_at, 1)
    assert expiry == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert expiry.utcoffset() == timedelta(0)


def test_a_test_without_a_validity_never_expires():
    assert expires_at(datetime(2026, 1, 31, 10, tzinfo=UTC), None) is None


REJECTED_AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
POLICY = LifecyclePolicy(claim_window=timedelta(days=90), claim_reminders=(timedelta(days=14), timedelta(days=3)))


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        (REJECTED_AT + timedelta(days=30), REJECTED_AT + timedelta(days=30)),
        (REJECTED_AT + timedelta(days=3), REJECTED_AT + timedelta(days=3)),
        (REJECTED_AT + timedelta(days=3) - timedelta(microseconds=1), REJECTED_AT + timedelta(days=90)),
        (REJECTED_AT, REJECTED_AT + timedelta(days=90)),
        (REJECTED_AT - timedelta(days=10), REJECTED_AT + timedelta(days=90)),
        (None, None),
    ],
    ids=["well before", "exactly the shortest lead before", "nearer than it", "at it", "after it", "no deadline"],
)
def test_a_rejection_after_or_near_the_deadline_gives_a_whole_window(deadline, expected):
    # when a claim is rejected with the deadline this far away, then the deadline is as the rule says
    assert POLICY.deadline_after_rejection(deadline, REJECTED_AT) == expected


def test_without_reminders_the_margin_is_the_claim_window():
    # given no claim reminders: a rejection less than a whole window before the deadline moves it
    policy = LifecyclePolicy(claim_window=timedelta(days=10), claim_reminders=())

    assert policy.deadline_after_rejection(REJECTED_AT + timedelta(days=10), REJECTED_AT) == REJECTED_AT + timedelta(
        days=10
    )
    assert policy.deadline_after_rejection(REJECTED_AT + timedelta(days=2), REJECTED_AT) == REJECTED_AT + timedelta(
        days=10
    )


def test_a_rejection_never_moves_the_deadline_earlier():
    # given a reminder lead longer than the claim window (the settings allow it)
    policy = LifecyclePolicy(claim_window=timedelta(hours=1), claim_reminders=(timedelta(days=2),))

    # when a claim is rejected a day before its (extended) deadline, then the deadline stays
    deadline = REJECTED_AT + timedelta(days=1)
    assert policy.deadline_after_rejection(deadline, REJECTED_AT) == deadline

    # and when the deadline has passed, then a whole window from the rejection
    passed = REJECTED_AT - timedelta(minutes=5)
    assert policy.deadline_after_rejection(passed, REJECTED_AT) == REJECTED_AT + timedelta(hours=1)
