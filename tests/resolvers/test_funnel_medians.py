"""The funnel's median step times are exact for thousands of durations, whatever the sample finds.

On SQLite the median of a step is found from a sample of the durations that
bounds where the middle ones lie, then only the durations between the bounds
are sorted; when the bounds miss (an unlucky or hostile sample), the whole
step is sorted. PostgreSQL sorts them all. Every way must give Python's
``statistics.median`` to the microsecond: these tests build the rows
directly (thousands, too many for the API in a test) and also force the
fallback.
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from models import Certificate, Organisation, Sitting, Test, TestTaker
from models.enums import CertificateStatus, CertificationStatus, PhotoCheck, Role
from resolvers import funnel
from resolvers.principal import Principal

START = datetime(2026, 1, 1, tzinfo=UTC)
PLATFORM_ADMIN = Principal("medians", Role.PLATFORM_ADMIN)


async def certified_with_durations(durations: list[tuple[timedelta, timedelta | None]]) -> None:
    """One certified sitting per (to claim, to issue or None) pair, ids 1…n in order."""
    organisation = await Organisation.create(name="O", credit_balance=0)
    test = await Test.create(name="T", score_max=100, min_certifiable_score=0)
    taker = TestTaker.for_person(name="A", email="a@example.com")
    await taker.save()
    sittings, certificates = [], []
    for n, (to_claim, to_issue) in enumerate(durations, start=1):
        certified = START + timedelta(minutes=n, microseconds=n * 7919 % 1_000_000)
        claimed = certified + to_claim
        sittings.append(
            Sitting(
                id=n,
                external_id=f"m-{n}",
                organisation_id=organisation.id,
                test_taker_id=taker.id,
                test_id=test.id,
                taken_at=certified - timedelta(days=1),
                score=70,
                photo_check=PhotoCheck.PASSED,
                status=CertificationStatus.IN_PROGRESS if to_issue is None else CertificationStatus.CERTIFIED,
                certified_at=certified,
            )
        )
        certificates.append(
            Certificate(
                sitting_id=n,
                status=CertificateStatus.UNDER_REVIEW if to_issue is None else CertificateStatus.ISSUED,
                submitted_at=claimed,
                claimed_at=claimed,
                issued_at=None if to_issue is None else claimed + to_issue,
            )
        )
    await Sitting.bulk_create(sittings, batch_size=1000)
    await Certificate.bulk_create(certificates, batch_size=1000)


def exact_median(values: list[timedelta]) -> float:
    return statistics.median([v // timedelta(microseconds=1) for v in values]) / 1_000_000


def random_durations(rng: random.Random, n: int) -> list[tuple[timedelta, timedelta | None]]:
    return [
        (
            timedelta(seconds=rng.randint(1, 30 * 86400), microseconds=rng.randrange(1_000_000)),
            timedelta(seconds=rng.randint(1, 3 * 86400), microseconds=rng.randrange(1_000_000))
            if rng.random() < 0.5
            else None,
        )
        for _ in range(n)
    ]


async def assert_exact(durations) -> None:
    result = await funnel.certification_funnel(principal=PLATFORM_ADMIN)
    issues = [to_issue for _, to_issue in durations if to_issue is not None]
    assert (result.claimed, result.issued) == (len(durations), len(issues))
    assert result.median_seconds_to_claim == exact_median([to_claim for to_claim, _ in durations])
    assert result.median_seconds_to_issue == exact_median(issues)


@pytest.mark.parametrize("n", [9_000, 9_001])
async def test_medians_of_thousands_are_exact_through_the_sample(db, n, monkeypatch):
    # given n claimed sittings (about half issued) and a sample of about 1,000 a step
    monkeypatch.setattr(funnel, "MEDIAN_SAMPLE", 1000)
    durations = random_durations(random.Random(n), n)
    await certified_with_durations(durations)

    # then both medians are Python's, to the microsecond
    await assert_exact(durations)


async def test_a_sample_that_misses_the_middle_falls_back_to_sorting_everything(db, monkeypatch):
    # given durations where every sampled sitting (id a multiple of 4) took far longer than the rest
    monkeypatch.setattr(funnel, "MEDIAN_SAMPLE", 500)
    durations = [
        (timedelta(days=300 + n) if n % 4 == 0 else timedelta(seconds=n, microseconds=n), timedelta(seconds=n % 97))
        for n in range(1, 2_001)
    ]
    await certified_with_durations(durations)

    # then the bounds prove nothing and the medians still come out exact
    await assert_exact(durations)


async def test_small_samples_and_the_narrowest_margin_still_give_exact_medians(db, monkeypatch):
    # given samples of about 50 kept with the narrowest margin (16 sample ranks each side)
    monkeypatch.setattr(funnel, "MEDIAN_SAMPLE", 50)
    monkeypatch.setattr(funnel, "MEDIAN_MARGIN", 10**9)
    for seed in range(3):
        durations = random_durations(random.Random(seed), 400 + seed)
        await Certificate.all().delete()
        await Sitting.all().delete()
        await TestTaker.all().delete()
        await Test.all().delete()
        await Organisation.all().delete()
        await certified_with_durations(durations)

        await assert_exact(durations)
