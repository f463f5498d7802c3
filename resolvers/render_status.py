"""Whether a certificate's render is late, as its organisation's admins see it (docs/RULES.md, "Rendering").

Reviewers read the cause (``renderError``); an organisation's admins only
need to know that an approved certificate is not coming as fast as it
should, so they can tell the test taker, whether Chromium cannot start,
renders keep failing, or no worker is taking the queue.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import Certificate
from models.enums import CertificateStatus

RENDER_EXPECTED_WITHIN = timedelta(minutes=2)
"""How long after approval an issue is still on time: a render takes about 0.3 s and a worker does about
10 a second (BENCHMARKS.md, "rendering"), so even a queue of a thousand approvals is done within it."""
RETRYING_AFTER_ATTEMPTS = 2
"""From the second attempt on, an earlier one failed (or the process rendering it died)."""


def rendering_delayed(certificate: Certificate, *, now: datetime | None = None) -> bool:
    """True when ``certificate`` is APPROVED and its render failed for good, is being retried, or is overdue.

    Overdue: approved more than :data:`RENDER_EXPECTED_WITHIN` before ``now`` (default: the current UTC time).
    Any other status is never delayed.
    """
    if certificate.status != CertificateStatus.APPROVED:
        return False
    if certificate.render_error is not None or certificate.render_attempts >= RETRYING_AFTER_ATTEMPTS:
        return True
    approved_at = certificate.reviewed_at
    return approved_at is not None and (now or datetime.now(UTC)) - approved_at > RENDER_EXPECTED_WITHIN
