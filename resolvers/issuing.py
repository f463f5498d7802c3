"""Issuing a rendered certificate: ISSUED, its sitting CERTIFIED, the test taker told — all or nothing.

Rules: docs/RULES.md, "Certificate statuses" (APPROVED → ISSUED), "Sitting
statuses" (IN_PROGRESS → CERTIFIED) and "Rendering". The render worker
(:mod:`workers.rendering`) prints the certificate and calls
:func:`issue_certificate` with the files; events are published after the
commit.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from adapters.storage import FileStorage, new_key
from models import Certificate, Sitting
from models.enums import CertificateStatus, CertificationStatus, NotificationKind
from models.transitions import ensure_transition
from resolvers.audit import SystemActor, record_audit
from resolvers.credentials import SignedCredential
from resolvers.messages import notify_test_taker
from resolvers.sql import change_status, transaction
from subscriptions.events import Event, NotificationCreated, Publisher, SittingStatusChanged

ISSUED_TITLE = "Your certificate has been issued"
RENDERER = SystemActor("renderer")


class RenderFailed(Exception):
    """A render cannot become an issued certificate: data missing, or the certificate or sitting changed meanwhile.

    The render queue stores ``"RenderFailed: <message>"`` as the certificate's render error.
    """


async def issuable_certificate(*, certificate_id: int) -> Certificate:
    """The certificate to print, with its sitting's test, organisation and test taker loaded.

    Raises:
        DoesNotExist: no such certificate.
        TransitionError: its sitting cannot become CERTIFIED.
        RenderFailed: it has no holder name, photo or verification code.
    """
    certificate = await Certificate.get(id=certificate_id).select_related(
        "sitting__test", "sitting__organisation", "sitting__test_taker"
    )
    ensure_transition(CertificationStatus(certificate.sitting.status), CertificationStatus.CERTIFIED)
    if not certificate.photo_key or not certificate.holder_name or not certificate.verification_code:
        raise RenderFailed("the certificate has no holder name, photo or verification code")
    return certificate


async def issue_certificate(
    *,
    certificate: Certificate,
    pdf: bytes,
    png: bytes,
    pdf_sha256: str,
    credential: SignedCredential,
    issued_at: datetime,
    storage: FileStorage,
    publisher: Publisher,
) -> None:
    """Store the PDF, PNG and credential, then in one transaction issue ``certificate`` (from :func:`issuable_certificate`).

    The transaction marks the certificate ISSUED with its files,
    ``pdf_sha256`` (hex) and its credential's status entry and signing key, the sitting CERTIFIED, writes the CERTIFICATE_ISSUED
    notification and e-mail and the audit row; after the commit it publishes
    ``sittingStatusChanged`` and ``notificationCreated``. On any failure the
    stored files are deleted and nothing changes.

    Raises:
        RenderFailed: the certificate is no longer APPROVED or its sitting no longer IN_PROGRESS.
        OSError, database errors: storing or committing failed.
    """
    keys = {"pdf_key": new_key("certificates", "pdf"), "png_key": new_key("certificates", "png")}
    keys["credential_key"] = new_key("credentials", "json")
    try:
        await storage.put(keys["pdf_key"], pdf)
        await storage.put(keys["png_key"], png)
        await storage.put(keys["credential_key"], credential.json.encode("utf-8"))
        async with transaction() as conn:
            await _mark_issued(conn, certificate, keys=keys, pdf_sha256=pdf_sha256, credential=credential, at=issued_at)
            events = await _tell_test_taker(conn, certificate, issued_at)
            await record_audit(
                actor=RENDERER,
                action="issue_certificate",
                object_type="Certificate",
                object_id=certificate.id,
                detail={"pdf_sha256": pdf_sha256, "attempt": certificate.render_attempts},
                conn=conn,
            )
    except BaseException:
        for key in keys.values():
            with contextlib.suppress(Exception):
                await storage.delete(key)
        raise
    await publisher.publish(events)


async def _mark_issued(
    conn, certificate: Certificate, *, keys: dict[str, str], pdf_sha256: str, credential: SignedCredential, at: datetime
) -> None:
    """The two conditional UPDATEs: certificate → ISSUED, sitting → CERTIFIED; RenderFailed if either missed."""
    issued = await change_status(
        conn,
        Certificate,
        certificate.id,
        CertificateStatus.ISSUED,
        **keys,
        pdf_sha256=pdf_sha256,
        signing_key=credential.signing_key,
        status_list_id=credential.status_list_id,
        status_list_index=credential.status_list_index,
        issued_at=at,
        render_next_at=None,
        render_error=None,
        updated_at=at,
    )
    certified = await change_status(conn, Sitting, certificate.sitting.id, CertificationStatus.CERTIFIED, updated_at=at)
    if not issued or not certified:
        raise RenderFailed("the certificate or its sitting changed while it was being rendered")


async def _tell_test_taker(conn, certificate: Certificate, at: datetime) -> list[Event]:
    """Write the CERTIFICATE_ISSUED notification and e-mail; return the events to publish after commit."""
    sitting = certificate.sitting
    notification = await notify_test_taker(
        conn,
        test_taker=sitting.test_taker,
        certificate_id=certificate.id,
        kind=NotificationKind.CERTIFICATE_ISSUED,
        title=ISSUED_TITLE,
        body=f"Your {sitting.test.name} certificate is ready to view and download. "
        f"Verification code: {certificate.verification_code}.",
        at=at,
    )
    return [
        SittingStatusChanged(
            sitting.organisation_id,
            sitting.id,
            CertificationStatus(sitting.status).value,
            CertificationStatus.CERTIFIED.value,
            at,
        ),
        NotificationCreated(sitting.test_taker_id, notification.id, at),
    ]
