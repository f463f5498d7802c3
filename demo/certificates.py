"""The life of each demo certificate after certification: claims and reviews, planned in memory.

It follows docs/RULES.md, "Certificate statuses", "Claims and review" and
"The certificate's life": the test taker claims the certificate hours to
weeks after certification (or not yet, or never: the claim deadline passes
and the lifecycle job lapses it); a reviewer rejects some claims with a
reason (a rejection near or after the deadline gives a new window), and some
of those test takers claim again (``claimed_at`` stays the first claim's
time); the latest few claims are approved, with a verification code and a
render due since the approval, and so are a few claims of the backlog whose
sitting has expired or is about to; every other claim waits in the review
queue. :mod:`demo.records` writes the plans.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random

from adapters.storage import check_key
from demo.photos import PORTRAIT_SIDES
from models import Sitting
from models.enums import CertificateStatus, Role
from resolvers.errors import DomainError
from resolvers.holder import normalise_holder_name
from resolvers.lifecycle_policy import DEFAULT_POLICY, LifecyclePolicy
from resolvers.principal import Principal
from resolvers.verification import CODE_ALPHABET, CODE_GROUP_LENGTH, CODE_GROUPS

NEVER_CLAIMED = 0.2
# Of the claims a reviewer has decided on (the others are approved or still waiting).
REJECTED_SHARE = 0.15
CLAIMED_AGAIN = 0.65  # of the rejected test takers
MAX_CLAIMS = 3
BACKLOG_APPROVALS = 2  # claims of expired sittings approved lately, and as many of sittings about to expire
# Nothing in the history happens in the last minutes before ``now``.
QUIET = timedelta(minutes=10)
REVIEWERS = (
    Principal(subject="demo-reviewer", role=Role.SECURITY_REVIEWER),
    Principal(subject="senior-reviewer", role=Role.SECURITY_REVIEWER),
)
REJECTION_REASONS = (
    "The photo is blurred. Please upload a sharp photo of your face in good light.",
    "Your face is partly hidden. Please upload a photo without sunglasses or a hat.",
    "The name does not match the identity document you showed at the test centre.",
    "The photo shows more than one person.",
    "Please write your name as on your identity document, not in capitals only.",
)


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim at ``at``: its photo under ``photo_key``, ``photo`` an index of PORTRAIT_SIDES."""

    at: datetime
    photo_key: str
    photo: int


@dataclass(frozen=True, slots=True)
class Decision:
    """A review at ``at``: a rejection (``reason``) or an approval (``verification_code``)."""

    at: datetime
    reviewer: Principal
    reason: str | None = None
    verification_code: str | None = None


@dataclass(slots=True)
class CertificatePlan:
    """The certificate of one certified sitting: its claims and decisions, oldest first.

    ``holder_name`` is the name the test taker claims with, as
    :func:`resolvers.holder.normalise_holder_name` stores it (None when that
    refuses the registered name: such a test taker has not claimed).
    ``decidable_at``: when a reviewer could have approved the last claim.
    ``claim_deadline``: as certifying set it and the rejections moved it.
    """

    sitting: Sitting
    holder_name: str | None
    claimant: Principal
    claim_deadline: datetime
    steps: list[Claim | Decision] = field(default_factory=list)
    decidable_at: datetime | None = None

    @property
    def claimable_until(self) -> datetime:
        """The claim deadline, or the sitting's expiry when sooner: then an unclaimed certificate lapses."""
        expires = self.sitting.expires_at
        return self.claim_deadline if expires is None else min(self.claim_deadline, expires)

    @property
    def claims(self) -> list[Claim]:
        return [step for step in self.steps if isinstance(step, Claim)]

    @property
    def decisions(self) -> list[Decision]:
        return [step for step in self.steps if isinstance(step, Decision)]

    @property
    def status(self) -> CertificateStatus:
        """Where the steps lead (docs/RULES.md, "Certificate statuses")."""
        last = self.steps[-1] if self.steps else None
        if last is None:
            return CertificateStatus.AWAITING_CLAIM
        if isinstance(last, Claim):
            return CertificateStatus.UNDER_REVIEW
        if last.verification_code:
            return CertificateStatus.APPROVED
        return CertificateStatus.REJECTED


