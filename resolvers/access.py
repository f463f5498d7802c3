"""Who may see and do what: the role sets, the rule of every root field and field, and the visible rows.

Source: docs/RULES.md, "Who sees what". :data:`RULES` gives every Query,
Mutation and Subscription field of the schema (an :class:`Operation`, named
as in ``schema.graphql``) its :class:`Rule`; the verbs enforce it with
:func:`require`, :func:`require_organisation` or :func:`require_test_taker`.
:data:`FIELD_RULES` does the same for the object fields that are not for
everyone. The ``visible_*`` querysets are each role's scope: a row outside
them is NOT_FOUND (a UserError) or ``null`` / absent, never FORBIDDEN.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from models import Certificate, CreditTransaction, Notification, Organisation, Sitting, Test, TestTaker
from models.enums import CertificateStatus, Role
from resolvers.errors import Forbidden
from resolvers.principal import Principal

EVERYONE = frozenset(Role)
ORGANISATION_READERS = frozenset({Role.ORG_ADMIN, Role.ANALYST})
"""Members of one organisation (their token names it), who read all of it."""
ORGANISATION_ADMINS = frozenset({Role.ORG_ADMIN})
TEST_TAKERS = frozenset({Role.TEST_TAKER})
REVIEWERS = frozenset({Role.SECURITY_REVIEWER})
PLATFORM_ADMINS = frozenset({Role.PLATFORM_ADMIN})
REVIEW_READERS = REVIEWERS | PLATFORM_ADMINS
"""Who reads the review queue and render errors."""
CREDIT_READERS = ORGANISATION_READERS | PLATFORM_ADMINS
ANALYTICS_READERS = ORGANISATION_READERS | PLATFORM_ADMINS
"""Who runs aggregates and exports: an organisation's admins and analysts over it, platform admins over all."""
PHOTO_VIEWERS = EVERYONE - {Role.ANALYST}
UNSCOPED = PLATFORM_ADMINS
"""Roles whose scope is everything: no row is outside it."""

# What the security team sees ("the review queue and the certificates/sittings in it"):
# claims waiting for a decision, and approved ones until their render is stored (failures included).
REVIEWER_CERTIFICATE_STATUSES = (CertificateStatus.UNDER_REVIEW, CertificateStatus.APPROVED)


class Root(StrEnum):
    """The schema's root types."""

    QUERY = "Query"
    MUTATION = "Mutation"
    SUBSCRIPTION = "Subscription"


class Operation(StrEnum):
    """Every root field of the schema; the value is the field's GraphQL name."""

    VIEWER = "viewer"
    NODE = "node"
    SITTINGS = "sittings"
    SITTING_STATS = "sittingStats"
    NOTIFICATIONS = "notifications"
    REVIEW_QUEUE = "reviewQueue"
    VERIFY_CERTIFICATE = "verifyCertificate"
    SELECT_SITTINGS = "selectSittings"
    UNSELECT_SITTINGS = "unselectSittings"
    CONFIRM_CERTIFICATION = "confirmCertification"
    CERTIFY_SITTINGS = "certifySittings"
    CREATE_ORGANISATION = "createOrganisation"
    CREATE_TEST = "createTest"
    PURCHASE_CREDITS = "purchaseCredits"
    RECORD_SITTINGS = "recordSittings"
    MARK_NOTIFICATIONS_READ = "markNotificationsRead"
    CLAIM_CERTIFICATE = "claimCertificate"
    APPROVE_CERTIFICATE = "approveCertificate"
    REJECT_CERTIFICATE = "rejectCertificate"
    RETRY_RENDER = "retryRender"
    REVOKE_CERTIFICATE = "revokeCertificate"
    EXTEND_CLAIM_DEADLINE = "extendClaimDeadline"
    SITTING_STATUS_CHANGED = "sittingStatusChanged"
    LIVE_SITTINGS = "liveSittings"
    CREDIT_BALANCE_CHANGED = "creditBalanceChanged"
    NOTIFICATION_RECEIVED = "notificationReceived"
    REVIEW_QUEUE_CHANGED = "reviewQueueChanged"
    SITTING_AGGREGATES = "sittingAggregates"
    SCORE_HISTOGRAM = "scoreHistogram"
    CERTIFICATION_FUNNEL = "certificationFunnel"
    CREDIT_USAGE = "creditUsage"
    EXPORT_SITTINGS = "exportSittings"


class Claim(StrEnum):
    """What a caller's token must name besides its role."""

    NONE = "none"
    ORGANISATION = "organisation"
    TEST_TAKER = "test_taker"


