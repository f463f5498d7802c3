"""Certificates, their connection, verification result and review-queue events."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from gql.context import Info
from gql.ids import to_global_id
from gql.types.common import CertificateStatus, Node, PageInfo, edges_of
from models import Certificate as CertificateRow
from models.enums import CertificateStatus as CertificateStatusRow
from resolvers import access, verification
from resolvers.access import Field
from resolvers.certificate_files import FILED
from resolvers.credentials import credential_url, linkedin_url
from resolvers.pagination import Page
from resolvers.render_status import rendering_delayed

if TYPE_CHECKING:
    from gql.types.sitting import Sitting


@strawberry.type
class Certificate(Node):
    row: strawberry.Private[CertificateRow]
    id: strawberry.ID
    status: CertificateStatus
    holder_name: str | None
    submitted_at: datetime | None
    reviewed_at: datetime | None
    rejection_reason: str | None
    issued_at: datetime | None
    verification_code: str | None
    claim_deadline: datetime | None = strawberry.field(
        description="When an AWAITING_CLAIM or REJECTED certificate lapses unless a claim is submitted."
    )
    revoked_at: datetime | None
    revocation_reason: str | None = strawberry.field(
        description="Shown to the holder, the organisation, reviewers and platform admins; "
        "never on the public verification."
    )

    @classmethod
    def from_model(cls, row: CertificateRow) -> Certificate:
        return cls(
            row=row,
            id=strawberry.ID(to_global_id("Certificate", row.id)),
            status=row.status,
            holder_name=row.holder_name,
            submitted_at=row.submitted_at,
            reviewed_at=row.reviewed_at,
            rejection_reason=row.rejection_reason,
            issued_at=row.issued_at,
            verification_code=row.verification_code,
            claim_deadline=row.claim_deadline,
            revoked_at=row.revoked_at,
            revocation_reason=row.revocation_reason,
        )

    @strawberry.field(description="The sitting's takenAt plus the test's validityMonths; null: never expires.")
    async def expires_at(self, info: Info) -> datetime | None:
        return (await info.context.loaders.sitting_by_id.load(self.row.sitting_id)).expires_at

    @strawberry.field(
        description="Why rendering failed after its last retry; null otherwise. Shown to reviewers and platform admins."
    )
    def render_error(self, info: Info) -> str | None:
        readable = access.may_read(info.context.require_principal(), Field.RENDER_ERROR)
        return self.row.render_error if readable else None

    @strawberry.field(
        description="Whether the render of this APPROVED certificate is late: it failed for good, is being "
        "retried, or has waited more than two minutes since approval (false once ISSUED, and for any other "
        "status). For the organisation's admins and platform admins; null for everyone else."
    )
    async def rendering_delayed(self, info: Info) -> bool | None:
        sitting = await info.context.loaders.sitting_by_id.load(self.row.sitting_id)
        principal = info.context.require_principal()
        if not access.may_read(principal, Field.RENDERING_DELAYED, organisation_id=sitting.organisation_id):
            return None
        return rendering_delayed(self.row)

    @strawberry.field
    async def sitting(self, info: Info) -> Annotated[Sitting, strawberry.lazy("gql.types.sitting")]:
        from gql.types.sitting import Sitting

        return Sitting.from_model(await info.context.loaders.sitting_by_id.load(self.row.sitting_id))

    @strawberry.field(
        description="Short-lived signed URLs, set once ISSUED (and still once REVOKED), and only for viewers "
        "allowed to see the certificate."
    )
    def pdf_url(self, info: Info) -> str | None:
        return info.context.state.file_urls.certificate_url(self.row, "pdf")

    @strawberry.field
    def png_url(self, info: Info) -> str | None:
        return info.context.state.file_urls.certificate_url(self.row, "png")

    @strawberry.field(
        description="Public URL of the signed Open Badges 3.0 credential (JSON-LD with a Data Integrity proof), "
        "set once ISSUED."
    )
    def credential_url(self, info: Info) -> str | None:
        if self.row.credential_key is None or self.row.status not in FILED:
            return None
        return credential_url(info.context.state.settings.public_url, self.row.verification_code)

    @strawberry.field(
        description="LinkedIn's add-to-profile link for this certificate, set once ISSUED, "
        "for the holder and the organisation."
    )
    async def add_to_linked_in_url(self, info: Info) -> str | None:
        if self.row.status != CertificateStatusRow.ISSUED or self.row.credential_key is None:
            return None
        loaders = info.context.loaders
        sitting = await loaders.sitting_by_id.load(self.row.sitting_id)
        principal = info.context.require_principal()
        if not access.may_read(principal, Field.ADD_TO_LINKEDIN, organisation_id=sitting.organisation_id):
            return None
        test = await loaders.test_by_id.load(sitting.test_id)
        organisation = await loaders.organisation_by_id.load(sitting.organisation_id)
        return linkedin_url(
            test_name=test.name,
            organisation_name=organisation.name,
            issued_at=self.row.issued_at,
            expires_at=sitting.expires_at,
            credential=credential_url(info.context.state.settings.public_url, self.row.verification_code),
            code=self.row.verification_code,
        )

    @strawberry.field(
        description="Short-lived signed URL of the submitted photo, set from the claim on, "
        "for the test taker, reviewers and the organisation's admins."
    )
    def photo_url(self, info: Info) -> str | None:
        return info.context.state.file_urls.photo_url(self.row, info.context.require_principal())


@strawberry.type
class CertificateEdge:
    cursor: str
    node: Certificate


@strawberry.type
class CertificateConnection:
    edges: list[CertificateEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def from_page(cls, page: Page[CertificateRow]) -> CertificateConnection:
        return cls(
            edges=edges_of(page, CertificateEdge, Certificate.from_model),
            page_info=PageInfo.from_page(page),
            total_count=page.total_count,
        )


@strawberry.enum(description="What a verification code says of its certificate; only VALID is valid.")
class VerificationStatus(Enum):
    VALID = verification.VerificationStatus.VALID.value
    EXPIRED = verification.VerificationStatus.EXPIRED.value
    REVOKED = verification.VerificationStatus.REVOKED.value
    NOT_FOUND = strawberry.enum_value(
        verification.VerificationStatus.NOT_FOUND.value, description="No issued certificate has this code."
    )


@strawberry.type
class CertificateVerification:
    valid: bool = strawberry.field(description="True only when status is VALID.")
    status: VerificationStatus
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    holder_name: str | None = None
    test_name: str | None = None
    score: int | None = None
    score_max: int | None = strawberry.field(
        default=None, description="The test's highest possible score; null: its scale has no maximum."
    )
    level: str | None = strawberry.field(
        default=None, description="The level the test's own mapping gives the score (e.g. B2); null: the test has none."
    )
    organisation_name: str | None = None
    issued_at: datetime | None = None
    credential_url: str | None = strawberry.field(
        default=None, description="Public URL of the certificate's signed Open Badges 3.0 credential."
    )


@strawberry.enum
class ReviewQueueChange(Enum):
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@strawberry.type
class ReviewQueueEvent:
    certificate: Certificate
    change: ReviewQueueChange
    at: datetime
