"""Mutation inputs, as the contract names them."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.file_uploads import Upload

from gql.types.common import PhotoCheck
from gql.types.sitting import SittingFilter


@strawberry.input(description="Exactly one of ids, filter or all must be given.")
class SittingSelectionInput:
    ids: list[strawberry.ID] | None = None
    filter: SittingFilter | None = None
    all: bool | None = None


@strawberry.input
class ConfirmCertificationInput:
    idempotency_key: str


@strawberry.input
class CertifySittingsInput:
    selection: SittingSelectionInput
    idempotency_key: str


@strawberry.input
class PurchaseCreditsInput:
    organisation_id: strawberry.ID
    credits: int
    reference: str = strawberry.field(description="The payment's reference; a repeated reference adds nothing.")


@strawberry.input
class CreateOrganisationInput:
    name: str


@strawberry.input(description="One level of a test's own mapping: a score of at least minScore reaches it.")
class LevelInput:
    level: str = strawberry.field(description="Its name as printed, e.g. B2; 1–40 characters.")
    min_score: int


@strawberry.input
class CreateTestInput:
    name: str
    min_certifiable_score: int
    score_max: int | None = strawberry.field(default=None, description="Highest possible score; null: no maximum.")
    validity_months: int | None = strawberry.field(
        default=None, description="Months a certificate stays valid from the sitting's takenAt; null: for ever."
    )
    levels: list[LevelInput] | None = strawberry.field(
        default=None,
        description="The test's own level mapping (at most 20; a score reaches the highest level whose minScore "
        "it meets); null or empty: its results have no level.",
    )


@strawberry.input
class RecordSittingInput:
    external_id: str = strawberry.field(
        description="The delivery platform's own id of the sitting. Recording it again with the same facts "
        "changes nothing and counts as unchanged; with a changed score or photo check it updates the sitting "
        'while its facts are not frozen (see docs/RULES.md, "Recording").'
    )
    organisation_id: strawberry.ID
    test_id: strawberry.ID
    test_taker_email: str
    test_taker_name: str
    taken_at: datetime
    score: int
    photo_check: PhotoCheck


@strawberry.input
class RecordSittingsInput:
    sittings: list[RecordSittingInput]


@strawberry.input
class ClaimCertificateInput:
    sitting_id: strawberry.ID
    holder_name: str
    photo: Upload


@strawberry.input
class ApproveCertificateInput:
    certificate_id: strawberry.ID


@strawberry.input
class RetryRenderInput:
    certificate_id: strawberry.ID


@strawberry.input
class RejectCertificateInput:
    certificate_id: strawberry.ID
    reason: str


@strawberry.input
class RevokeCertificateInput:
    certificate_id: strawberry.ID
    reason: str


@strawberry.input
class ExtendClaimDeadlineInput:
    certificate_id: strawberry.ID
    claim_deadline: datetime


@strawberry.input
class MarkNotificationsReadInput:
    ids: list[strawberry.ID]
