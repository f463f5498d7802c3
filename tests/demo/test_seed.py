"""The demo data set: size, credit ledger, eligibility rule, many scripts, idempotent."""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta

from tortoise import connections

import models
from demo.seed import MAIN_ORGANISATION, seed_demo
from models import CreditTransaction, Organisation, Sitting
from models.enums import CreditTransactionKind

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# Rows that break the rule (docs/RULES.md, "Recording"): LOW_SCORE when below the minimum
# (even with a failed photo), else PHOTO_PROBLEM on a failed photo check,
# else UNSELECTED with no reason.
RULE_VIOLATIONS = """
SELECT COUNT(*) AS n FROM sitting s JOIN test t ON t.id = s.test_id
WHERE NOT (
    (s.score < t.min_certifiable_score
        AND s.status = 'INELIGIBLE' AND s.ineligibility_reason = 'LOW_SCORE')
 OR (s.score >= t.min_certifiable_score AND s.photo_check = 'FAILED'
        AND s.status = 'INELIGIBLE' AND s.ineligibility_reason = 'PHOTO_PROBLEM')
 OR (s.score >= t.min_certifiable_score AND s.photo_check = 'PASSED'
        AND s.status = 'UNSELECTED' AND s.ineligibility_reason IS NULL)
)
"""


def script_of(name: str) -> str:
    """The Unicode script word of the first letter, e.g. LATIN, CYRILLIC, CJK, HANGUL."""
    first_letter = next(ch for ch in name if ch.isalpha())
    return unicodedata.name(first_letter).split()[0]


async def row_counts() -> dict[str, int]:
    return {
        model.__name__: await model.all().count()
        for model in (Organisation, CreditTransaction, models.Test, models.TestTaker, Sitting)
    }


async def scalar(sql: str) -> int:
    rows = await connections.get("default").execute_query_dict(sql)
    return next(iter(rows[0].values()))


async def test_seed_demo_builds_a_large_consistent_data_set_quickly(db):
    # when
    started = time.perf_counter()
    summary = await seed_demo(sittings=6000, seed=2026, now=NOW)
    elapsed = time.perf_counter() - started

    # then: size and speed
    assert summary.created
    assert elapsed < 20
    assert set(summary.organisation_ids) == {"Northwind Language Centre", "Aurora Skills Institute"}
    main = await Organisation.get(id=summary.main_organisation_id)
    assert main.name == MAIN_ORGANISATION
    assert await Sitting.filter(organisation_id=main.id).count() >= 5000
    assert summary.sitting_counts[MAIN_ORGANISATION] == 6000
    assert await Sitting.filter(organisation_id=summary.organisation_ids["Aurora Skills Institute"]).count() > 0
    assert set(summary.test_ids) == {
        "English B2 Academic",
        "Deutsch Zertifikat B1",
        "Español DELE A2",
        "IELTS-style Speaking",
    }
    assert 1 <= len(summary.sample_test_taker_ids) <= 5

    # then: every balance is its ledger's sum, made of purchases
    for organisation in await Organisation.all():
        ledger = await CreditTransaction.filter(organisation_id=organisation.id).values_list("delta", "kind")
        assert organisation.credit_balance == sum(delta for delta, _ in ledger) > 0
        assert {kind for _, kind in ledger} == {CreditTransactionKind.PURCHASE}
    assert {o.name: o.credit_balance for o in await Organisation.all()} == {
        "Northwind Language Centre": 500,
        "Aurora Skills Institute": 200,
    }

    # then: the eligibility rule holds for every row, and every outcome occurs
    assert await scalar(RULE_VIOLATIONS) == 0
    outcomes = Counter(
        (status, reason) for status, reason in await Sitting.all().values_list("status", "ineligibility_reason")
    )
    assert set(outcomes) == {("UNSELECTED", None), ("INELIGIBLE", "LOW_SCORE"), ("INELIGIBLE", "PHOTO_PROBLEM")}
    both_apply = await scalar(
        "SELECT COUNT(*) AS n FROM sitting s JOIN test t ON t.id = s.test_id "
        "WHERE s.score < t.min_certifiable_score AND s.photo_check = 'FAILED'"
    )
    assert both_apply > 0  # and the rule check above says they are LOW_SCORE
    scores = await Sitting.all().values_list("score", flat=True)
    assert min(scores) >= 0 and max(scores) <= 100
    assert 64 <= sum(scores) / len(scores) <= 72

    # then: people from many scripts, NFC names, unique case-folded e-mails
    takers = await models.TestTaker.all().values("name", "email", "email_key", "locale")
    scripts = Counter(script_of(t["name"]) for t in takers)
    assert len(scripts) >= 10, scripts
    assert all(unicodedata.is_normalized("NFC", t["name"]) for t in takers)
    assert all(t["email_key"] == t["email"].casefold() for t in takers)
    assert len({t["email_key"] for t in takers}) == len(takers)
    assert len({t["locale"] for t in takers}) >= 20

    # then: eight months of sessions, many sittings finishing at the same instant
    taken = await Sitting.all().values_list("taken_at", flat=True)
    assert all(t.utcoffset() == timedelta(0) for t in taken)
    assert NOW - timedelta(days=245) <= min(taken) and max(taken) < NOW
    assert max(Counter(taken).values()) >= 5
    external_ids = await Sitting.all().order_by("external_id").values_list("external_id", flat=True)
    assert external_ids[0] == "demo-000001" and len(set(external_ids)) == len(external_ids)


async def test_seed_demo_a_second_time_creates_nothing(db):
    # given
    first = await seed_demo(sittings=300, now=NOW)
    before = await row_counts()

    # when
    second = await seed_demo(sittings=300, now=NOW)

    # then
    assert await row_counts() == before
    assert not second.created
    assert second.organisation_ids == first.organisation_ids
    assert second.sample_test_taker_ids == first.sample_test_taker_ids
    assert second.sitting_counts == first.sitting_counts


async def test_seed_demo_is_deterministic_for_a_seed(db):
    # given a database seeded, then emptied
    await seed_demo(sittings=200, seed=7, now=NOW)
    first = await snapshot()
    for model in (Sitting, models.TestTaker, CreditTransaction, models.Test, Organisation):
        await model.all().delete()

    # when it is seeded again with the same seed
    await seed_demo(sittings=200, seed=7, now=NOW)

    # then the data is the same
    assert await snapshot() == first


async def snapshot() -> list[tuple]:
    return await Sitting.all().order_by("external_id").values_list(
        "external_id", "test_taker__name", "test_taker__email", "test__name", "taken_at", "score", "photo_check", "status"
    )
