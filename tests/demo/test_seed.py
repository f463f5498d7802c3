"""The demo data set: size, eligibility rule, many scripts, its certification history and
ledger, what the real verbs and the analytics make of it, idempotent and deterministic."""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import PORTRAIT
from PIL import Image
from tortoise import connections
from tortoise.expressions import Q

import models
from adapters.storage import LocalFileStorage
from demo.seed import MAIN_ORGANISATION, DemoSummary, seed_demo
from models import (
    AuditEvent,
    Certificate,
    CreditTransaction,
    IdempotencyRecord,
    Notification,
    Organisation,
    OutboxEmail,
    Reminder,
    Sitting,
)
from models.enums import (
    CertificateStatus,
    CertificationStatus,
    CreditTransactionKind,
    NotificationKind,
    Role,
)
from resolvers.analytics import Dimension, score_histogram, sitting_aggregates
from resolvers.certification import certify_sittings
from resolvers.claims import claim_certificate
from resolvers.credit_usage import credit_usage
from resolvers.funnel import certification_funnel
from resolvers.principal import Principal
from resolvers.review import approve_certificate
from resolvers.selection import Selection
from subscriptions.events import NullPublisher

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HISTORY_SITTINGS = 1500
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")
CERTIFIED = (CertificationStatus.IN_PROGRESS, CertificationStatus.CERTIFIED)

# Rows that break the rule (docs/RULES.md, "Recording" and "The certificate's life"): LOW_SCORE
# when below the minimum (even with a failed photo), else PHOTO_PROBLEM on a failed photo check,
# else EXPIRED once the validity ended and it is not certified, else eligible (UNSELECTED, or
# certified: IN_PROGRESS) with no reason.
RULE_VIOLATIONS = """
SELECT COUNT(*) AS n FROM sitting s JOIN test t ON t.id = s.test_id
WHERE NOT (
    (s.score < t.min_certifiable_score
        AND s.status = 'INELIGIBLE' AND s.ineligibility_reason = 'LOW_SCORE')
 OR (s.score >= t.min_certifiable_score AND s.photo_check = 'FAILED'
        AND s.status = 'INELIGIBLE' AND s.ineligibility_reason = 'PHOTO_PROBLEM')
 OR (s.score >= t.min_certifiable_score AND s.photo_check = 'PASSED' AND s.expires_at <= '2026-11-01 12:00:00+00:00'
        AND s.status = 'INELIGIBLE' AND s.ineligibility_reason = 'EXPIRED')
 OR (s.score >= t.min_certifiable_score AND s.photo_check = 'PASSED' AND s.status = 'IN_PROGRESS'
        AND s.ineligibility_reason IS NULL)
 OR (s.score >= t.min_certifiable_score AND s.photo_check = 'PASSED'
        AND (s.expires_at IS NULL OR s.expires_at > '2026-11-01 12:00:00+00:00')
        AND s.status = 'UNSELECTED' AND s.ineligibility_reason IS NULL)
)
"""
# Certified sittings without exactly one current certificate, and current certificates of sittings
# not certified (a lapsed certificate is not current: docs/RULES.md, "The certificate's life").
CERTIFICATE_MISMATCHES = """
SELECT COUNT(*) AS n FROM sitting s
WHERE (s.status IN ('IN_PROGRESS', 'CERTIFIED'))
   != ((SELECT COUNT(*) FROM certificate c WHERE c.sitting_id = s.id AND c.status <> 'LAPSED') = 1)
"""
ALL_MODELS = (
    Organisation,
    CreditTransaction,
    models.Test,
    models.TestTaker,
    Sitting,
    Certificate,
    Notification,
    Reminder,
    OutboxEmail,
    AuditEvent,
    IdempotencyRecord,
)


def script_of(name: str) -> str:
    """The Unicode script word of the first letter, e.g. LATIN, CYRILLIC, CJK, HANGUL."""
    first_letter = next(ch for ch in name if ch.isalpha())
    return unicodedata.name(first_letter).split()[0]