def token_claim(role: Role) -> Claim:
    """What a token of ``role`` must name besides its role (an organisation, a test taker); else UNAUTHENTICATED."""
    if role in ORGANISATION_READERS:
        return Claim.ORGANISATION
    if role in TEST_TAKERS:
        return Claim.TEST_TAKER
    return Claim.NONE


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call one root field.

    ``root``: the root type holding the field. ``roles``: who may call it
    (any other role: FORBIDDEN). ``anonymous``: whether a caller without a
    token may (else UNAUTHENTICATED). ``claim``: what the token must name
    (else FORBIDDEN). ``scoped``: the field reads or changes only rows within
    the caller's scope (the ``visible_*`` sets; everything for
    :data:`UNSCOPED` roles); a row outside it is NOT_FOUND or ``null`` /
    absent, never FORBIDDEN. Source: docs/RULES.md, "Who sees what".
    """

    root: Root
    roles: frozenset[Role]
    anonymous: bool = False
    claim: Claim = Claim.NONE
    scoped: bool = False


def _query(roles: frozenset[Role], **options) -> Rule:
    return Rule(Root.QUERY, roles, **options)


def _mutation(roles: frozenset[Role], **options) -> Rule:
    return Rule(Root.MUTATION, roles, **options)


def _subscription(roles: frozenset[Role], **options) -> Rule:
    return Rule(Root.SUBSCRIPTION, roles, **options)


_ORGANISATION = {"claim": Claim.ORGANISATION, "scoped": True}
_OWN = {"claim": Claim.TEST_TAKER, "scoped": True}

# Every root field's rule (docs/RULES.md, "Who sees what"); tests/test_access.py checks it covers the schema.
RULES: dict[Operation, Rule] = {
    Operation.VIEWER: _query(EVERYONE),
    Operation.NODE: _query(EVERYONE, scoped=True),
    Operation.SITTINGS: _query(EVERYONE, scoped=True),
    Operation.SITTING_STATS: _query(EVERYONE, scoped=True),
    Operation.NOTIFICATIONS: _query(TEST_TAKERS, **_OWN),
    Operation.REVIEW_QUEUE: _query(REVIEW_READERS),
    Operation.VERIFY_CERTIFICATE: _query(EVERYONE, anonymous=True),
    Operation.SITTING_AGGREGATES: _query(ANALYTICS_READERS, scoped=True),
    Operation.SCORE_HISTOGRAM: _query(ANALYTICS_READERS, scoped=True),
    Operation.CERTIFICATION_FUNNEL: _query(ANALYTICS_READERS, scoped=True),
    Operation.CREDIT_USAGE: _query(ANALYTICS_READERS, scoped=True),
    Operation.EXPORT_SITTINGS: _query(ANALYTICS_READERS, scoped=True),
    Operation.SELECT_SITTINGS: _mutation(ORGANISATION_ADMINS, **_ORGANISATION),
    Operation.UNSELECT_SITTINGS: _mutation(ORGANISATION_ADMINS, **_ORGANISATION),
    Operation.CONFIRM_CERTIFICATION: _mutation(ORGANISATION_ADMINS, **_ORGANISATION),
    Operation.CERTIFY_SITTINGS: _mutation(ORGANISATION_ADMINS, **_ORGANISATION),
    Operation.CREATE_ORGANISATION: _mutation(PLATFORM_ADMINS),
    Operation.CREATE_TEST: _mutation(PLATFORM_ADMINS),
    Operation.PURCHASE_CREDITS: _mutation(PLATFORM_ADMINS),
    Operation.RECORD_SITTINGS: _mutation(PLATFORM_ADMINS),
    Operation.MARK_NOTIFICATIONS_READ: _mutation(TEST_TAKERS, **_OWN),
    Operation.CLAIM_CERTIFICATE: _mutation(TEST_TAKERS, **_OWN),
    # A reviewer decides on the certificates it may read (visible_certificates); any other ID is NOT_FOUND.
    Operation.APPROVE_CERTIFICATE: _mutation(REVIEWERS),
    Operation.REJECT_CERTIFICATE: _mutation(REVIEWERS),
    Operation.RETRY_RENDER: _mutation(REVIEW_READERS),
    Operation.REVOKE_CERTIFICATE: _mutation(ORGANISATION_ADMINS | PLATFORM_ADMINS, scoped=True),
    Operation.EXTEND_CLAIM_DEADLINE: _mutation(ORGANISATION_ADMINS | PLATFORM_ADMINS, scoped=True),
    Operation.SITTING_STATUS_CHANGED: _subscription(ORGANISATION_READERS, **_ORGANISATION),
    Operation.LIVE_SITTINGS: _subscription(ORGANISATION_READERS, **_ORGANISATION),
    Operation.CREDIT_BALANCE_CHANGED: _subscription(ORGANISATION_READERS, **_ORGANISATION),
    Operation.NOTIFICATION_RECEIVED: _subscription(TEST_TAKERS, **_OWN),
    Operation.REVIEW_QUEUE_CHANGED: _subscription(REVIEW_READERS, scoped=True),
}


def require(principal: Principal, operation: Operation) -> None:
    """Check ``principal`` may call ``operation`` (its :data:`RULES` entry; docs/RULES.md, "Who sees what").

    Authentication is checked before: the GraphQL context raises
    Unauthenticated for a missing or bad token where the rule admits no
    anonymous caller.

    Raises:
        Forbidden: the role is not among the rule's roles, or the token lacks
            the organisation / test taker the rule's claim needs.
    """
    rule = RULES[operation]
    if principal.role not in rule.roles:
        raise Forbidden(f"role {principal.role.value} may not do this")
    if rule.claim is Claim.ORGANISATION and principal.organisation_id is None:
        raise Forbidden("the token names no organisation")
    if rule.claim is Claim.TEST_TAKER and principal.test_taker_id is None:
        raise Forbidden("the token names no test taker")


def admits_anonymous(field_name: str) -> bool:
    """Whether a caller without a token may call the root field named ``field_name`` (unknown names: no)."""
    try:
        return RULES[Operation(field_name)].anonymous
    except ValueError:
        return False


def require_every_organisation(principal: Principal, purpose: str) -> None:
    """Check ``principal`` reads every organisation (:data:`UNSCOPED`), as comparing organisations needs.

    ``purpose``: what was asked, for the message (e.g. "group by ORGANISATION").

    Raises:
        Forbidden: any other role (docs/RULES.md, "Analytics").
    """
    if principal.role not in UNSCOPED:
        raise Forbidden(f"only platform admins may {purpose}")


def require_organisation(principal: Principal, operation: Operation) -> int:
    """:func:`require`, then the principal's organisation id (a primary key), which bounds the operation.

    Raises:
        Forbidden: as :func:`require`, or the token names no organisation.
    """
    require(principal, operation)
    if principal.organisation_id is None:
        raise Forbidden("the token names no organisation")
    return principal.organisation_id


def require_test_taker(principal: Principal, operation: Operation) -> int:
    """:func:`require`, then the principal's test taker id (a primary key), which bounds the operation.

    Raises:
        Forbidden: as :func:`require`, or the token names no test taker.
    """
    require(principal, operation)
    if principal.test_taker_id is None:
        raise Forbidden("the token names no test taker")
    return principal.test_taker_id


class Field(StrEnum):
    """Object fields with a rule of their own, as ``Type.field``."""

    CREDIT_BALANCE = "Organisation.creditBalance"
    CREDIT_TRANSACTIONS = "Organisation.creditTransactions"
    RENDER_ERROR = "Certificate.renderError"
    PHOTO_URL = "Certificate.photoUrl"
    RENDERING_DELAYED = "Certificate.renderingDelayed"
    ADD_TO_LINKEDIN = "Certificate.addToLinkedInUrl"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """Who may read one field of an object they may already read.

    ``roles``: who may. ``own_organisation``: except for :data:`UNSCOPED`
    roles, only of their own organisation's object. ``refusal``: the message
    of the FORBIDDEN error anyone else gets, or None when the field reads
    ``null`` for them. Source: docs/RULES.md, "Who sees what".
    """

    roles: frozenset[Role]
    own_organisation: bool = False
    refusal: str | None = None


_CREDITS = FieldRule(
    CREDIT_READERS, own_organisation=True, refusal="only the organisation's admins and analysts may read its credits"
)

# Fields not for everyone (docs/RULES.md, "Who sees what"): credits, render errors, photos, render delays, LinkedIn.
FIELD_RULES: dict[Field, FieldRule] = {
    Field.CREDIT_BALANCE: _CREDITS,
    Field.CREDIT_TRANSACTIONS: _CREDITS,
    Field.RENDER_ERROR: FieldRule(REVIEW_READERS),
    Field.PHOTO_URL: FieldRule(PHOTO_VIEWERS),
    Field.RENDERING_DELAYED: FieldRule(ORGANISATION_ADMINS | PLATFORM_ADMINS, own_organisation=True),
    Field.ADD_TO_LINKEDIN: FieldRule(TEST_TAKERS | ORGANISATION_READERS),
}


def may_read(principal: Principal, field: Field, *, organisation_id: int | None = None) -> bool:
    """Whether ``principal`` may read ``field`` of an object of organisation ``organisation_id`` it can see.

    A field whose rule has no ``refusal`` reads ``null`` when this is False
    (:data:`FIELD_RULES`; docs/RULES.md, "Who sees what").
    """
    rule = FIELD_RULES[field]
    if principal.role not in rule.roles:
        return False
    return not rule.own_organisation or principal.role in UNSCOPED or principal.organisation_id == organisation_id


def require_field(principal: Principal, field: Field, *, organisation_id: int | None = None) -> None:
    """Check ``principal`` may read ``field`` (see :func:`may_read`).

    Raises:
        Forbidden: it may not, with the rule's ``refusal`` as message.
    """
    if not may_read(principal, field, organisation_id=organisation_id):
        raise Forbidden(FIELD_RULES[field].refusal or f"role {principal.role.value} may not read {field.value}")


def viewer_scope(principal: Principal) -> tuple[Role, int | None, int | None]:
    """What a viewer may read depends on nothing but this: (role, organisation id, test taker id).

    Two principals with the same scope see the same rows of every query and
    subscription, so their identical subscriptions may share one stream
    (:mod:`server.multiplex`). The subject is not part of it.
    """
    return principal.role, principal.organisation_id, principal.test_taker_id


def visible_sittings(principal: Principal) -> QuerySet[Sitting]:
    """The sittings ``principal`` may read: its organisation's, its own, or those of queued certificates.

    Source: docs/RULES.md, "Who sees what"; the certificate, organisation and test taker sets derive from it.
    """
    if principal.role in UNSCOPED:
        return Sitting.all()
    if principal.role in ORGANISATION_READERS:
        return Sitting.filter(organisation_id=principal.organisation_id)
    if principal.role in TEST_TAKERS:
        return Sitting.filter(test_taker_id=principal.test_taker_id)
    if principal.role in REVIEWERS:
        in_review = Certificate.filter(status__in=REVIEWER_CERTIFICATE_STATUSES)
        return Sitting.filter(id__in=Subquery(in_review.values("sitting_id")))
    return Sitting.filter(id=-1)


def visible_certificates(principal: Principal) -> QuerySet[Certificate]:
    """Certificates of visible sittings; reviewers see those under review or approved and not yet issued."""
    if principal.role in REVIEWERS:
        return Certificate.filter(status__in=REVIEWER_CERTIFICATE_STATUSES)
    if principal.role in UNSCOPED:
        return Certificate.all()
    return Certificate.filter(sitting_id__in=Subquery(visible_sittings(principal).values("id")))


def visible_organisations(principal: Principal) -> QuerySet[Organisation]:
    """The caller's organisation, or the organisations of the sittings it may read."""
    if principal.role in UNSCOPED:
        return Organisation.all()
    if principal.organisation_id is not None:
        return Organisation.filter(id=principal.organisation_id)
    return Organisation.filter(id__in=Subquery(visible_sittings(principal).values("organisation_id")))


