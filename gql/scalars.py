"""The contract's ``DateTime`` scalar: ISO 8601 with an offset, always returned in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry


def parse_datetime(value: object) -> datetime:
    """Parse an ISO 8601 string that carries an offset; return it in UTC.

    Raises:
        ValueError: not a string, not ISO 8601, or no offset (a GraphQL BAD_USER_INPUT error).
    """
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError as exc:
        raise ValueError(f"DateTime {value!r} is not ISO 8601") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"DateTime {value!r} has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"DateTime {value!r} is out of range in UTC") from exc


def serialize_datetime(value: datetime) -> str:
    """Serialise an aware datetime as ISO 8601 in UTC (``+00:00``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description="An ISO 8601 date-time with an offset; returned in UTC. Inputs without an offset are refused.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
