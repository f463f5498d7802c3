"""The one table of allowed status transitions and its guard.

Described in docs/RULES.md, "Sitting statuses" and "Certificate statuses"; this table is their one source.
"""

from __future__ import annotations

from enum import StrEnum
from typing import overload

from models.enums import CertificateStatus as C
from models.enums import CertificationStatus as S

SITTING_TRANSITIONS: dict[S, frozenset[S]] = {
    S.UNSELECTED: frozenset({S.SELECTED, S.IN_PROGRESS, S.INELIGIBLE}),
    S.SELECTED: frozenset({S.UNSELECTED, S.IN_PROGRESS}),
    S.IN_PROGRESS: frozenset({S.CERTIFIED, S.UNSELECTED}),
    S.CERTIFIED: frozenset(),
    S.INELIGIBLE: frozenset(),
}

CERTIFICATE_TRANSITIONS: dict[C, frozenset[C]] = {
    C.AWAITING_CLAIM: frozenset({C.UNDER_REVIEW, C.LAPSED}),
    C.UNDER_REVIEW: frozenset({C.APPROVED, C.REJECTED}),
    C.REJECTED: frozenset({C.UNDER_REVIEW, C.LAPSED}),
    C.APPROVED: frozenset({C.ISSUED}),
    C.ISSUED: frozenset({C.REVOKED}),
    C.LAPSED: frozenset(),
    C.REVOKED: frozenset(),
}


SCHEDULED_ONLY: frozenset[tuple[S, S] | tuple[C, C]] = frozenset(
    {
        (S.IN_PROGRESS, S.UNSELECTED),  # a claim lapsed: the credit is refunded
        (S.UNSELECTED, S.INELIGIBLE),  # the sitting's validity ended
        (C.AWAITING_CLAIM, C.LAPSED),
        (C.REJECTED, C.LAPSED),
    }
)
"""Moves only the lifecycle job makes (resolvers/lifecycle.py); no request asks for them."""


class TransitionError(Exception):
    """Raised by :func:`ensure_transition` for a move the table does not allow."""

    def __init__(self, current: StrEnum, target: StrEnum):
        super().__init__(f"cannot go from {current} to {target}")
        self.current = current
        self.target = target


def _table_of(status: S | C) -> dict[S, frozenset[S]] | dict[C, frozenset[C]]:
    return SITTING_TRANSITIONS if isinstance(status, S) else CERTIFICATE_TRANSITIONS


def can_transition(current: S | C, target: S | C) -> bool:
    """True when the table allows current → target (same-enum values only)."""
    return target in _table_of(current)[current]


def can_request(current: S | C, target: S | C) -> bool:
    """True when a request may ask for current → target: the table allows it and it is not :data:`SCHEDULED_ONLY`."""
    return can_transition(current, target) and (current, target) not in SCHEDULED_ONLY


def ensure_transition(current: S | C, target: S | C) -> None:
    """Raise :class:`TransitionError` unless current → target is allowed."""
    if not can_transition(current, target):
        raise TransitionError(current, target)


def reachable_from(status: S | C) -> set[S] | set[C]:
    """``status`` and every status the table can lead to from it."""
    table = _table_of(status)
    reached, frontier = {status}, [status]
    while frontier:
        for target in table[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    return reached


@overload
def sources_of(target: S) -> list[S]: ...
@overload
def sources_of(target: C) -> list[C]: ...


def sources_of(target: S | C) -> list[S] | list[C]:
    """The statuses from which ``target`` can be reached, in table order (empty if none).

    Works for sitting and certificate statuses alike. Every conditional
    UPDATE that changes a status guards on these, e.g.
    ``.filter(status__in=sources_of(CertificateStatus.ISSUED))``, so that
    changing the table changes every UPDATE.
    """
    return [s for s, targets in _table_of(target).items() if target in targets]
