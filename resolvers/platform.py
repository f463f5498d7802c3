"""Platform administration: organisations and tests."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from models import Organisation, Test
from resolvers import access
from resolvers.access import Operation
from resolvers.audit import record_audit
from resolvers.errors import DomainError, ErrorCode
from resolvers.lifecycle_policy import MAX_VALIDITY_MONTHS
from resolvers.principal import Principal
from resolvers.text import hidden_character
from resolvers.wording import count, number

MAX_SCORE = 1_000_000
"""The highest score a test's scale may reach (and its minimum certifiable score without a maximum)."""


def clean_label(value: str, field: list[str], max_length: int = 200) -> str:
    """NFC-normalise and trim a display name; 1–``max_length`` characters, no control or invisible
    characters but the joiners a script needs (:func:`resolvers.text.hidden_character`).

    Raises:
        DomainError: INVALID_INPUT naming ``field``.
    """
    value = unicodedata.normalize("NFC", value).strip()
    if not value or len(value) > max_length:
        received = count(len(value), "character")
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"must be 1–{number(max_length)} characters; received {received}", field
        )
    hidden = hidden_character(value)
    if hidden is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"must not contain the invisible character {hidden}", field)
    return value


MAX_LEVELS = 20
LEVEL_MAX_LENGTH = 40


def clean_levels(levels: Sequence[tuple[str, int]] | None, highest: int) -> dict[str, int] | None:
    """A test's level mapping ``{"B1": 40, "B2": 60}`` from (level, minimum score) pairs; None for none.

    Each level 1–40 characters (as a display name) and named once, each minimum score 0–``highest`` and
    given once, at most 20 levels (docs/RULES.md, "Recording"). A score reaches the highest level whose
    minimum it meets (:func:`resolvers.verification.level_for`).

    Raises:
        DomainError: INVALID_INPUT naming ``["input", "levels"]``.
    """
    if not levels:
        return None
    field = ["input", "levels"]
    if len(levels) > MAX_LEVELS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"give at most {MAX_LEVELS} levels; received {len(levels)}", field)
    mapping: dict[str, int] = {}
    for name, minimum in levels:
        level = clean_label(name, field, max_length=LEVEL_MAX_LENGTH)
        if level in mapping:
            raise DomainError(ErrorCode.INVALID_INPUT, f"the level {level} is given twice", field)
        if not 0 <= minimum <= highest:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"the minimum score of {level} must be 0–{number(highest)}; received {number(minimum)}",
                field,
            )
        if minimum in mapping.values():
            raise DomainError(ErrorCode.INVALID_INPUT, f"two levels start at the score {number(minimum)}", field)
        mapping[level] = minimum
    return mapping


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


async def create_test(
    *,
    principal: Principal,
    name: str,
    min_certifiable_score: int,
    score_max: int | None = None,
    validity_months: int | None = None,
    levels: Sequence[tuple[str, int]] | None = None,
) -> Test:
    """Create a test whose certifiable scores start at ``min_certifiable_score`` (inclusive).

    ``score_max`` None: the scale has no maximum; given, 0 ≤ minimum ≤ maximum
    (docs/RULES.md, "Recording"). ``validity_months`` None: its certificates
    never expire; given, 1–1,200 calendar months from the sitting's takenAt. ``levels``: the test's
    own level mapping as (level, minimum score) pairs (:func:`clean_levels`); none: its results have no level.

    Raises:
        Forbidden: not a platform admin (rule ``createTest``).
        DomainError: INVALID_INPUT (name, scoreMax outside 1–1,000,000, a minimum outside 0–scoreMax
            (0–1,000,000 without one), validityMonths outside 1–1,200, levels as :func:`clean_levels` refuses).
    """
    access.require(principal, Operation.CREATE_TEST)
    clean = clean_label(name, ["input", "name"])
    if score_max is not None and not 1 <= score_max <= MAX_SCORE:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"scoreMax must be 1–{number(MAX_SCORE)}; received {number(score_max)}",
            ["input", "scoreMax"],
        )
    highest = MAX_SCORE if score_max is None else score_max
    if not 0 <= min_certifiable_score <= highest:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"minCertifiableScore must be 0–{number(highest)}; received {number(min_certifiable_score)}",
            ["input", "minCertifiableScore"],
        )
    if validity_months is not None and not 1 <= validity_months <= MAX_VALIDITY_MONTHS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"validityMonths must be 1–{number(MAX_VALIDITY_MONTHS)}; received {number(validity_months)}",
            ["input", "validityMonths"],
        )
    mapping = clean_levels(levels, highest)
    test = await Test.create(
        name=clean,
        min_certifiable_score=min_certifiable_score,
        score_max=score_max,
        validity_months=validity_months,
        cefr_mapping=mapping,
    )
    await record_audit(actor=principal, action="create_test", object_type="Test", object_id=test.id)
    return test
