"""Recording sittings from the test-delivery platform: validate, upsert by externalId, decide eligibility.

Rules: docs/RULES.md, "Recording" (recordSittings). The batch is all or
nothing; a bad row fails it with a UserError whose field names the row.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from email_validator import EmailNotValidError
from tortoise.exceptions import IntegrityError

from models import Organisation, Sitting, Test
from models.enums import CertificationStatus, IneligibilityReason, PhotoCheck
from models.sitting import test_taker_search_key
from resolvers import access
from resolvers.access import Operation
from resolvers.audit import record_audit
from resolvers.errors import DomainError, ErrorCode
from resolvers.lifecycle_policy import expires_at
from resolvers.principal import Principal
from resolvers.sql import Statement, chunks, insert_rows, transaction
from resolvers.text import has_control_characters, hidden_character, normalized_email
from resolvers.wording import count, number
from subscriptions.events import Event, Publisher, SittingsRecorded, SittingStatusChanged

MAX_ROWS = 1000
EARLIEST_TAKEN_AT = datetime(1970, 1, 1, tzinfo=UTC)
"""No sitting is older: the analytics months (resolvers/time_zones.py) start there."""
CONFLICT_ATTEMPTS = 3
FROZEN = frozenset({CertificationStatus.IN_PROGRESS, CertificationStatus.CERTIFIED})
"""Statuses whose facts are frozen: certified or on the way to it (a lapsed claim's sitting is UNSELECTED again)."""


class _ChangedMeanwhile(Exception):
    """A sitting's status changed between reading it and writing its re-recorded facts."""


@dataclass(frozen=True, slots=True)
class SittingRecord:
    """One ``RecordSittingInput`` row; organisation/test ids are None when the ID did not decode."""

    external_id: str
    organisation_id: int | None
    test_id: int | None
    test_taker_email: str
    test_taker_name: str
    taken_at: datetime
    score: int
    photo_check: PhotoCheck


@dataclass(frozen=True, slots=True)
class RecordResult:
    recorded_count: int
    unchanged_count: int


def decide_eligibility(
    score: int, photo_check: PhotoCheck, test: Test, expires: datetime | None = None, now: datetime | None = None
) -> IneligibilityReason | None:
    """None when certifiable; else the reason. A score equal to the minimum is certifiable; a
    sitting whose validity ended (``expires`` at or before ``now``) is EXPIRED; when several
    reasons apply the first of LOW_SCORE, PHOTO_PROBLEM, EXPIRED wins (docs/RULES.md, "Recording")."""
    if score < test.min_certifiable_score:
        return IneligibilityReason.LOW_SCORE
    if photo_check is PhotoCheck.FAILED:
        return IneligibilityReason.PHOTO_PROBLEM
    if expires is not None and expires <= (now or datetime.now(UTC)):
        return IneligibilityReason.EXPIRED
    return None


def _clean_row(index: int, row: SittingRecord, tests: dict[int, Test], organisations: set[int]) -> tuple[str, str, str]:
    """Validate one row; return (external id, NFC name, normalised email)."""

    def fail(code: ErrorCode, message: str, name: str) -> DomainError:
        return DomainError(code, f"sitting {index}: {message}", ["sittings", str(index), name])

    external_id = row.external_id.strip()
    if not external_id or len(external_id) > 200 or has_control_characters(external_id):
        raise fail(ErrorCode.INVALID_INPUT, "externalId must be 1–200 printable characters", "externalId")
    if row.organisation_id not in organisations:
        raise fail(ErrorCode.NOT_FOUND, "no such organisation", "organisationId")
    test = tests.get(row.test_id or -1)
    if test is None:
        raise fail(ErrorCode.NOT_FOUND, "no such test", "testId")
    if row.score < 0 or (test.score_max is not None and row.score > test.score_max):
        scale = "at least 0" if test.score_max is None else f"0–{number(test.score_max)}"
        raise fail(ErrorCode.INVALID_INPUT, f"score must be {scale}; received {number(row.score)}", "score")
    if row.taken_at.tzinfo is None:
        raise fail(ErrorCode.INVALID_INPUT, "takenAt needs a UTC offset", "takenAt")
    if row.taken_at > datetime.now(UTC):
        raise fail(ErrorCode.INVALID_INPUT, "takenAt is in the future", "takenAt")
    if row.taken_at < EARLIEST_TAKEN_AT:
        raise fail(ErrorCode.INVALID_INPUT, "takenAt is before 1970-01-01T00:00:00Z", "takenAt")
    name = unicodedata.normalize("NFC", " ".join(row.test_taker_name.split()))
    if not name or len(name) > 200:
        received = count(len(name), "character")
        raise fail(
            ErrorCode.INVALID_INPUT, f"testTakerName must be 1–200 characters; received {received}", "testTakerName"
        )
    hidden = hidden_character(name)
    if hidden is not None:
        raise fail(
            ErrorCode.INVALID_INPUT, f"testTakerName must not contain the invisible character {hidden}", "testTakerName"
        )
    try:
        email = normalized_email(row.test_taker_email.strip())
    except EmailNotValidError as exc:
        raise fail(ErrorCode.INVALID_INPUT, f"testTakerEmail is not valid: {exc}", "testTakerEmail") from exc
    return external_id, name, email


async def record_sittings(*, principal: Principal, rows: Sequence[SittingRecord], publisher: Publisher) -> RecordResult:
    """Insert new sittings and update changed ones, deciding eligibility; all or nothing.

    Raises:
        Forbidden: not a platform admin (rule ``recordSittings``).
        DomainError: INVALID_INPUT / NOT_FOUND / INVALID_TRANSITION naming ``["sittings", i, field]``.
    """
    access.require(principal, Operation.RECORD_SITTINGS)
    if not rows or len(rows) > MAX_ROWS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"give 1–{number(MAX_ROWS)} sittings per call; received {count(len(rows), 'sitting')}",
            ["sittings"],
        )
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            result, events = await _record(principal, rows)
            break
        except (IntegrityError, _ChangedMeanwhile):
            # A concurrent call inserted the same e-mail or externalId first, or changed
            # a sitting's status (selected, certified it); the rolled-back batch is simply
            # recomputed against what now exists.
            if attempt == CONFLICT_ATTEMPTS:
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    "concurrent recordings of the same sittings conflicted; retry",
                    ["sittings"],
                ) from None
    await publisher.publish(events)
    return result


