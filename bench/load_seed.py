"""The mixed load's data and its plan: one organisation's sittings in bulk, the claims waiting, the tokens.

:func:`seed` migrates a new database and writes, with bulk inserts, one
organisation with its credits, three tests and ``sittings`` sittings of as
many test takers (scores 30–100: below a test's pass mark INELIGIBLE, else
UNSELECTED), then certifies ``claims`` of the eligible ones through the real
verb (``certify_sittings``) so that their test takers have a certificate
to claim. :func:`plans` splits what is left between the phases of the load
(a quiet baseline and the load itself) so that no two users ever act on the
same sitting or certificate, and mints every token: a user's own subject each,
so that each has its own rate-limit budget.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise import Tortoise

from bench.serving import SECRET
from models import CreditTransaction, Organisation, Sitting, Test, TestTaker
from models.db import forget_compiled_statements, migrate, tortoise_config
from models.enums import CertificationStatus, CreditTransactionKind, IneligibilityReason, PhotoCheck, Role
from resolvers.certification import certify_sittings
from resolvers.global_ids import to_global_id
from resolvers.principal import Principal
from resolvers.selection import Selection
from server.auth import TokenService
from server.settings import Settings
from subscriptions.events import NullPublisher

TESTS = (("English B2 Academic", 60), ("Deutsch Zertifikat B1", 60), ("Español DELE A2", 50))
BATCH = 2000


@dataclass(slots=True)
class Seeded:
    """What :func:`seed` wrote: the organisation and test primary keys, the eligible UNSELECTED sittings'
    keys, and the certified sittings as ``(sitting pk, test taker pk)``."""

    organisation: int
    tests: list[int]
    unselected: list[int]
    certified: list[tuple[int, int]]


@dataclass(slots=True)
class Plan:
    """One phase's share, as the locust users read it (JSON): global IDs and tokens.

    ``admins``: ``{"token", "sittings": [IDs]}`` each, disjoint; ``claims``:
    ``{"token", "sitting"}`` each (a test taker and their certified sitting);
    ``dashboards``, ``subscribers``, ``reviewers``, ``analysts``: a token each.
    """

    organisation: str
    tests: list[str]
    admins: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    dashboards: list[str] = field(default_factory=list)
    subscribers: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    analysts: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


async def seed(database_url: str, *, sittings: int, claims: int, seed_value: int = 6) -> Seeded:
    """Migrate ``database_url`` and write the data (see the module); about 5 s for 20,000 sittings on SQLite."""
    rng = random.Random(seed_value)
    forget_compiled_statements()
    await migrate(database_url)
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    try:
        credits = sittings * 2
        org = await Organisation.create(name="Northwind Language Centre", credit_balance=credits)
        await CreditTransaction.create(
            organisation=org, kind=CreditTransactionKind.PURCHASE, delta=credits, balance_after=credits,
            reference="bench-load", actor="bench",
        )  # fmt: skip
        tests = [await Test.create(name=name, min_certifiable_score=low) for name, low in TESTS]
        takers = [TestTaker.for_person(name=_name(rng, i), email=f"load{i}@example.com") for i in range(sittings)]
        for start in range(0, sittings, BATCH):
            await TestTaker.bulk_create(takers[start : start + BATCH])
        taker_ids = await TestTaker.all().order_by("id").values_list("id", flat=True)
        start_at = datetime.now(UTC) - timedelta(days=180)
        rows = []
        for i, taker in enumerate(taker_ids):
            test = tests[i % len(tests)]
            score = rng.randint(30, 100)
            eligible = score >= test.min_certifiable_score
            rows.append(
                Sitting(
                    external_id=f"load-{i:06d}", organisation=org, test=test, test_taker_id=taker,
                    taken_at=start_at + timedelta(seconds=i * 180 * 86400 // sittings), score=score,
                    photo_check=PhotoCheck.PASSED,
                    status=CertificationStatus.UNSELECTED if eligible else CertificationStatus.INELIGIBLE,
                    ineligibility_reason=None if eligible else IneligibilityReason.LOW_SCORE,
                )
            )  # fmt: skip
        for start in range(0, sittings, BATCH):
            await Sitting.bulk_create(rows[start : start + BATCH])
        eligible = await Sitting.filter(status=CertificationStatus.UNSELECTED).order_by("id").values_list(
            "id", "test_taker_id"
        )  # fmt: skip
        rng.shuffle(eligible)
        to_claim, unselected = eligible[:claims], [pk for pk, _ in eligible[claims:]]
        principal = Principal("bench-seed", Role.ORG_ADMIN, organisation_id=org.id)
        result = await certify_sittings(
            principal=principal, selection=Selection(ids=tuple(pk for pk, _ in to_claim)),
            idempotency_key="bench-load-seed", publisher=NullPublisher(),
        )  # fmt: skip
        assert result.certified_count == len(to_claim), result
        return Seeded(org.id, [t.id for t in tests], unselected, [tuple(pair) for pair in to_claim])
    finally:
        await Tortoise.close_connections()


def _name(rng: random.Random, i: int) -> str:
    first = ("Zoë", "Mohammed", "David", "Xiaoming", "Minjun", "Ana", "Siobhán", "Jean-Luc", "Meera", "Olga")
    last = ("Nguyễn", "Abdullah", "Cohen", "Wang", "Kim", "Ivanova", "O’Connor", "Picard", "Sharma", "Novak")
    return f"{rng.choice(first)} {rng.choice(last)} {i}"


def plans(seeded: Seeded, counts: list[dict[str, int]], *, per_admin: int, ttl_seconds: int = 7200) -> list[Plan]:
    """One :class:`Plan` per phase: ``counts[i]`` names how many users of each kind phase ``i`` has
    (``admins``, ``claimers``, ``dashboards``, ``subscribers``, ``reviewers``, ``analysts``).

    Each admin gets ``per_admin`` of the eligible sittings (fewer when they run out), each phase's claimers
    share ``len(certified) // len(counts)`` claims, and every token lives ``ttl_seconds``.
    """
    tokens = TokenService(Settings(jwt_secret=SECRET))
    org = to_global_id("Organisation", seeded.organisation)
    unselected = iter(seeded.unselected)
    per_phase = len(seeded.certified) // len(counts)
    out = []
    for phase, count in enumerate(counts):

        def mint(role: Role, who: str, **scope) -> str:
            return tokens.mint(role=role, subject=f"load-{phase}-{who}", ttl_seconds=ttl_seconds, **scope)  # noqa: B023

        plan = Plan(org, [to_global_id("Test", pk) for pk in seeded.tests])
        for n in range(count["admins"]):
            ids = [to_global_id("Sitting", pk) for pk in itertools.islice(unselected, per_admin)]
            plan.admins.append({"token": mint(Role.ORG_ADMIN, f"admin-{n}", organisation_gid=org), "sittings": ids})
        for sitting, taker in seeded.certified[phase * per_phase : (phase + 1) * per_phase]:
            token = mint(Role.TEST_TAKER, f"taker-{taker}", test_taker_gid=to_global_id("TestTaker", taker))
            plan.claims.append({"token": token, "sitting": to_global_id("Sitting", sitting)})
        plan.dashboards = [
            mint(Role.ORG_ADMIN, f"dashboard-{n}", organisation_gid=org) for n in range(count["dashboards"])
        ]
        plan.subscribers = [
            mint(Role.ORG_ADMIN, f"subscriber-{n}", organisation_gid=org) for n in range(count["subscribers"])
        ]
        plan.reviewers = [mint(Role.SECURITY_REVIEWER, f"reviewer-{n}") for n in range(count["reviewers"])]
        plan.analysts = [mint(Role.ANALYST, f"analyst-{n}", organisation_gid=org) for n in range(count["analysts"])]
        out.append(plan)
    return out