def visible_test_takers(principal: Principal) -> QuerySet[TestTaker]:
    """The test taker itself, or the candidates of the sittings the caller may read."""
    if principal.role in UNSCOPED:
        return TestTaker.all()
    if principal.role in TEST_TAKERS:
        return TestTaker.filter(id=principal.test_taker_id)
    return TestTaker.filter(id__in=Subquery(visible_sittings(principal).values("test_taker_id")))


def visible_notifications(principal: Principal) -> QuerySet[Notification]:
    """A test taker's own notifications; nobody else reads any."""
    if principal.role in TEST_TAKERS:
        return Notification.filter(test_taker_id=principal.test_taker_id)
    return Notification.filter(id=-1)


def visible_credit_transactions(principal: Principal) -> QuerySet[CreditTransaction]:
    """The ledger rows of the organisations whose credits the caller may read."""
    if principal.role in UNSCOPED:
        return CreditTransaction.all()
    if principal.role in CREDIT_READERS:
        return CreditTransaction.filter(organisation_id=principal.organisation_id)
    return CreditTransaction.filter(id=-1)


def visible_tests(principal: Principal) -> QuerySet[Test]:
    """Every test: tests are shared by the platform."""
    return Test.all()


VISIBLE = {
    "Sitting": visible_sittings,
    "Certificate": visible_certificates,
    "Organisation": visible_organisations,
    "TestTaker": visible_test_takers,
    "Notification": visible_notifications,
    "CreditTransaction": visible_credit_transactions,
    "Test": visible_tests,
}
"""GraphQL type name → the queryset of its rows a principal may read."""


async def fetch_visible(principal: Principal, type_name: str, pk: int):
    """The ``type_name`` row with primary key ``pk`` if ``principal`` may read it, else None (unknown types too)."""
    scope = VISIBLE.get(type_name)
    if scope is None:
        return None
    return await scope(principal).get_or_none(id=pk)