@dataclass(slots=True)
class _Tally:
    """What one attempt changes: sittings to insert, counts, status events and the organisations touched."""

    new: list[tuple] = field(default_factory=list)
    recorded: int = 0
    unchanged: int = 0
    events: list[Event] = field(default_factory=list)
    organisations: set[int] = field(default_factory=set)

    def inserted(self, row: tuple, organisation_id: int) -> None:
        self.new.append(row)
        self.recorded += 1
        self.organisations.add(organisation_id)

    def updated(self, sitting: Sitting, change: tuple[str, str] | tuple[()], at: datetime) -> None:
        self.recorded += 1
        self.organisations.add(sitting.organisation_id)
        if change:
            self.events.append(SittingStatusChanged(sitting.organisation_id, sitting.id, change[0], change[1], at))


async def _record(principal: Principal, rows: Sequence[SittingRecord]) -> tuple[RecordResult, list[Event]]:
    """One all-or-nothing attempt of :func:`record_sittings`; returns its result and events."""
    now = datetime.now(UTC)
    tally = _Tally()
    async with transaction() as conn:
        await _custom_plans(conn, True)
        tests, organisations = await _references(conn, rows)
        cleaned = [_clean_row(i, row, tests, organisations) for i, row in enumerate(rows)]
        external_ids = _distinct_external_ids([external_id for external_id, _, _ in cleaned])
        existing = await _existing_sittings(conn, external_ids)
        people = _people([(name, email) for _, name, email in cleaned])
        takers = await _ids_by_email_key(conn, list(people))
        await _custom_plans(conn, False)
        takers.update(await _new_test_takers(conn, people, takers, now))
        for index, (row, (external_id, _, email)) in enumerate(zip(rows, cleaned, strict=True)):
            test = tests[row.test_id]  # type: ignore[index]
            test_taker_id = takers[email.casefold()]
            sitting = existing.get(external_id)
            if sitting is None:
                tally.inserted(_new_sitting(external_id, row, test, test_taker_id, now), row.organisation_id)
                continue
            reason = decide_eligibility(
                row.score, row.photo_check, test, expires_at(row.taken_at, test.validity_months), now
            )
            read_status = sitting.status
            change = _update_existing(index, sitting, row, test, test_taker_id, reason, now)
            if change is None:
                tally.unchanged += 1
                continue
            await _write_facts(conn, sitting, read_status, now)
            tally.updated(sitting, change, now)
        await insert_rows(conn, "sitting", SITTING_COLUMNS, tally.new)
        if tally.recorded:
            await record_audit(
                actor=principal,
                action="record_sittings",
                object_type="Sitting",
                object_id="batch",
                detail={"recorded": tally.recorded, "unchanged": tally.unchanged, "new": len(tally.new)},
                conn=conn,
            )
    events = [*tally.events, *(SittingsRecorded(org, now) for org in sorted(tally.organisations))]
    return RecordResult(tally.recorded, tally.unchanged), events