async def seed(files: Path, **options) -> DemoSummary:
    return await seed_demo(storage=LocalFileStorage(files), now=NOW, **options)


def stored_files(files: Path) -> list[str]:
    return sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())


async def row_counts() -> dict[str, int]:
    return {model.__name__: await model.all().count() for model in ALL_MODELS}


async def scalar(sql: str) -> int:
    rows = await connections.get("default").execute_query_dict(sql)
    return next(iter(rows[0].values()))


def analyst_of(organisation_id: int) -> Principal:
    return Principal(subject="analyst", role=Role.ANALYST, organisation_id=organisation_id)


async def test_seed_demo_builds_a_large_consistent_data_set_quickly(db, tmp_path):
    # when
    started = time.perf_counter()
    summary = await seed(tmp_path / "files", sittings=6000, seed=2026)
    elapsed = time.perf_counter() - started

    # then: size and speed
    assert summary.created
    assert elapsed < 20
    assert set(summary.organisation_ids) == {
        "Northwind Language Centre",
        "Aurora Skills Institute",
    }
    main = await Organisation.get(id=summary.main_organisation_id)
    assert main.name == MAIN_ORGANISATION
    assert summary.sitting_counts[MAIN_ORGANISATION] == 6000
    aurora = summary.organisation_ids["Aurora Skills Institute"]
    assert await Sitting.filter(organisation_id=aurora).count() > 0
    assert set(summary.test_ids) == {
        "English B2 Academic",
        "Deutsch Zertifikat B1",
        "Español DELE A2",
        "IELTS-style Speaking",
    }
    assert 1 <= len(summary.sample_test_taker_ids) <= 5

    # then: the eligibility rule holds for every row, and every outcome occurs
    assert await scalar(RULE_VIOLATIONS) == 0
    outcomes = Counter(await Sitting.all().values_list("status", "ineligibility_reason"))
    assert set(outcomes) == {
        ("UNSELECTED", None),
        ("IN_PROGRESS", None),
        ("INELIGIBLE", "LOW_SCORE"),
        ("INELIGIBLE", "PHOTO_PROBLEM"),
        ("INELIGIBLE", "EXPIRED"),
    }
    both_apply = await scalar(
        "SELECT COUNT(*) AS n FROM sitting s JOIN test t ON t.id = s.test_id "
        "WHERE s.score < t.min_certifiable_score AND s.photo_check = 'FAILED'"
    )
    assert both_apply > 0  # and the rule check above says they are LOW_SCORE
    scores = await Sitting.all().values_list("score", flat=True)
    assert min(scores) >= 0 and max(scores) <= 100
    assert 64 <= sum(scores) / len(scores) <= 72

    # then: a good share of the eligible sittings is left for the dashboard, the rest certified
    eligible = outcomes["UNSELECTED", None] + outcomes["IN_PROGRESS", None]
    assert 0.3 <= outcomes["UNSELECTED", None] / eligible <= 0.7

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
    assert external_ids[0] == "demo-000001"
    assert len(set(external_ids)) == len(external_ids)


