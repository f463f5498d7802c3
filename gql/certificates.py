"""Certificates area: claim, the review queue, approve / reject, and public verification."""

from __future__ import annotations

from typing import Any

import strawberry

from gql.context import Info
from gql.errors import as_payload
from gql.ids import decode_id
from gql.types.certificate import Certificate, CertificateConnection, CertificateVerification, VerificationStatus
from gql.types.inputs import (
    ApproveCertificateInput,
    ClaimCertificateInput,
    ExtendClaimDeadlineInput,
    RejectCertificateInput,
    RetryRenderInput,
    RevokeCertificateInput,
)
from gql.types.payloads import CertificatePayload
from models import Certificate as CertificateRow
from resolvers import claims, render_retry, review, revocation
from resolvers.credentials import credential_url
from resolvers.errors import DomainError, ErrorCode
from resolvers.holder import refuse_photo_size
from resolvers.verification import verify_certificate


def _done(row: CertificateRow) -> CertificatePayload:
    return CertificatePayload(certificate=Certificate.from_model(row), errors=[])


def _failed(errors) -> CertificatePayload:
    return CertificatePayload(certificate=None, errors=errors)


async def read_upload(upload: Any, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of an uploaded file (enough to tell it is too large).

    Raises:
        DomainError: INVALID_PHOTO when ``upload`` is not a file part, or when the multipart parser
            already counted more than ``limit`` bytes in it (the message names its size).
    """
    if not hasattr(upload, "read"):
        raise DomainError(ErrorCode.INVALID_PHOTO, "send the photo as a file upload", ["input", "photo"])
    size = getattr(upload, "size", None)
    if isinstance(size, int) and size > limit:
        refuse_photo_size(size, limit)
    return await upload.read(limit + 1)


@strawberry.type
class CertificateQuery:
    @strawberry.field(
        description="Claims waiting for review, oldest first, and approved certificates whose "
        "rendering failed (security reviewers and platform admins). `search` keeps those whose test taker's "
        "name or e-mail, or submitted holder name, contains it (case-insensitive); `newestFirst` reverses "
        "the order."
    )
    async def review_queue(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        newest_first: bool | None = False,
    ) -> CertificateConnection:
        page = await review.review_queue(
            principal=info.context.require_principal(),
            first=first,
            after=after,
            search=search,
            newest_first=bool(newest_first),
        )
        return CertificateConnection.from_page(page)

    @strawberry.field(description="Public: no authentication needed.")
    async def verify_certificate(self, info: Info, code: str) -> CertificateVerification:
        result = await verify_certificate(code=code)
        return CertificateVerification(
            valid=result.valid,
            status=VerificationStatus(result.status.value),
            expires_at=result.expires_at,
            revoked_at=result.revoked_at,
            holder_name=result.holder_name,
            test_name=result.test_name,
            score=result.score,
            score_max=result.score_max,
            level=result.level,
            organisation_name=result.organisation_name,
            issued_at=result.issued_at,
            credential_url=credential_url(info.context.state.settings.public_url, result.verification_code)
            if result.has_credential
            else None,
        )


@strawberry.type
class CertificateMutation:
    @strawberry.mutation(description="The test taker submits the name to print and a photo (multipart upload).")
    async def claim_certificate(self, info: Info, input: ClaimCertificateInput) -> CertificatePayload:
        principal = info.context.require_principal()

        async def work() -> CertificateRow:
            photo = await read_upload(input.photo, claims.PHOTO_MAX_BYTES)
            return await claims.claim_certificate(
                principal=principal,
                sitting_id=decode_id(input.sitting_id, "Sitting"),
                holder_name=input.holder_name,
                photo=photo,
                storage=info.context.state.storage,
                publisher=info.context.publisher,
            )

        return await as_payload(work(), ok=_done, failed=_failed)

    @strawberry.mutation
    async def approve_certificate(self, info: Info, input: ApproveCertificateInput) -> CertificatePayload:
        principal = info.context.require_principal()
        payload = await as_payload(
            review.approve_certificate(
                principal=principal,
                certificate_id=decode_id(input.certificate_id, "Certificate"),
                publisher=info.context.publisher,
            ),
            ok=_done,
            failed=_failed,
        )
        if not payload.errors and info.context.state.render_worker is not None:
            info.context.state.render_worker.wake()
        return payload

    @strawberry.mutation(
        description="Queue again the render of an APPROVED certificate that failed after its last retry "
        "(security reviewers and platform admins)."
    )
    async def retry_render(self, info: Info, input: RetryRenderInput) -> CertificatePayload:
        work = render_retry.retry_render(
            principal=info.context.require_principal(),
            certificate_id=decode_id(input.certificate_id, "Certificate"),
        )
        payload = await as_payload(work, ok=_done, failed=_failed)
        if not payload.errors and info.context.state.render_worker is not None:
            info.context.state.render_worker.wake()
        return payload

    @strawberry.mutation(
        description="ORG_ADMIN of the certificate's organisation, or PLATFORM_ADMIN: revoke an ISSUED certificate. "
        "Irreversible; the holder is notified; verification reports REVOKED."
    )
    async def revoke_certificate(self, info: Info, input: RevokeCertificateInput) -> CertificatePayload:
        work = revocation.revoke_certificate(
            principal=info.context.require_principal(),
            certificate_id=decode_id(input.certificate_id, "Certificate"),
            reason=input.reason,
            publisher=info.context.publisher,
        )
        return await as_payload(work, ok=_done, failed=_failed)

    @strawberry.mutation(
        description="ORG_ADMIN of the certificate's organisation, or PLATFORM_ADMIN: move the claim deadline of an "
        "AWAITING_CLAIM or REJECTED certificate later, never earlier."
    )
    async def extend_claim_deadline(self, info: Info, input: ExtendClaimDeadlineInput) -> CertificatePayload:
        work = revocation.extend_claim_deadline(
            principal=info.context.require_principal(),
            certificate_id=decode_id(input.certificate_id, "Certificate"),
            claim_deadline=input.claim_deadline,
        )
        return await as_payload(work, ok=_done, failed=_failed)

    @strawberry.mutation
    async def reject_certificate(self, info: Info, input: RejectCertificateInput) -> CertificatePayload:
        work = review.reject_certificate(
            principal=info.context.require_principal(),
            certificate_id=decode_id(input.certificate_id, "Certificate"),
            reason=input.reason,
            publisher=info.context.publisher,
            policy=info.context.settings.lifecycle_policy,
        )
        return await as_payload(work, ok=_done, failed=_failed)
