"""Public verification of a certificate by its code: no authentication, nothing private.

Shows holder name, test, score, organisation and issue date of an ISSUED
certificate, whether it is VALID, EXPIRED or REVOKED (with the dates, never
the revocation's reason), and nothing at all (NOT_FOUND, ``valid`` False) for
any other code — never the photo or an e-mail address (docs/RULES.md,
"The certificate's life").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from models import Certificate
from models.enums import CertificateStatus

CODE_SHAPE = re.compile(r"^[0-9A-Z-]{1,64}$")
# Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or typed is unambiguous.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_GROUPS, CODE_GROUP_LENGTH = 4, 4  # 16 symbols = 80 random bits
# What people type for the symbols the alphabet leaves out (Crockford's decoding rules).
MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1"})
SEPARATORS = re.compile(r"[\s\-‐‑‒–—]+")


class VerificationStatus(StrEnum):
    """What a verification code says of its certificate; only VALID is ``valid``."""

    VALID = "VALID"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    NOT_FOUND = "NOT_FOUND"


VERIFIABLE = (CertificateStatus.ISSUED, CertificateStatus.REVOKED)


@dataclass(frozen=True, slots=True)
class Verification:
    """What anyone may learn from a verification code."""

    valid: bool
    status: VerificationStatus = VerificationStatus.NOT_FOUND
    verification_code: str | None = None
    holder_name: str | None = None
    test_name: str | None = None
    score: int | None = None
    score_max: int | None = None
    level: str | None = None
    organisation_name: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    has_credential: bool = False


INVALID = Verification(valid=False)


def level_for(score: int, cefr_mapping: dict | None) -> str | None:
    """The highest level whose minimum score ``score`` reaches, from ``{"B2": 60, ...}``; None without a mapping."""
    if not cefr_mapping:
        return None
    reached = [
        (minimum, level) for level, minimum in cefr_mapping.items() if isinstance(minimum, int) and score >= minimum
    ]
    return max(reached)[1] if reached else None


def normalise_code(code: str) -> str | None:
    """``code`` as stored (``7K3M-Q9XD-2HVT-R8BN``), or None when it cannot be a code.

    Forgiving as Crockford's base32 is: case, spaces and dashes (of any
    kind) do not matter, O reads as 0, and I or L as 1. Anything that does
    not then make 16 symbols is only trimmed and upper-cased.
    """
    if not isinstance(code, str):
        return None
    symbols = SEPARATORS.sub("", code.upper()).translate(MISREAD)
    if len(symbols) == CODE_GROUPS * CODE_GROUP_LENGTH and all(c in CODE_ALPHABET for c in symbols):
        return "-".join(symbols[i : i + CODE_GROUP_LENGTH] for i in range(0, len(symbols), CODE_GROUP_LENGTH))
    cleaned = code.strip().upper()
    return cleaned if CODE_SHAPE.fullmatch(cleaned) else None


async def verify_certificate(*, code: str, now: datetime | None = None) -> Verification:
    """The public facts and status of the issued (or since revoked) certificate with ``code``; ``INVALID`` otherwise.

    EXPIRED once ``now`` (default: the current time) reaches the sitting's ``expires_at``.
    """
    cleaned = normalise_code(code)
    if cleaned is None:
        return INVALID
    certificate = await Certificate.get_or_none(verification_code=cleaned, status__in=VERIFIABLE).select_related(
        "sitting__test", "sitting__organisation"
    )
    if certificate is None:
        return INVALID
    sitting = certificate.sitting
    status = _status(certificate, sitting.expires_at, now or datetime.now(UTC))
    return Verification(
        valid=status is VerificationStatus.VALID,
        status=status,
        expires_at=sitting.expires_at,
        revoked_at=certificate.revoked_at,
        verification_code=certificate.verification_code,
        holder_name=certificate.holder_name,
        test_name=sitting.test.name,
        score=sitting.score,
        score_max=sitting.test.score_max,
        level=level_for(sitting.score, sitting.test.cefr_mapping),
        organisation_name=sitting.organisation.name,
        issued_at=certificate.issued_at,
        has_credential=certificate.credential_key is not None,
    )


def _status(certificate: Certificate, expires_at: datetime | None, now: datetime) -> VerificationStatus:
    if certificate.status == CertificateStatus.REVOKED:
        return VerificationStatus.REVOKED
    if expires_at is not None and expires_at <= now:
        return VerificationStatus.EXPIRED
    return VerificationStatus.VALID