async def test_every_balance_is_its_ledger_in_order_and_pays_for_every_certification(db, tmp_path):
    # given
    await seed(tmp_path / "files", sittings=HISTORY_SITTINGS)

    for organisation in await Organisation.all():
        # then: the ledger, oldest first, adds up row by row and never goes below zero
        ledger = (
            await CreditTransaction.filter(organisation_id=organisation.id)
            .order_by("created_at", "id")
            .values("kind", "delta", "balance_after", "reference", "created_at")
        )
        running = 0
        for row in ledger:
            running += row["delta"]
            assert row["balance_after"] == running >= 0
        assert organisation.credit_balance == running > 0
        assert {row["kind"] for row in ledger} == {"PURCHASE", "CERTIFICATION", "REFUND"}
        assert all(organisation.created_at < row["created_at"] <= NOW for row in ledger)

        # then: each batch has one CERTIFICATION row of minus its size: its sittings still
        # certified and those whose claim lapsed, refunded one by one
        sittings = Sitting.filter(organisation_id=organisation.id)
        batches = Counter(await sittings.filter(status__in=CERTIFIED).values_list("certification_batch", flat=True))
        refunds = [row["reference"].split("/") for row in ledger if row["kind"] == CreditTransactionKind.REFUND]
        assert all(row["delta"] == 1 for row in ledger if row["kind"] == CreditTransactionKind.REFUND)
        assert all(lapse == "lapse" for _, lapse, _ in refunds)
        lapsed = await Certificate.filter(
            sitting__organisation_id=organisation.id, status=CertificateStatus.LAPSED
        ).values_list("id", flat=True)
        assert sorted(int(certificate) for _, _, certificate in refunds) == sorted(lapsed)
        batches.update(batch for batch, _, _ in refunds)
        debits = {
            row["reference"]: -row["delta"] for row in ledger if row["kind"] == CreditTransactionKind.CERTIFICATION
        }
        assert len(debits) == sum(row["kind"] == "CERTIFICATION" for row in ledger)
        assert debits == dict(batches) and None not in batches
        uncertified = sittings.exclude(status__in=CERTIFIED)
        assert not await uncertified.filter(certified_at__isnull=False).exists()
        assert not await uncertified.filter(certification_batch__isnull=False).exists()