async def _write_facts(conn, sitting: Sitting, read_status: str, now: datetime) -> None:
    """Write ``sitting``'s re-recorded facts and status, only while it is still ``read_status``.

    Raises:
        _ChangedMeanwhile: a concurrent selection or certification changed it first.
    """
    updated = (
        await Sitting.filter(id=sitting.id, status=read_status)
        .using_db(conn)
        .update(
            score=sitting.score,
            photo_check=sitting.photo_check,
            taken_at=sitting.taken_at,
            expires_at=sitting.expires_at,
            ineligibility_reason=sitting.ineligibility_reason,
            status=sitting.status,
            selected_at=sitting.selected_at,
            selected_by=sitting.selected_by,
            updated_at=now,
        )
    )
    if not updated:
        raise _ChangedMeanwhile


async def _references(conn, rows: Sequence[SittingRecord]) -> tuple[dict[int, Test], set[int]]:
    """The tests (by id) and the ids of the organisations the rows name that exist."""
    tests = {t.id: t for t in await Test.filter(id__in={r.test_id for r in rows if r.test_id}).using_db(conn)}
    organisations = set(
        await Organisation.filter(id__in={r.organisation_id for r in rows if r.organisation_id})
        .using_db(conn)
        .values_list("id", flat=True)
    )
    return tests, organisations


def _distinct_external_ids(external_ids: list[str]) -> list[str]:
    """``external_ids`` unchanged, once checked that none repeats.

    Raises:
        DomainError: INVALID_INPUT naming the first repeating row's externalId.
    """
    seen: dict[str, int] = {}
    for index, external_id in enumerate(external_ids):
        if external_id in seen:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"sitting {index}: externalId repeats row {seen[external_id]}",
                ["sittings", str(index), "externalId"],
            )
        seen[external_id] = index
    return external_ids


async def _existing_sittings(conn, external_ids: list[str]) -> dict[str, Sitting]:
    """The sittings already recorded under ``external_ids``, keyed by external id.

    One look-up of their ids first (a new batch finds none), then the model instances of those found.
    """
    stmt = Statement(conn)
    found = await stmt.fetch(f"SELECT id FROM sitting WHERE external_id {stmt.one_of(external_ids)}")
    ids = [row["id"] for row in found]
    return {s.external_id: s for part in chunks(ids) for s in await Sitting.filter(id__in=part).using_db(conn)}


SITTING_COLUMNS = (
    "external_id", "organisation_id", "test_taker_id", "test_id", "taken_at", "expires_at", "score", "photo_check",
    "status", "ineligibility_reason", "created_at", "updated_at",
)  # fmt: skip
TEST_TAKER_COLUMNS = ("name", "email", "email_key", "search_key", "locale", "created_at")


def _new_sitting(external_id: str, row: SittingRecord, test: Test, test_taker_id: int, now: datetime) -> tuple:
    """The values (``SITTING_COLUMNS``) of a first-recorded row's sitting: UNSELECTED, or INELIGIBLE with its reason."""
    expires = expires_at(row.taken_at, test.validity_months)
    reason = decide_eligibility(row.score, row.photo_check, test, expires, now)
    status = CertificationStatus.INELIGIBLE if reason else CertificationStatus.UNSELECTED
    return (
        external_id, row.organisation_id, test_taker_id, test.id, row.taken_at, expires, row.score,
        row.photo_check.value, status.value, reason.value if reason else None, now, now,
    )  # fmt: skip


