"""Writing a planned certification history (:mod:`demo.history`) as the workflow's own rows.

What each verb leaves behind, with the history's times: certifying
(:mod:`resolvers.certification`) the sittings' certification fields, one
CERTIFICATION ledger row per batch (``delta`` minus its sittings,
``reference`` the batch id), one AWAITING_CLAIM certificate and one
CERTIFICATE_READY_TO_CLAIM notification per sitting and one ``certify``
audit row; a purchase (:mod:`resolvers.credits`) its ledger row and audit
row; a claim (:mod:`resolvers.claims`) the holder name, the photo key,
``submitted_at``, ``claimed_at`` on the first claim only, cleared review
fields and a ``claim_certificate`` audit row; a rejection
(:mod:`resolvers.review`) the reason, the reviewer, a CERTIFICATE_REJECTED
notification and an audit row; an approval the verification code, a render
due at once and an audit row.

Written in bulk: one INSERT per few hundred rows instead of one per verb,
and the audit rows directly rather than through
:func:`resolvers.audit.record_audit`, which stamps the current time (the
rows are the ones it writes, with the time of the history). No outbox
e-mail and no idempotency record is written: the e-mails of the history
went out long ago (unsent rows would be sent again by ``certify serve``),
and idempotency keys need only be kept 24 hours (docs/RULES.md, "Idempotency").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from demo.certificates import CertificatePlan, Claim, Decision
from demo.history import LedgerEntry, OrganisationHistory
from models import AuditEvent, Certificate, CreditTransaction, Notification, Organisation, Sitting, Test
from models.enums import CreditTransactionKind, NotificationKind
from resolvers.audit import audit_row
from resolvers.certification import READY_TITLE
from resolvers.holder import SanitisedPhoto
from resolvers.messages import rejected_body
from resolvers.principal import Principal
from resolvers.review import REJECTED_TITLE
from resolvers.sql import Statement, chunks
from resolvers.wording import score_text

BATCH_SIZE = 1000
DEMO_SITTINGS = "demo-%"


def photos_to_store(
    histories: Sequence[OrganisationHistory], photos: Sequence[SanitisedPhoto]
) -> list[tuple[str, bytes]]:
    """``(key, JPEG)`` of each certificate's current photo (a later claim's photo replaces an earlier one)."""
    return [
        (plan.claims[-1].photo_key, photos[plan.claims[-1].photo].jpeg)
        for history in histories
        for plan in history.certificates
        if plan.claims
    ]


async def write_history(
    histories: Sequence[OrganisationHistory], *, tests: Mapping[int, Test], photos: Sequence[SanitisedPhoto]
) -> None:
    """Write the ledgers, balances, certificates, notifications and audit rows of ``histories``.

    Runs inside the caller's transaction; the sittings must already be
    stored (they are found by ``external_id``). ``tests``: id → test, for
    the notifications' wording; ``photos``: the stored photo per variant,
    for the claims' audit detail.
    """
    audit: list[AuditEvent] = []
    await _bulk(CreditTransaction, [_ledger_row(h.organisation_id, entry) for h in histories for entry in h.ledger])
    for history in histories:
        await Organisation.filter(id=history.organisation_id).update(credit_balance=history.ledger[-1].balance_after)
        audit.extend(_ledger_audit(history))
    plans = [plan for history in histories for plan in history.certificates]
    sitting_ids = await _ids(Sitting.filter(external_id__startswith="demo-"), "external_id")
    await _bulk(Certificate, [_certificate_row(plan, sitting_ids[plan.sitting.external_id]) for plan in plans])
    certificate_ids = await _ids(Certificate.filter(sitting__external_id__startswith="demo-"), "sitting__external_id")
    notifications: list[Notification] = []
    for plan in plans:
        certificate_id = certificate_ids[plan.sitting.external_id]
        notifications.extend(_notifications(plan, certificate_id, tests[plan.sitting.test_id]))
        audit.extend(_certificate_audit(plan, certificate_id, photos))
    await _bulk(Notification, notifications)
    await _bulk(AuditEvent, audit)
    await _restore_change_times()


async def _bulk(model, rows: Sequence) -> None:
    """INSERT ``rows`` oldest first (ids follow time, as rows written one verb after another do)."""
    for part in chunks(sorted(rows, key=lambda row: row.created_at), BATCH_SIZE):
        await model.bulk_create(part)


async def _ids(queryset, key: str) -> dict[str, int]:
    return dict(await queryset.values_list(key, "id"))


def _ledger_row(organisation_id: int, entry: LedgerEntry) -> CreditTransaction:
    return CreditTransaction(
        organisation_id=organisation_id,
        kind=entry.kind,
        delta=entry.delta,
        balance_after=entry.balance_after,
        reference=entry.reference,
        actor=entry.actor.actor,
        created_at=entry.at,
    )


def _audit(actor: Principal, action: str, object_type: str, object_id: int, detail: dict, at: datetime) -> AuditEvent:
    """The row :func:`resolvers.audit.record_audit` writes, dated ``at``."""
    return audit_row(actor=actor, action=action, object_type=object_type, object_id=object_id, detail=detail, at=at)


def _ledger_audit(history: OrganisationHistory) -> list[AuditEvent]:
    """A ``purchase_credits`` row per purchase, a ``certify`` row per batch."""
    organisation_id = history.organisation_id
    rows = []
    for entry in history.ledger:
        if entry.kind is CreditTransactionKind.PURCHASE:
            detail = {"credits": entry.delta, "reference": entry.reference}
            rows.append(_audit(entry.actor, "purchase_credits", "Organisation", organisation_id, detail, entry.at))
    for batch in history.batches:
        detail = {"batch": batch.batch_id, "sittings": len(batch.sittings), "idempotency_key": batch.idempotency_key}
        rows.append(_audit(batch.actor, "certify", "Organisation", organisation_id, detail, batch.at))
    return rows


def _certificate_row(plan: CertificatePlan, sitting_id: int) -> Certificate:
    """The certificate as its last step left it (a claim clears the review fields; a rejection keeps name and photo)."""
    claims = plan.claims
    last = plan.steps[-1] if plan.steps else None
    decision = last if isinstance(last, Decision) else None
    approved = decision is not None and decision.verification_code is not None
    return Certificate(
        sitting_id=sitting_id,
        status=plan.status,
        holder_name=plan.holder_name if claims else None,
        photo_key=claims[-1].photo_key if claims else None,
        submitted_at=claims[-1].at if claims else None,
        claimed_at=claims[0].at if claims else None,
        reviewed_at=decision.at if decision else None,
        reviewed_by=decision.reviewer.actor if decision else None,
        rejection_reason=decision.reason if decision else None,
        verification_code=decision.verification_code if decision else None,
        render_attempts=0,
        render_next_at=decision.at if approved else None,
        claim_deadline=plan.claim_deadline,
        created_at=plan.sitting.certified_at,
    )


def _notifications(plan: CertificatePlan, certificate_id: int, test: Test) -> list[Notification]:
    """The READY_TO_CLAIM notification of certification and a REJECTED one per rejection, read when acted on."""
    sitting = plan.sitting
    claims = plan.claims
    rows = [
        Notification(
            test_taker_id=sitting.test_taker_id,
            kind=NotificationKind.CERTIFICATE_READY_TO_CLAIM,
            title=READY_TITLE,
            # The wording of resolvers/certification.py, _open_certificates.
            body=f"Your certificate for {test.name} (score {score_text(sitting.score, test.score_max)}) is ready. "
            "Add your name and photo to claim it.",
            certificate_id=certificate_id,
            created_at=sitting.certified_at,
            read_at=_read_before(claims[0].at, sitting.certified_at) if claims else None,
        )
    ]
    for decision in plan.decisions:
        if decision.reason is None:
            continue
        later = [claim.at for claim in claims if claim.at > decision.at]
        rows.append(
            Notification(
                test_taker_id=sitting.test_taker_id,
                kind=NotificationKind.CERTIFICATE_REJECTED,
                title=REJECTED_TITLE,
                body=rejected_body(test.name, decision.reason),
                certificate_id=certificate_id,
                created_at=decision.at,
                read_at=_read_before(later[0], decision.at) if later else None,
            )
        )
    return rows


def _read_before(acted_at: datetime, created_at: datetime) -> datetime:
    """A notification is read shortly before the claim it led to (never before it was written)."""
    return max(created_at, acted_at - timedelta(minutes=3))


def _certificate_audit(
    plan: CertificatePlan, certificate_id: int, photos: Sequence[SanitisedPhoto]
) -> list[AuditEvent]:
    """A ``claim_certificate`` row per claim, a ``reject_certificate`` or ``approve_certificate`` row per decision."""
    rows = []
    for step in plan.steps:
        if isinstance(step, Claim):
            size = [photos[step.photo].width, photos[step.photo].height]
            detail = {"photo_key": step.photo_key, "photo_size": size}
            rows.append(_audit(plan.claimant, "claim_certificate", "Certificate", certificate_id, detail, step.at))
        elif step.verification_code:
            detail = {"verification_code": step.verification_code}
            rows.append(_audit(step.reviewer, "approve_certificate", "Certificate", certificate_id, detail, step.at))
        else:
            detail = {"reason": step.reason}
            rows.append(_audit(step.reviewer, "reject_certificate", "Certificate", certificate_id, detail, step.at))
    return rows


async def _restore_change_times() -> None:
    """Set the ``updated_at`` the history implies, and each test taker's first recording as its ``created_at``.

    ``bulk_create`` stamps ``updated_at`` (``auto_now``) with the current
    time; these three statements put back the time of each row's last change.
    """
    conn = Sitting._meta.db  # inside the caller's transaction, its connection
    stmt = Statement(conn)
    await stmt.run(
        "UPDATE sitting SET updated_at = COALESCE(certified_at, created_at) "
        f"WHERE external_id LIKE {stmt.param(DEMO_SITTINGS)}"
    )
    stmt = Statement(conn)
    await stmt.run(
        "UPDATE certificate SET updated_at = COALESCE(reviewed_at, submitted_at, created_at) "
        f"WHERE sitting_id IN (SELECT id FROM sitting WHERE external_id LIKE {stmt.param(DEMO_SITTINGS)})"
    )
    stmt = Statement(conn)
    await stmt.run(
        "UPDATE test_taker SET created_at = "
        "(SELECT MIN(s.created_at) FROM sitting s WHERE s.test_taker_id = test_taker.id) "
        f"WHERE id IN (SELECT test_taker_id FROM sitting WHERE external_id LIKE {stmt.param(DEMO_SITTINGS)})"
    )