async def test_certified_sittings_have_one_certificate_in_every_state_of_the_workflow(db, tmp_path):
    # given
    files = tmp_path / "files"
    await seed(files, sittings=HISTORY_SITTINGS)

    # then: one certificate per certified sitting, none for the others
    assert await scalar(CERTIFICATE_MISMATCHES) == 0
    certificates = await Certificate.all().select_related("sitting")
    statuses = Counter(c.status for c in certificates)
    assert statuses.keys() == {
        CertificateStatus.AWAITING_CLAIM,
        CertificateStatus.UNDER_REVIEW,
        CertificateStatus.REJECTED,
        CertificateStatus.APPROVED,
        CertificateStatus.LAPSED,
    }
    # the latest 15 claims and up to 2 + 2 of the backlog (expired, expiring); rendered by the server
    assert 1 <= statuses[CertificateStatus.APPROVED] <= 19
    lapsed = [c for c in certificates if c.status is CertificateStatus.LAPSED]
    assert 0 < len(lapsed) < len(certificates) / 2

    # then: a lapsed certificate lapsed within a day of its deadline or its sitting's expiry,
    # and its sitting is certifiable again, or expired
    for c in lapsed:
        due = min(c.claim_deadline, c.sitting.expires_at or c.claim_deadline)
        assert due <= c.lapsed_at == c.updated_at < due + timedelta(days=1)
        assert c.lapsed_at <= NOW and c.sitting.certified_at is None and c.sitting.certification_batch is None
        assert (c.sitting.status, c.sitting.ineligibility_reason) in {("UNSELECTED", None), ("INELIGIBLE", "EXPIRED")}
        assert c.holder_name is None or c.rejection_reason is not None  # never claimed, or rejected

    # then: each other state has exactly the fields the workflow gives it
    for c in certificates:
        if c.status is CertificateStatus.LAPSED:
            continue
        sitting = c.sitting
        assert sitting.created_at < sitting.certified_at == c.created_at < NOW
        assert sitting.selected_at is None or sitting.selected_at < sitting.certified_at
        assert sitting.updated_at == sitting.certified_at and c.issued_at is None and c.lapsed_at is None
        assert c.pdf_key is None and c.render_error is None and c.render_attempts == 0
        window = c.claim_deadline - c.created_at
        assert window == timedelta(days=90) if c.rejection_reason is None else window >= timedelta(days=90)
        claimed = c.status is not CertificateStatus.AWAITING_CLAIM
        assert (c.holder_name is not None) is (c.photo_key is not None) is claimed
        assert (c.claimed_at is not None) is (c.submitted_at is not None) is claimed
        decided = c.status in (CertificateStatus.REJECTED, CertificateStatus.APPROVED)
        assert (c.reviewed_at is not None) is (c.reviewed_by is not None) is decided
        assert (c.rejection_reason is not None) is (c.status is CertificateStatus.REJECTED)
        approved = c.status is CertificateStatus.APPROVED
        assert (c.verification_code is not None) is approved
        assert c.render_next_at == (c.reviewed_at if approved else None)
        if claimed:
            assert sitting.certified_at < c.claimed_at <= c.submitted_at < NOW
            assert c.updated_at == (c.reviewed_at or c.submitted_at)
        if decided:
            assert c.submitted_at < c.reviewed_at < NOW
        if approved:
            assert CODE.fullmatch(c.verification_code)

    # then: claim audit rows run from claimed_at (the first claim) to submitted_at (the latest)
    claims = defaultdict(list)
    for object_id, at, detail in await AuditEvent.filter(action="claim_certificate").values_list(
        "object_id", "created_at", "detail"
    ):
        claims[int(object_id)].append((at, detail["photo_key"]))
    for c in certificates:
        times = sorted(claims.get(c.id, []))
        if c.claimed_at is None:
            assert times == []
            continue
        assert times[0][0] == c.claimed_at and times[-1] == (c.submitted_at, c.photo_key)
    claimed_again = [c for c in certificates if len(claims.get(c.id, [])) > 1]
    assert any(c.status is CertificateStatus.UNDER_REVIEW for c in claimed_again)
    assert all(c.claimed_at < c.submitted_at for c in claimed_again)

    # then: every current photo is stored as a clean JPEG, and nothing else is
    photo_keys = sorted(c.photo_key for c in certificates if c.photo_key)
    assert stored_files(files) == photo_keys
    with Image.open(files / photo_keys[0]) as photo:
        assert photo.format == "JPEG" and min(photo.size) >= 300 and not photo.info.get("exif")

    # then: one ready notification per certificate, one per rejection; no outbox rows, no keys
    ready = await Notification.filter(kind=NotificationKind.CERTIFICATE_READY_TO_CLAIM).count()
    rejected = await Notification.filter(kind=NotificationKind.CERTIFICATE_REJECTED).count()
    assert ready == len(certificates)
    assert rejected == await AuditEvent.filter(action="reject_certificate").count() > 0
    assert (
        await AuditEvent.filter(action="certify").count()
        == await CreditTransaction.filter(kind=CreditTransactionKind.CERTIFICATION).count()
    )
    assert await OutboxEmail.all().count() == 0
    assert await IdempotencyRecord.all().count() == 0

    # then: the lifecycle job's messages, one per lapse, one per claim reminder (the leads are
    # eleven days apart, so each came in a run of its own), and its audit rows
    lapse_notes = await Notification.filter(kind=NotificationKind.CLAIM_LAPSED).values_list("certificate_id", flat=True)
    assert sorted(lapse_notes) == sorted(c.id for c in lapsed)
    reminders = await Reminder.filter(kind="CLAIM").values_list("certificate_id", "lead_seconds")
    reminder_notes = await Notification.filter(kind=NotificationKind.CLAIM_REMINDER).count()
    assert reminder_notes == len(reminders) > 0
    by_deadline = [c for c in lapsed if c.claim_deadline <= (c.sitting.expires_at or c.claim_deadline)]
    leads = defaultdict(set)
    for certificate_id, lead in reminders:
        leads[certificate_id].add(lead)
    assert all(leads[c.id] == {14 * 86400, 3 * 86400} for c in by_deadline)
    lapse_audit = await AuditEvent.filter(action="lapse", actor="system:lifecycle").values_list("detail", flat=True)
    assert sorted(pk for detail in lapse_audit for pk in detail["certificates"]) == sorted(c.id for c in lapsed)


