"""Platform administration: organisations and tests."""

from __future__ import annotations

import unicodedata

from models import Organisation, Test
from resolvers import access
from resolvers.access import Operation
from resolvers.audit import record_audit
from resolvers.errors import DomainError, ErrorCode
from resolvers.principal import Principal


def clean_label(value: str, field: list[str], max_length: int = 200) -> str:
    """NFC-normalise and trim a display name; 1–``max_length`` characters, no control characters.

    Raises:
        DomainError: INVALID_INPUT naming ``field``.
    """
    value = unicodedata.normalize("NFC", value).strip()
    if not value or len(value) > max_length:
        raise DomainError(ErrorCode.INVALID_INPUT, f"must be 1–{max_length} characters", field)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise DomainError(ErrorCode.INVALID_INPUT, "must not contain control characters", field)
    return value


async def create_organisation(*, principal: Principal, name: str) -> Organisation:
    """Create an organisation with no credits.

    Raises:
        Forbidden: not a platform admin (rule ``createOrganisation``).
        DomainError: INVALID_INPUT (name).
    """
    access.require(principal, Operation.CREATE_ORGANISATION)
    organisation = await Organisation.create(name=clean_label(name, ["input", "name"]))
    await record_audit(
        actor=principal, action="create_organisation", object_type="Organisation", object_id=organisation.id
    )
    return organisation


async def create_test(*, principal: Principal, name: str, min_certifiable_score: int, score_max: int = 100) -> Test:
    """Create a test whose certifiable scores are ``min_certifiable_score``..``score_max`` inclusive.

    Raises:
        Forbidden: not a platform admin (rule ``createTest``).
        DomainError: INVALID_INPUT (name, or a minimum outside 0..score_max).
    """
    access.require(principal, Operation.CREATE_TEST)
    clean = clean_label(name, ["input", "name"])
    if not 1 <= score_max <= 1_000_000:
        raise DomainError(ErrorCode.INVALID_INPUT, "scoreMax must be 1–1,000,000", ["input", "scoreMax"])
    if not 0 <= min_certifiable_score <= score_max:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"minCertifiableScore must be 0–{score_max}", ["input", "minCertifiableScore"]
        )
    test = await Test.create(name=clean, min_certifiable_score=min_certifiable_score, score_max=score_max)
    await record_audit(actor=principal, action="create_test", object_type="Test", object_id=test.id)
    return test
