"""certificationFunnel over real HTTP on SQLite and PostgreSQL: step counts and median step times.

Expected medians are Python's ``statistics.median`` of the durations read
back from the rows, in microseconds, divided by 10⁶: the exact figure both
databases must return.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from builders import RECORD_SITTINGS, sitting_row
from certificate_flow import REJECT, certified_candidates, claim_ok, reviewer
from support import admin_of, analyst_of

from models import Certificate, Sitting
from models.enums import CertificateStatus, CertificationStatus, Role

FUNNEL = """
query($filter: SittingFilter) {
  certificationFunnel(filter: $filter) {
    recorded eligible certified claimed issued medianSecondsToClaim medianSecondsToIssue
  }
}
"""
MICROSECOND = timedelta(microseconds=1)


async def funnel(client, **variables) -> dict:
    return (await client.data(FUNNEL, variables))["certificationFunnel"]


def median_seconds(durations: list[timedelta]) -> float | None:
    return statistics.median([d // MICROSECOND for d in durations]) / 1_000_000 if durations else None


async def issue(certificate_pk: int, at: datetime) -> None:
    """What a stored render leaves behind (rendering is off in these tests)."""
    certificate = await Certificate.get(id=certificate_pk)
    await Certificate.filter(id=certificate_pk).update(status=CertificateStatus.ISSUED, issued_at=at)
    await Sitting.filter(id=certificate.sitting_id).update(status=CertificationStatus.CERTIFIED)


async def test_the_funnel_counts_each_step_and_its_median_times(server):
    # given four certified sittings (three claimed, two of those issued), one eligible and one ineligible sitting
    world, candidates = await certified_candidates(server, 4)
    platform = server.platform()
    rows = [
        sitting_row(world.organisation_id, world.test_id, 10, prefix="ext"),
        sitting_row(world.organisation_id, world.test_id, 11, score=20, prefix="ext"),
    ]
    assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
    for candidate in candidates[:3]:
        await claim_ok(server, candidate)
    claimed = {c.certificate_pk: await Certificate.get(id=c.certificate_pk) for c in candidates[:3]}
    issued_at = {}
    for n, candidate in enumerate(candidates[:2]):
        issued_at[candidate.certificate_pk] = claimed[candidate.certificate_pk].claimed_at + timedelta(
            hours=3 + n, microseconds=123_457 * (n + 1)
        )
        await issue(candidate.certificate_pk, issued_at[candidate.certificate_pk])

    # when the organisation's analyst reads the funnel
    result = await funnel(analyst_of(server, world))

    # then each step is counted and the medians are those of the rows' own times
    certified_at = {c.certificate_pk: (await Sitting.get(id=c.sitting_pk)).certified_at for c in candidates[:3]}
    to_claim = [certificate.claimed_at - certified_at[pk] for pk, certificate in claimed.items()]
    to_issue = [at - claimed[pk].claimed_at for pk, at in issued_at.items()]
    assert result == {
        "recorded": 6,
        "eligible": 5,
        "certified": 4,
        "claimed": 3,
        "issued": 2,
        "medianSecondsToClaim": median_seconds(to_claim),
        "medianSecondsToIssue": median_seconds(to_issue),
    }
    # an odd count takes the middle duration, an even one the mean of the two middle ones
    assert result["medianSecondsToClaim"] == sorted(to_claim)[1] / MICROSECOND / 1_000_000
    assert result["medianSecondsToIssue"] == (to_issue[0] + to_issue[1]) / MICROSECOND / 2 / 1_000_000


async def test_the_funnel_counts_what_sittings_lists_and_no_other_organisation(server):
    # given two organisations with certified sittings, one of them claimed
    world, candidates = await certified_candidates(server, 2)
    other, _ = await certified_candidates(server, 3, name="Other Org", prefix="other")
    await claim_ok(server, candidates[0])

    # when the admin reads the funnel without and with a filter, and the platform admin reads it for everyone
    own = await funnel(admin_of(server, world))
    filtered = await funnel(admin_of(server, world), filter={"status": ["UNSELECTED"]})
    searched = await funnel(admin_of(server, world), filter={"search": "candidate0@"})
    everyone = await funnel(server.platform())

    # then each counts exactly its own sittings
    certified_at = (await Sitting.get(id=candidates[0].sitting_pk)).certified_at
    claimed_at = (await Certificate.get(id=candidates[0].certificate_pk)).claimed_at
    claim_seconds = median_seconds([claimed_at - certified_at])
    assert own == {
        "recorded": 2,
        "eligible": 2,
        "certified": 2,
        "claimed": 1,
        "issued": 0,
        "medianSecondsToClaim": claim_seconds,
        "medianSecondsToIssue": None,
    }
    assert filtered == {
        "recorded": 0,
        "eligible": 0,
        "certified": 0,
        "claimed": 0,
        "issued": 0,
        "medianSecondsToClaim": None,
        "medianSecondsToIssue": None,
    }
    assert everyone == {**own, "recorded": 5, "eligible": 5, "certified": 5}
    assert searched == {**own, "recorded": 1, "eligible": 1, "certified": 1}


async def test_a_claim_after_a_rejection_keeps_the_first_claim_time(server):
    # given a certified sitting whose certificate was claimed, rejected and claimed again
    world, (candidate,) = await certified_candidates(server, 1)
    first = await claim_ok(server, candidate)
    rejected = await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": "Blurred photo."})
    assert rejected["rejectCertificate"]["errors"] == []
    second = await claim_ok(server, candidate, name="Zoë Nguyễn-Tran")

    # when the funnel is read
    result = await funnel(admin_of(server, world))

    # then the time to claim runs to the first claim, while the certificate shows the latest submission
    certified_at = (await Sitting.get(id=candidate.sitting_pk)).certified_at
    certificate = await Certificate.get(id=candidate.certificate_pk)
    assert certificate.claimed_at == datetime.fromisoformat(first["submittedAt"])
    assert certificate.submitted_at == datetime.fromisoformat(second["submittedAt"]) > certificate.claimed_at
    assert result["claimed"] == 1
    assert result["medianSecondsToClaim"] == median_seconds([certificate.claimed_at - certified_at])


async def test_an_empty_funnel_and_the_roles_refused(server):
    # given an organisation with one certified sitting
    world, _ = await certified_candidates(server, 1)
    empty_filter = {"scoreMin": 100}

    # when the admin filters everything out, and a test taker and a reviewer ask
    empty = await funnel(admin_of(server, world), filter=empty_filter)
    refused = [
        await server.client(server.token(role, test_taker=1)).post(FUNNEL)
        for role in (Role.TEST_TAKER, Role.SECURITY_REVIEWER)
    ]
    contradictory = {"takenAfter": "2026-02-01T00:00:00Z", "takenBefore": "2026-01-01T00:00:00Z"}
    bad = await admin_of(server, world).post(FUNNEL, {"filter": contradictory})

    # then every count is 0 with no medians; the others are refused; a contradictory filter is bad input
    assert empty == dict.fromkeys(("recorded", "eligible", "certified", "claimed", "issued"), 0) | {
        "medianSecondsToClaim": None,
        "medianSecondsToIssue": None,
    }
    assert [body["errors"][0]["extensions"]["code"] for body in refused] == ["FORBIDDEN", "FORBIDDEN"]
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