async def test_the_real_verbs_carry_on_from_the_demo(db, tmp_path):
    # given
    files = tmp_path / "files"
    storage = LocalFileStorage(files)
    summary = await seed(files, sittings=HISTORY_SITTINGS)
    main = summary.main_organisation_id
    admin = Principal(subject="demo-admin", role=Role.ORG_ADMIN, organisation_id=main)
    reviewer = Principal(subject="demo-reviewer", role=Role.SECURITY_REVIEWER)
    # the verbs run now, after the demo's NOW: a rejected claim still open now
    today = datetime.now(UTC)
    rejected = (
        await Certificate.filter(status=CertificateStatus.REJECTED, claim_deadline__gt=today)
        .filter(Q(sitting__expires_at__isnull=True) | Q(sitting__expires_at__gt=today))
        .first()
        .select_related("sitting")
    )
    waiting = await Certificate.filter(status=CertificateStatus.UNDER_REVIEW).first()
    unselected = await Sitting.filter(organisation_id=main, status=CertificationStatus.UNSELECTED).first()
    balance = (await Organisation.get(id=main)).credit_balance

    # when: a rejected test taker claims again, a reviewer approves a waiting claim,
    # and an admin certifies a sitting with the README's key
    candidate = Principal(subject="candidate", role=Role.TEST_TAKER, test_taker_id=rejected.sitting.test_taker_id)
    claimed = await claim_certificate(
        principal=candidate,
        sitting_id=rejected.sitting_id,
        holder_name=rejected.holder_name,
        photo=PORTRAIT.read_bytes(),
        storage=storage,
        publisher=NullPublisher(),
    )
    approved = await approve_certificate(principal=reviewer, certificate_id=waiting.id, publisher=NullPublisher())
    result = await certify_sittings(
        principal=admin,
        selection=Selection(ids=(unselected.id,)),
        idempotency_key="demo-1",
        publisher=NullPublisher(),
    )

    # then
    assert claimed.status is CertificateStatus.UNDER_REVIEW
    assert claimed.claimed_at == rejected.claimed_at < claimed.submitted_at
    assert not (files / rejected.photo_key).exists() and (files / claimed.photo_key).exists()
    assert approved.status is CertificateStatus.APPROVED and approved.verification_code
    assert result.certified_count == 1 and result.credit_balance == balance - 1


async def test_the_analytics_have_something_to_say_about_the_demo(db, tmp_path):
    # given the demo as `certify seed-demo` writes it
    summary = await seed(tmp_path / "files", sittings=6000)
    main = summary.main_organisation_id
    analyst = analyst_of(main)
    sittings = Sitting.filter(organisation_id=main)

    # when
    funnel = await certification_funnel(principal=analyst)
    usage = await credit_usage(principal=analyst, time_zone="Europe/Berlin")
    groups = await sitting_aggregates(principal=analyst, group_by=[Dimension.TEST, Dimension.CERTIFIED_MONTH])
    histogram = await score_histogram(principal=analyst, bucket_width=10)

    # then: the funnel narrows at every step, and claims took hours to weeks
    certified = await sittings.filter(status__in=CERTIFIED).count()
    claimed = (
        await Certificate.filter(sitting__organisation_id=main, claimed_at__isnull=False)
        .exclude(status=CertificateStatus.LAPSED)
        .count()
    )
    assert funnel.recorded == summary.sitting_counts[MAIN_ORGANISATION]
    assert funnel.recorded > funnel.eligible > funnel.certified == certified > 0
    assert funnel.certified > funnel.claimed == claimed > 0
    assert funnel.issued == 0 and funnel.median_seconds_to_issue is None
    assert 3600 < funnel.median_seconds_to_claim < 42 * 86400

    # then: credits were bought, spent and refunded in several months, and add up to the balance
    assert len([m for m in usage if m.spent > 0]) >= 3
    assert len([m for m in usage if m.purchased > 0]) >= 3
    assert len([m for m in usage if m.refunded > 0]) >= 3
    balance = (await Organisation.get(id=main)).credit_balance
    assert sum(m.purchased - m.spent + m.refunded for m in usage) == balance

    # then: sittings were certified in many months, for every test
    certified_groups = [g for g in groups if g.certified_month is not None]
    assert len({g.certified_month for g in certified_groups}) >= 5
    assert len({g.test_id for g in certified_groups}) == 4
    assert sum(g.count for g in groups) == funnel.recorded
    assert sum(b.count for b in histogram) == funnel.recorded and len(histogram) >= 6


