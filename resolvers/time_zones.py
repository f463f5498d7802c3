"""Calendar months in an IANA time zone, found without the database's time-zone support.

SQLite has no time zones and the two databases must agree, so the zone's
rules are applied in Python: :func:`offset_spans` lists the zone's UTC
offsets over a range of instants (each span from the instant its offset
starts), and the SQL (:mod:`resolvers.analytics_sql`) shifts each timestamp
by its span's offset before taking the month. Daylight-saving changes are
spans like any other. :func:`utc_month_start_windows` bounds the few instants
whose month in the zone differs from their month in UTC, so the rest can be
grouped by their UTC month, which an index holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from resolvers.errors import BadArgument

DEFAULT_TIME_ZONE = "UTC"
SCAN_STEP = timedelta(days=1)
"""How far apart the offsets are sampled: a zone that changes its offset and back within a day is not seen."""

# Instants whose local time in any zone (offsets within ±1 day) is still a valid datetime.
# Instants are read from 1970 on (no sitting is older: resolvers/recording.py), which also bounds the
# offsets' scan to about 20,000 days.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


NOT_ZONES = frozenset({"localtime", "Factory"})
"""Names the zone database lists that are no place's zone: the host's own setting, and a placeholder."""


@cache
def _known_names() -> frozenset[str]:
    return frozenset(available_timezones()) - NOT_ZONES


def parse_time_zone(name: str | None) -> ZoneInfo:
    """The zone named ``name`` (an IANA key such as ``"Europe/Berlin"``; None means ``"UTC"``).

    Raises:
        BadArgument: ``name`` is not a time-zone key of the system's IANA database (keys are
            case-sensitive: ``"utc"`` is refused).
    """
    key = DEFAULT_TIME_ZONE if name is None else name
    if key not in _known_names():
        raise BadArgument(f"timeZone {key!r} is not an IANA time zone name (e.g. 'Europe/Berlin')")
    try:
        return ZoneInfo(key)
    except (ValueError, OSError) as error:  # listed but unreadable: still the caller's bad name
        raise BadArgument(f"timeZone {key!r} cannot be loaded") from error


@dataclass(frozen=True, slots=True)
class OffsetSpan:
    """From ``starts`` (a UTC instant; None: since always) the zone is ``offset_seconds`` ahead of UTC."""

    starts: datetime | None
    offset_seconds: int


def _offset(zone: ZoneInfo, instant: datetime) -> int:
    return int(instant.astimezone(zone).utcoffset().total_seconds())


def _first_change(zone: ZoneInfo, before: datetime, after: datetime, offset: int) -> datetime:
    """The first second in (``before``, ``after``] whose offset differs from ``offset`` (``before`` has it)."""
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _offset(zone, middle) == offset:
            low = middle
        else:
            high = middle
    return high


def offset_spans(zone: ZoneInfo, earliest: datetime | None, latest: datetime | None) -> list[OffsetSpan]:
    """The zone's offsets from ``earliest`` to ``latest`` (aware instants; None: no data, one span).

    Shape: the first span starts at None (it also covers everything before
    ``earliest``), each later one at the whole second its offset begins, and
    the last covers everything after ``latest``. Offsets are sampled every
    :data:`SCAN_STEP` and each change is bisected to the second, so a range
    of three years costs about 1,100 look-ups in the zone's rules.
    """
    if earliest is None or latest is None:
        return [OffsetSpan(None, _offset(zone, datetime.now(UTC)))]
    at = max(earliest.astimezone(UTC), _EARLIEST).replace(microsecond=0)
    end = min(latest.astimezone(UTC), _LATEST)
    spans = [OffsetSpan(None, _offset(zone, at))]
    while at < end:
        step_end = min(at + SCAN_STEP, end + timedelta(seconds=1))
        if _offset(zone, step_end) == spans[-1].offset_seconds:
            at = step_end
            continue
        change = _first_change(zone, at, step_end, spans[-1].offset_seconds)
        spans.append(OffsetSpan(change, _offset(zone, change)))
        at = change
    return spans


def month_of(instant: datetime, zone: ZoneInfo) -> str:
    """``"YYYY-MM"`` of ``instant`` in ``zone``: what the SQL computes, for checks and gap filling."""
    return instant.astimezone(zone).strftime("%Y-%m")


def next_month(month: str) -> str:
    """The calendar month after ``month`` (``"2026-12"`` → ``"2027-01"``)."""
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive, oldest first (empty when ``first`` is later)."""
    months, month = [], first
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def utc_month_start_windows(
    spans: Sequence[OffsetSpan], earliest: datetime | None, latest: datetime | None
) -> list[tuple[datetime, datetime]]:
    """The instants whose calendar month in the zone of ``spans`` may differ from their month in UTC.

    Shape: ``[(start, end), …]`` UTC instants, one half-open window
    ``[U − a, U + a)`` around each UTC month start ``U`` that an instant from
    ``earliest`` to ``latest`` can be near, ``a`` being the largest absolute
    offset of ``spans`` (seconds). An instant ``t`` whose offset is ``o``
    falls in another month in the zone exactly when a UTC month start lies
    between ``t`` and ``t + o``, so every such instant is in a window (the
    windows may hold instants whose months agree, never miss one). Empty
    for UTC-like zones (``a`` = 0) or when there is no data (None bounds).
    """
    reach = timedelta(seconds=max(abs(span.offset_seconds) for span in spans))
    if not reach or earliest is None or latest is None:
        return []
    first = max(earliest.astimezone(UTC), _EARLIEST)
    month = datetime(first.year, first.month, 1, tzinfo=UTC)
    last = min(latest.astimezone(UTC), _LATEST) + reach
    windows = []
    while month <= last:
        windows.append((month - reach, month + reach))
        if (month.year, month.month) == (9999, 12):
            break
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return windows
