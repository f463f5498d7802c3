"""What the public credential routes serve: stored credentials, the issuers' DID documents, signed status lists.

Rules: docs/RULES.md, "Credentials". A status list's bits are read from the
certificates holding its entries (bit set: REVOKED) each time it is asked
for, so ``revokeCertificate`` shows in it as soon as it has committed; the
signed list is kept in :class:`StatusListCache` until its bits or the signing
key change. An organisation's DID document lists the current key and every
key that signed a credential of the organisation still within its validity.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from tortoise.expressions import Q

from adapters.storage import FileStorage, StoredFileMissing
from credentials import proof
from credentials.badge import AchievementFacts, achievement_document, status_list_credential
from credentials.did import did_document
from credentials.status_list import encode_list
from models import Certificate, Organisation, StatusList, Test
from models.enums import CertificateStatus
from resolvers.certificate_files import FILED
from resolvers.credentials import CredentialIssuer, levels_of
from resolvers.verification import normalise_code


async def stored_credential(*, code: str, storage: FileStorage) -> bytes | None:
    """The signed credential (JSON bytes) of the issued or revoked certificate with ``code``; None if there is none."""
    cleaned = normalise_code(code)
    if cleaned is None:
        return None
    certificate = await Certificate.get_or_none(verification_code=cleaned, status__in=FILED)
    if certificate is None or certificate.credential_key is None:
        return None
    try:
        return await storage.get(certificate.credential_key)
    except StoredFileMissing:
        return None


async def listed_keys(*, organisation_id: int, issuer: CredentialIssuer, now: datetime | None = None) -> list[str]:
    """The Multikey names an organisation's DID document lists, oldest first, the current key last.

    A key stays listed while a credential of the organisation it signed is
    still valid (no expiry, or expiring after ``now``), revoked ones included
    so that a verifier reports them revoked rather than unknown.
    """
    now = now or datetime.now(UTC)
    in_use = set(
        await Certificate.filter(
            Q(sitting__expires_at__isnull=True) | Q(sitting__expires_at__gt=now),
            sitting__organisation_id=organisation_id,
            status__in=FILED,
            signing_key__isnull=False,
        ).values_list("signing_key", flat=True)
    )
    current = issuer.keys.current.public_multibase
    return [key.public_multibase for key in issuer.keys.keys if key.public_multibase in in_use - {current}] + [current]


async def organisation_did_document(*, organisation_id: int, issuer: CredentialIssuer) -> dict | None:
    """The DID document of the organisation's issuer DID; None if there is no such organisation."""
    if not await Organisation.exists(id=organisation_id):
        return None
    keys = await listed_keys(organisation_id=organisation_id, issuer=issuer)
    return did_document(issuer.organisation_did(organisation_id), keys)


async def published_achievement(*, organisation_id: int, test_id: int, issuer: CredentialIssuer) -> dict | None:
    """The organisation's ``Achievement`` of a test as a JSON-LD document, the one its credentials name.

    None unless the organisation has issued a credential of that test (an issued or revoked certificate
    with a credential), so the URL tells nobody which tests an organisation uses before it issues one.
    """
    issued = await Certificate.filter(
        sitting__organisation_id=organisation_id,
        sitting__test_id=test_id,
        status__in=FILED,
        credential_key__isnull=False,
    ).exists()
    if not issued:
        return None
    test = await Test.get(id=test_id)
    organisation = await Organisation.get(id=organisation_id)
    facts = AchievementFacts(
        achievement_id=issuer.achievement_url(organisation_id, test_id),
        test_name=test.name,
        organisation_name=organisation.name,
        score_max=test.score_max,
        levels=levels_of(test),
    )
    return achievement_document(
        facts, issuer_did=issuer.organisation_did(organisation_id), organisation_url=issuer.public_url
    )


class StatusListCache:
    """Signed status list credentials (JSON bytes) by list id, each with the revoked entries and key it was signed for.

    One per process; a list is signed again only when its revoked entries or the current key change.
    ``ttl_seconds`` is the list's ``ttl``: how long verifiers may cache it.
    """

    def __init__(self, *, ttl_seconds: int) -> None:
        self._ttl_seconds = ttl_seconds
        self._signed: dict[int, tuple[tuple[tuple[int, ...], str], bytes]] = {}

    async def credential(self, *, organisation_id: int, status_list_id: int, issuer: CredentialIssuer) -> bytes | None:
        """The signed ``BitstringStatusListCredential`` of the list; None if the organisation has no such list."""
        if not await StatusList.exists(id=status_list_id, organisation_id=organisation_id):
            return None
        revoked = tuple(
            sorted(
                await Certificate.filter(
                    status_list_id=status_list_id, status=CertificateStatus.REVOKED, status_list_index__isnull=False
                ).values_list("status_list_index", flat=True)
            )
        )
        fingerprint = (revoked, issuer.keys.current.public_multibase)
        cached = self._signed.get(status_list_id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        signed = await asyncio.to_thread(
            _sign_list, organisation_id, status_list_id, revoked, issuer, self._ttl_seconds
        )
        self._signed[status_list_id] = (fingerprint, signed)
        return signed


def _sign_list(
    organisation_id: int, status_list_id: int, revoked: tuple[int, ...], issuer: CredentialIssuer, ttl_seconds: int
) -> bytes:
    now = datetime.now(UTC)
    unsigned = status_list_credential(
        url=issuer.status_list_url(organisation_id, status_list_id),
        issuer_did=issuer.organisation_did(organisation_id),
        encoded_list=encode_list(revoked),
        valid_from=now,
        ttl_seconds=ttl_seconds,
    )
    key = issuer.keys.current
    signed = proof.sign(
        unsigned, key=key, verification_method=issuer.method_id(organisation_id, key.public_multibase), created=now
    )
    return json.dumps(signed, indent=2).encode("utf-8")
