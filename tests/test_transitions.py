"""The transition table answers both questions the code asks: may X become Y, and from where can Y be reached."""

from __future__ import annotations

import pytest

from models.enums import CertificateStatus as C
from models.enums import CertificationStatus as S
from models.transitions import (
    CERTIFICATE_TRANSITIONS,
    SITTING_TRANSITIONS,
    TransitionError,
    can_transition,
    ensure_transition,
    sources_of,
)


@pytest.mark.parametrize("table", [SITTING_TRANSITIONS, CERTIFICATE_TRANSITIONS], ids=["sitting", "certificate"])
def test_sources_of_is_the_table_read_backwards(table):
    # given every status of the table
    for target in table:
        # when its sources are asked for
        sources = sources_of(target)
        # then they are exactly the statuses the table lets become it, in table order
        assert sources == [status for status in table if can_transition(status, target)]


def test_the_guards_of_todays_updates():
    assert sources_of(S.IN_PROGRESS) == [S.UNSELECTED, S.SELECTED]
    assert sources_of(S.CERTIFIED) == [S.IN_PROGRESS]
    assert sources_of(C.UNDER_REVIEW) == [C.AWAITING_CLAIM, C.REJECTED]
    assert sources_of(C.APPROVED) == [C.UNDER_REVIEW]
    assert sources_of(C.REJECTED) == [C.UNDER_REVIEW]
    assert sources_of(C.ISSUED) == [C.APPROVED]
    assert sources_of(C.AWAITING_CLAIM) == []


def test_a_move_the_table_does_not_allow_raises():
    with pytest.raises(TransitionError) as raised:
        ensure_transition(C.ISSUED, C.UNDER_REVIEW)
    assert (raised.value.current, raised.value.target) == (C.ISSUED, C.UNDER_REVIEW)