async def test_seed_demo_a_second_time_creates_nothing(db, tmp_path):
    # given
    files = tmp_path / "files"
    first = await seed(files, sittings=300)
    before, files_before = await row_counts(), stored_files(files)

    # when
    second = await seed(files, sittings=300)

    # then
    assert await row_counts() == before and stored_files(files) == files_before
    assert not second.created
    assert second.organisation_ids == first.organisation_ids
    assert second.sample_test_taker_ids == first.sample_test_taker_ids
    assert second.sitting_counts == first.sitting_counts
    assert second.certificate_counts == first.certificate_counts
    for taker_id in second.sample_test_taker_ids:
        assert await Sitting.filter(
            test_taker_id=taker_id,
            organisation_id=second.main_organisation_id,
            status=CertificationStatus.UNSELECTED,
        ).exists()


async def test_seed_demo_is_deterministic_for_a_seed(db, tmp_path):
    # given a database seeded, then emptied
    await seed(tmp_path / "first", sittings=400, seed=7)
    first = await snapshot()
    for model in reversed(ALL_MODELS):
        await model.all().delete()

    # when it is seeded again with the same seed
    await seed(tmp_path / "second", sittings=400, seed=7)

    # then the data is the same, files included
    assert await snapshot() == first
    assert stored_files(tmp_path / "second") == stored_files(tmp_path / "first")


def _stable_reference(reference: str, sittings: dict[int, str]) -> str:
    """A refund's reference with the sitting's external id for the certificate id (ids differ between seeds)."""
    batch, lapse, certificate = (reference.split("/") + ["", ""])[:3]
    return f"{batch}/{lapse}/{sittings[int(certificate)]}" if lapse == "lapse" else reference


def _stable_detail(action: str, detail: dict, certificates: dict[int, str], sittings: dict[int, str]) -> dict:
    """The lifecycle job's audit detail with external ids for row ids."""
    if action == "lapse":
        return {"certificates": sorted(certificates[pk] for pk in detail["certificates"])}
    if action == "expire":
        return {"sittings": sorted(sittings[pk] for pk in detail["sittings"])}
    return detail


async def snapshot() -> list[list[tuple]]:
    sittings = dict(await Certificate.all().values_list("id", "sitting__external_id"))
    sitting_ids = dict(await Sitting.all().values_list("id", "external_id"))
    return [
        await Sitting.all()
        .order_by("external_id")
        .values_list(
            "external_id",
            "test_taker__name",
            "test_taker__email",
            "test__name",
            "taken_at",
            "score",
            "photo_check",
            "status",
            "certified_at",
            "certification_batch",
        ),
        await Certificate.all()
        .order_by("sitting__external_id")
        .values_list(
            "sitting__external_id",
            "status",
            "holder_name",
            "photo_key",
            "claimed_at",
            "submitted_at",
            "reviewed_at",
            "rejection_reason",
            "verification_code",
            "claim_deadline",
            "lapsed_at",
        ),
        [
            (*row[:4], _stable_reference(row[4], sittings), row[5])
            for row in await CreditTransaction.all()
            .order_by("created_at", "reference")
            .values_list("organisation__name", "kind", "delta", "balance_after", "reference", "created_at")
        ],
        [
            (*row[:3], _stable_detail(row[1], row[3], sittings, sitting_ids))
            for row in await AuditEvent.all()
            .order_by("created_at", "action")
            .values_list("actor_role", "action", "created_at", "detail")
        ],
    ]
