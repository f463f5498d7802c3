"""Enumerations shared by the models; values equal the GraphQL enum values."""

from enum import StrEnum


class Role(StrEnum):
    """JWT role claim values (docs/RULES.md, "Who sees what")."""

    ORG_ADMIN = "org_admin"
    ANALYST = "analyst"
    TEST_TAKER = "test_taker"
    SECURITY_REVIEWER = "security_reviewer"
    PLATFORM_ADMIN = "platform_admin"


class CertificationStatus(StrEnum):
    """A sitting's certification status as the dashboard shows it."""

    UNSELECTED = "UNSELECTED"
    SELECTED = "SELECTED"
    IN_PROGRESS = "IN_PROGRESS"
    CERTIFIED = "CERTIFIED"
    INELIGIBLE = "INELIGIBLE"


class IneligibilityReason(StrEnum):
    LOW_SCORE = "LOW_SCORE"
    PHOTO_PROBLEM = "PHOTO_PROBLEM"
    EXPIRED = "EXPIRED"


class PhotoCheck(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"


class CertificateStatus(StrEnum):
    """A certificate's status as the test taker and the security team see it."""

    AWAITING_CLAIM = "AWAITING_CLAIM"
    UNDER_REVIEW = "UNDER_REVIEW"
    REJECTED = "REJECTED"
    APPROVED = "APPROVED"
    ISSUED = "ISSUED"
    LAPSED = "LAPSED"
    REVOKED = "REVOKED"


class CreditTransactionKind(StrEnum):
    PURCHASE = "PURCHASE"
    CERTIFICATION = "CERTIFICATION"
    REFUND = "REFUND"


class NotificationKind(StrEnum):
    """What an in-app notification is about; each has an e-mail of the same name but CERTIFICATE_APPROVED (in-app only)."""

    CERTIFICATE_READY_TO_CLAIM = "CERTIFICATE_READY_TO_CLAIM"
    CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"
    CERTIFICATE_REJECTED = "CERTIFICATE_REJECTED"
    CLAIM_REMINDER = "CLAIM_REMINDER"
    CLAIM_LAPSED = "CLAIM_LAPSED"
    CERTIFICATE_EXPIRING = "CERTIFICATE_EXPIRING"
    CERTIFICATE_REVOKED = "CERTIFICATE_REVOKED"
    CERTIFICATE_APPROVED = "CERTIFICATE_APPROVED"


class EmailTemplate(StrEnum):
    """Which message an outbox row carries; rendered when it is delivered."""

    CERTIFICATE_READY_TO_CLAIM = "CERTIFICATE_READY_TO_CLAIM"
    CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"
    CERTIFICATE_REJECTED = "CERTIFICATE_REJECTED"
    CLAIM_REMINDER = "CLAIM_REMINDER"
    CLAIM_LAPSED = "CLAIM_LAPSED"
    CERTIFICATE_EXPIRING = "CERTIFICATE_EXPIRING"
    CERTIFICATE_REVOKED = "CERTIFICATE_REVOKED"


class ReminderKind(StrEnum):
    """What a lifecycle reminder is about (docs/RULES.md, "The certificate's life")."""

    CLAIM = "CLAIM"
    EXPIRY = "EXPIRY"
