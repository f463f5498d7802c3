"""Instants as credentials write them: ``xsd:dateTime`` in UTC with a ``Z``, to the second (VC Data Model 2.0, §4.9)."""

from __future__ import annotations

from datetime import UTC, datetime


def xsd_datetime(instant: datetime) -> str:
    """``2026-12-03T10:15:00Z`` for an aware ``instant`` (naive ones are taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_xsd_datetime(value: object) -> datetime:
    """An aware datetime from an ``xsd:dateTime`` string with a zone.

    Raises:
        ValueError: not a string, not ISO 8601, or without a time zone.
    """
    if not isinstance(value, str):
        raise ValueError(f"not a date-time: {value!r}")  # noqa: TRY004 - one error type for every bad date
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"a date-time without a time zone: {value!r}")
    return parsed
