"""A re-recorded sitting's facts are written only while it is still in the status they were decided for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models import Organisation, Sitting, Test, TestTaker
from models.enums import CertificationStatus, IneligibilityReason, PhotoCheck
from resolvers.recording import FROZEN, _ChangedMeanwhile, _write_facts

TAKEN_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


async def unselected_sitting() -> Sitting:
    organisation = await Organisation.create(name="Acme")
    test = await Test.create(name="English B2", min_certifiable_score=60)
    test_taker = await TestTaker.create(name="Ada", email="ada@example.org", email_key="ada@example.org")
    return await Sitting.create(
        external_id="s-1",
        organisation=organisation,
        test_taker=test_taker,
        test=test,
        taken_at=TAKEN_AT,
        score=80,
        photo_check=PhotoCheck.PASSED,
        status=CertificationStatus.UNSELECTED,
    )


def made_ineligible(sitting: Sitting) -> Sitting:
    sitting.score, sitting.status, sitting.ineligibility_reason = 40, CertificationStatus.INELIGIBLE, IneligibilityReason.LOW_SCORE
    return sitting


def test_the_frozen_statuses_are_certification_and_what_follows_it_in_the_transition_table():
    assert FROZEN == {CertificationStatus.IN_PROGRESS, CertificationStatus.CERTIFIED}


async def test_re_recorded_facts_are_written_while_the_status_is_the_one_read(db):
    # given an UNSELECTED sitting re-recorded with a low score
    sitting = made_ineligible(await unselected_sitting())
    # when its facts are written for the status it was read in
    await _write_facts(None, sitting, CertificationStatus.UNSELECTED, datetime.now(UTC))
    # then the row holds them
    row = await Sitting.get(id=sitting.id)
    assert (row.score, row.status, row.ineligibility_reason) == (40, CertificationStatus.INELIGIBLE, IneligibilityReason.LOW_SCORE)


async def test_a_sitting_certified_meanwhile_is_not_overwritten(db):
    # given a sitting read as UNSELECTED, then certified by a concurrent call
    sitting = made_ineligible(await unselected_sitting())
    await Sitting.filter(id=sitting.id).update(status=CertificationStatus.IN_PROGRESS)
    # when the re-recorded facts are written for the status first read
    with pytest.raises(_ChangedMeanwhile):
        await _write_facts(None, sitting, CertificationStatus.UNSELECTED, datetime.now(UTC))
    # then nothing changed: the paid sitting stays IN_PROGRESS with its facts
    row = await Sitting.get(id=sitting.id)
    assert (row.score, row.status, row.ineligibility_reason) == (80, CertificationStatus.IN_PROGRESS, None)