def plan_certificate(
    rng: Random, sitting: Sitting, name: str, *, now: datetime, policy: LifecyclePolicy = DEFAULT_POLICY
) -> CertificatePlan:
    """Claims and rejections of the certified ``sitting``'s certificate up to ``now``.

    ``name``: the test taker's registered name, which they claim with. A
    claim that no reviewer rejected is left undecided (``decidable_at``) for
    :func:`approve_some`. No claim comes after :attr:`CertificatePlan.claimable_until`
    (the certificate lapsed then); ``policy`` gives the deadlines.
    """
    claimant = Principal(
        subject=f"candidate-{sitting.test_taker_id}",
        role=Role.TEST_TAKER,
        test_taker_id=sitting.test_taker_id,
    )
    deadline = policy.claim_deadline(sitting.certified_at, sitting.expires_at)
    plan = CertificatePlan(sitting, _holder_name(name), claimant, deadline)
    claim_at = _first_claim(rng, sitting.certified_at) if plan.holder_name else None
    for _ in range(MAX_CLAIMS):
        if claim_at is None or claim_at >= now - QUIET or claim_at >= plan.claimable_until:
            break
        photo = rng.randrange(len(PORTRAIT_SIDES))
        plan.steps.append(Claim(claim_at, _photo_key(rng), photo))
        decided_at = claim_at + timedelta(hours=rng.uniform(2, 72))
        if decided_at >= now - QUIET:
            break
        if rng.random() >= REJECTED_SHARE:
            plan.decidable_at = decided_at
            break
        reason = rng.choice(REJECTION_REASONS)
        plan.steps.append(Decision(decided_at, rng.choice(REVIEWERS), reason=reason))
        plan.claim_deadline = policy.deadline_after_rejection(plan.claim_deadline, decided_at, sitting.expires_at)
        claim_at = None
        if rng.random() < CLAIMED_AGAIN:
            claim_at = decided_at + timedelta(hours=rng.uniform(3, 168))
    return plan


def approve_some(
    rng: Random,
    plans: list[CertificatePlan],
    approvals: int,
    *,
    now: datetime,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> None:
    """Approve the ``approvals`` latest undecided claims of ``plans``, each with a fresh code.

    The latest: an approval older than a few days would have been issued by
    now, which the demo cannot do (demo/seed.py says why). Reviewers also
    took from the backlog, in the last hours before ``now``, up to
    ``BACKLOG_APPROVALS`` claims whose sitting has expired and as many whose
    sitting expires within ``policy.expiry_reminder``: issued, they verify
    as EXPIRED, and their holders are reminded of the expiry.
    """
    undecided = [plan for plan in plans if plan.decidable_at is not None]
    undecided.sort(key=lambda plan: (plan.decidable_at, plan.sitting.external_id))
    latest = undecided[max(0, len(undecided) - approvals) :]
    backlog = undecided[: len(undecided) - len(latest)]
    expired = [p for p in backlog if p.sitting.expires_at and p.sitting.expires_at <= now]
    expiring = [
        p for p in backlog if p.sitting.expires_at and now < p.sitting.expires_at <= now + policy.expiry_reminder
    ]
    for plan in expired[-BACKLOG_APPROVALS:] + expiring[-BACKLOG_APPROVALS:]:
        decided_at = max(plan.decidable_at, now - QUIET - timedelta(hours=rng.uniform(1, 6)))
        plan.steps.append(Decision(decided_at, rng.choice(REVIEWERS), verification_code=_verification_code(rng)))
    for plan in latest:
        code = _verification_code(rng)
        reviewer = rng.choice(REVIEWERS)
        plan.steps.append(Decision(plan.decidable_at, reviewer, verification_code=code))


def draw_uuid(rng: Random) -> uuid.UUID:
    """A version-4 UUID drawn from ``rng`` (the demo is the same for the same seed)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _holder_name(name: str) -> str | None:
    try:
        return normalise_holder_name(name)
    except DomainError:
        return None


def _first_claim(rng: Random, certified_at: datetime) -> datetime | None:
    """Hours, days or weeks after certification; None for a test taker who never claims."""
    draw = rng.random()
    if draw < NEVER_CLAIMED:
        return None
    if draw < 0.55:
        return certified_at + timedelta(hours=rng.uniform(1, 48))
    if draw < 0.85:
        return certified_at + timedelta(days=rng.uniform(2, 14))
    return certified_at + timedelta(days=rng.uniform(14, 42))


def _photo_key(rng: Random) -> str:
    """A key of the shape :func:`adapters.storage.new_key` gives a claim photo."""
    return check_key(f"photos/{draw_uuid(rng).hex}.jpg")


def _verification_code(rng: Random) -> str:
    """A code of the shape :func:`resolvers.review.new_verification_code` draws."""
    length = CODE_GROUPS * CODE_GROUP_LENGTH
    symbols = "".join(rng.choice(CODE_ALPHABET) for _ in range(length))
    return "-".join(symbols[i : i + CODE_GROUP_LENGTH] for i in range(0, length, CODE_GROUP_LENGTH))