def _update_existing(
    index: int, sitting: Sitting, row: SittingRecord, test: Test, test_taker_id: int, reason, now: datetime
) -> tuple[str, str] | tuple[()] | None:
    """Apply a re-recorded row to ``sitting``.

    Returns None when the facts are identical, ``()`` when facts changed but
    the status did not, else ``(previous status, new status)``.

    Raises:
        DomainError: INVALID_INPUT when the row moves the sitting to another
            organisation, test or test taker; INVALID_TRANSITION when its facts are frozen.
    """
    field = ["sittings", str(index)]
    if (sitting.organisation_id, sitting.test_id, sitting.test_taker_id) != (
        row.organisation_id,
        test.id,
        test_taker_id,
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"sitting {index}: externalId {row.external_id!r} belongs to another organisation, test or test taker",
            [*field, "externalId"],
        )
    facts = (
        ("score", sitting.score, row.score),
        ("photoCheck", sitting.photo_check, row.photo_check),
        ("takenAt", sitting.taken_at, row.taken_at),
    )
    changed = [name for name, old, new in facts if old != new]
    if not changed:
        return None
    status = CertificationStatus(sitting.status)
    if status in FROZEN:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"sitting {index}: a {status} sitting's facts are frozen",
            [*field, changed[0]],
        )
    sitting.score, sitting.photo_check, sitting.taken_at = row.score, row.photo_check, row.taken_at
    sitting.expires_at = expires_at(row.taken_at, test.validity_months)
    sitting.ineligibility_reason = reason
    if reason is not None:
        target = CertificationStatus.INELIGIBLE
        sitting.selected_at = sitting.selected_by = None
    elif status is CertificationStatus.INELIGIBLE:
        target = CertificationStatus.UNSELECTED
    else:
        target = status
    sitting.status = target
    return (status.value, target.value) if target is not status else ()


async def _custom_plans(conn, custom: bool) -> None:
    """On PostgreSQL, plan each of this transaction's next statements for its own values (``custom``), or let
    the server reuse plans (its default); nothing on SQLite.

    The look-ups by a batch's external ids and e-mails repeat with the same text; after five runs PostgreSQL
    may keep a generic plan, planned on the statistics of a table that was small (a fresh system's first
    ingest): a scan comparing each row with every listed value, seconds per batch as the table grows.
    Custom plans see the values. The inserts go back to the default: under custom plans every inserted
    row's foreign-key checks are planned again (:func:`resolvers.sql.insert_rows`).
    """
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script(f"SET LOCAL plan_cache_mode = {'force_custom_plan' if custom else 'auto'}")


def _people(people: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """(name, e-mail) of each person, keyed by casefolded e-mail (a test taker's ``email_key``); the first wins."""
    wanted: dict[str, tuple[str, str]] = {}
    for name, email in people:
        wanted.setdefault(email.casefold(), (name, email))
    return wanted


async def _new_test_takers(
    conn, people: dict[str, tuple[str, str]], known: dict[str, int], now: datetime
) -> dict[str, int]:
    """Create a test taker for each of ``people`` (by ``email_key``) not ``known``; their ids keyed by ``email_key``.

    New ones get the keys ``TestTaker.for_person`` derives (``email_key``, ``search_key``) and locale ``en``.
    """
    missing = [
        (name, email, key, test_taker_search_key(name, email), "en", now)
        for key, (name, email) in people.items()
        if key not in known
    ]
    inserted = await insert_rows(conn, "test_taker", TEST_TAKER_COLUMNS, missing, returning=("email_key", "id"))
    return {row["email_key"]: row["id"] for row in inserted}


async def _ids_by_email_key(conn, keys: list[str]) -> dict[str, int]:
    """The ids of the test takers with these ``email_key`` values, keyed by them (one statement)."""
    stmt = Statement(conn)
    rows = await stmt.fetch(f"SELECT email_key, id FROM test_taker WHERE email_key {stmt.one_of(keys)}")
    return {row["email_key"]: row["id"] for row in rows}
