"""The one table of allowed status transitions and its guard.

Source: DESIGN.md, "Sitting certification status" and "Certificate status".
"""

from __future__ import annotations

from enum import StrEnum

from models.enums import CertificateStatus as C
from models.enums import CertificationStatus as S

SITTING_TRANSITIONS: dict[S, frozenset[S]] = {
    S.UNSELECTED: frozenset({S.SELECTED, S.IN_PROGRESS}),
    S.SELECTED: frozenset({S.UNSELECTED, S.IN_PROGRESS}),
    S.IN_PROGRESS: frozenset({S.CERTIFIED}),
    S.CERTIFIED: frozenset(),
    S.INELIGIBLE: frozenset(),
}

CERTIFICATE_TRANSITIONS: dict[C, frozenset[C]] = {
    C.AWAITING_CLAIM: frozenset({C.UNDER_REVIEW}),
    C.UNDER_REVIEW: frozenset({C.APPROVED, C.REJECTED}),
    C.REJECTED: frozenset({C.UNDER_REVIEW}),
    C.APPROVED: frozenset({C.ISSUED}),
    C.ISSUED: frozenset(),
}


class TransitionError(Exception):
    """Raised by :func:`ensure_transition` for a move the table does not allow."""

    def __init__(self, current: StrEnum, target: StrEnum):
        super().__init__(f"cannot go from {current} to {target}")
        self.current = current
        self.target = target


def can_transition(current: S | C, target: S | C) -> bool:
    """True when the table allows current → target (same-enum values only)."""
    table = SITTING_TRANSITIONS if isinstance(current, S) else CERTIFICATE_TRANSITIONS
    return target in table[current]


def ensure_transition(current: S | C, target: S | C) -> None:
    """Raise :class:`TransitionError` unless current → target is allowed."""
    if not can_transition(current, target):
        raise TransitionError(current, target)


def sources_of(target: S) -> list[S]:
    """Sitting statuses from which target can be reached, for set-based updates."""
    return [s for s, targets in SITTING_TRANSITIONS.items() if target in targets]
