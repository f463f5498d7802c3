"""The demo's last hours: the approved certificates issued by the real renderer, two of them revoked.

``certify seed-demo`` calls :func:`issue_demo` after :func:`demo.seed.seed_demo`
with a warm Chromium. It renders and issues every APPROVED certificate
through the render queue (:class:`workers.rendering.RenderWorker`, so each
has its PDF, PNG, SHA-256, issue notification and e-mail), then an admin of
the main organisation revokes two of the main organisation's issued
certificates with ``revokeCertificate``'s verb, and the lifecycle job runs
once: the holders of certificates whose sitting expires within
``CERTIFY_EXPIRY_REMINDER`` are reminded. Among the approved claims are some
whose sitting has expired (:func:`demo.certificates.approve_some`): issued,
they verify as EXPIRED. The e-mails of these steps are current and sit in
the outbox for ``certify serve`` to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.storage import FileStorage
from models import Certificate, Organisation
from models.enums import CertificateStatus, Role
from renderer import CertificateRenderer
from resolvers.credentials import CredentialIssuer
from resolvers.lifecycle import run_lifecycle
from resolvers.lifecycle_policy import DEFAULT_POLICY, LifecyclePolicy
from resolvers.principal import Principal
from resolvers.revocation import revoke_certificate
from subscriptions.events import NullPublisher
from workers.rendering import RenderSettings, RenderWorker

REVOCATIONS = 2
REVOCATION_REASON = (
    "After the certificate was issued the test centre found that another person sat the test in the candidate's name."
)
ADMIN_SUBJECT = "demo-admin"


@dataclass(frozen=True, slots=True)
class DemoIssue:
    """What :func:`issue_demo` did: certificates issued and revoked (ids), holders reminded of an expiry."""

    issued: list[int]
    revoked: list[int]
    expiry_reminders: int


async def issue_demo(
    *,
    renderer: CertificateRenderer,
    storage: FileStorage,
    render: RenderSettings,
    issuer: CredentialIssuer,
    organisation_name: str,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> DemoIssue:
    """Issue the approved certificates with ``renderer`` (started), revoke ``REVOCATIONS`` of them, run the job once.

    ``render``: the render queue's settings (its ``public_url`` goes into the
    printed verification links); ``issuer`` signs the credentials; ``organisation_name`` is the organisation whose admin revokes (its
    earliest-issued certificates that are neither expired nor about to). A render that fails
    is left to the render queue's retries in ``certify serve``. Idempotent:
    nothing approved and revocations already made leave nothing to do.
    """
    worker = RenderWorker(
        renderer=renderer,
        storage=storage,
        publisher=NullPublisher(),
        settings=render,
        issuer=issuer,
    )
    approved = set(await Certificate.filter(status=CertificateStatus.APPROVED).values_list("id", flat=True))
    while await worker.render_due():
        pass
    issued = sorted(
        await Certificate.filter(id__in=approved, status=CertificateStatus.ISSUED).values_list("id", flat=True)
    )
    revoked = await _revoke(issued, organisation_name, policy)
    report = await run_lifecycle(policy=policy, publisher=NullPublisher())
    return DemoIssue(issued=issued, revoked=revoked, expiry_reminders=report.expiry_reminders)


async def _revoke(issued: list[int], organisation_name: str, policy: LifecyclePolicy) -> list[int]:
    """Revoke the organisation's first ``REVOCATIONS`` of ``issued`` that are neither expired nor about to.

    None when the organisation has revoked before (a second run).
    """
    organisation = await Organisation.get(name=organisation_name)
    if await Certificate.filter(sitting__organisation_id=organisation.id, status=CertificateStatus.REVOKED).exists():
        return []
    now = datetime.now(UTC)
    candidates = (
        await Certificate.filter(id__in=issued, sitting__organisation_id=organisation.id)
        .select_related("sitting")
        .order_by("id")
    )
    later = now + policy.expiry_reminder
    valid = [c.id for c in candidates if c.sitting.expires_at is None or c.sitting.expires_at > later]
    admin = Principal(subject=ADMIN_SUBJECT, role=Role.ORG_ADMIN, organisation_id=organisation.id)
    for certificate_id in valid[:REVOCATIONS]:
        await revoke_certificate(
            principal=admin, certificate_id=certificate_id, reason=REVOCATION_REASON, publisher=NullPublisher()
        )
    return valid[:REVOCATIONS]
