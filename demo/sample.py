"""Whom ``certify seed-demo`` signs in as a test taker: one whose page the printed admin link can change."""

from __future__ import annotations

from models import Certificate, Sitting, TestTaker
from models.enums import CertificateStatus, CertificationStatus

CANDIDATES = 500
"""How many sittings to certify are looked at beyond the samples for a test taker with a claim open too."""


async def sample_holder(test_taker_ids: list[int], organisation_id: int) -> tuple[int, str, int]:
    """The test taker to sign in as, their name, and how many of their sittings the organisation can certify now.

    So that the printed links make one journey, the first of the organisation's test takers (the samples
    first) with a sitting the admin can certify (UNSELECTED) and a certificate to claim already; else one
    with a sitting to certify; else the first with a certificate to claim or an issued one; else the first
    sample.
    """
    claimable = [CertificateStatus.AWAITING_CLAIM, CertificateStatus.REJECTED]
    to_certify = Sitting.filter(organisation_id=organisation_id, status=CertificationStatus.UNSELECTED)
    # The samples, then (a bounded look) the first test takers with a sitting to certify.
    others = await to_certify.order_by("test_taker_id").limit(CANDIDATES).values_list("test_taker_id", flat=True)
    candidates = list(dict.fromkeys([*test_taker_ids, *others]))
    with_open_claims = set(
        await Certificate.filter(sitting__test_taker_id__in=candidates, status__in=claimable).values_list(
            "sitting__test_taker_id", flat=True
        )
    )
    certifiable = set(await to_certify.filter(test_taker_id__in=candidates).values_list("test_taker_id", flat=True))
    chosen = next((t for t in candidates if t in certifiable and t in with_open_claims), None)
    chosen = chosen or next((t for t in candidates if t in certifiable), None)
    if chosen is None:
        certificates = Certificate.filter(status__in=[*claimable, CertificateStatus.ISSUED]).order_by("id")
        first = await certificates.select_related("sitting").first()
        chosen = first.sitting.test_taker_id if first is not None else test_taker_ids[0]
    name = (await TestTaker.get(id=chosen)).name
    return chosen, name, await to_certify.filter(test_taker_id=chosen).count()
