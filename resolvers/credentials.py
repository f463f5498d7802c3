"""Each issued certificate as a signed Open Badges 3.0 credential: its facts, its status list entry, its signature.

Rules: docs/RULES.md, "Credentials". The issuer of an organisation's
credentials is ``did:web:{public host}:orgs:{organisation id}``; its DID
document lists the service's issuer keys (:mod:`resolvers.credential_status`).
The render worker calls :func:`sign_credential` after printing and hands the
result to :func:`resolvers.issuing.issue_certificate`, which stores it in the
same transaction that issues the certificate.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from credentials import proof
from credentials.badge import BadgeFacts, open_badge
from credentials.did import did_web
from credentials.keys import KeyRing
from credentials.status_list import LIST_LENGTH
from models import Certificate, StatusList, Test
from resolvers.verification import level_for

LIST_FILL = LIST_LENGTH // 2
"""A status list takes new entries until half are used: random draws then hit a free entry in ≤ 2 tries on average."""
MAX_DRAWS = 64
LINKEDIN_ADD_TO_PROFILE = "https://www.linkedin.com/profile/add"
"""LinkedIn's add-to-profile link (LinkedIn, "Add certifications to LinkedIn profiles", addtoprofile.linkedin.com)."""


class StatusEntryUnavailable(Exception):
    """No free status list entry was drawn in :data:`MAX_DRAWS` tries (the render is retried)."""


@dataclass(frozen=True, slots=True)
class CredentialIssuer:
    """The service as an issuer: its public URL (no trailing slash) and its key ring."""

    public_url: str
    keys: KeyRing

    def organisation_did(self, organisation_id: int) -> str:
        """``did:web:{host}:orgs:{id}``, whose document is at ``{public_url}/orgs/{id}/did.json``."""
        return did_web(self.public_url, "orgs", str(organisation_id))

    def method_id(self, organisation_id: int, public_multibase: str) -> str:
        """The verification method id of a key in an organisation's DID document."""
        return f"{self.organisation_did(organisation_id)}#{public_multibase}"

    def achievement_url(self, organisation_id: int, test_id: int) -> str:
        """Where the organisation's ``Achievement`` of a test is served (its credentials' achievement id)."""
        return f"{self.public_url}/orgs/{organisation_id}/achievements/{test_id}"

    def status_list_url(self, organisation_id: int, status_list_id: int) -> str:
        """Where status list ``status_list_id`` of the organisation is served."""
        return f"{self.public_url}/orgs/{organisation_id}/credentials/status/{status_list_id}"


def credential_url(public_url: str, verification_code: str) -> str:
    """The public URL of a certificate's credential: ``{public_url}/credentials/{code}``."""
    return f"{public_url}/credentials/{verification_code}"


@dataclass(frozen=True, slots=True)
class SignedCredential:
    """A signed credential ready to store: its JSON text and where its status entry and key are."""

    json: str
    status_list_id: int
    status_list_index: int
    signing_key: str


async def draw_status_entry(organisation_id: int) -> tuple[int, int]:
    """A free entry (status list id, index) of the organisation's current list, drawn at random.

    Random draws keep the index from revealing the order of issue
    (Bitstring Status List v1.0, §6.1); an entry is never reused, which the
    unique index on (status_list, status_list_index) enforces at commit.

    Raises:
        StatusEntryUnavailable: no free entry in :data:`MAX_DRAWS` draws.
    """
    current = await StatusList.filter(organisation_id=organisation_id).order_by("-id").first()
    if current is None or await Certificate.filter(status_list_id=current.id).count() >= LIST_FILL:
        current = await StatusList.create(organisation_id=organisation_id)
    for _ in range(MAX_DRAWS):
        index = secrets.randbelow(LIST_LENGTH)
        if not await Certificate.filter(status_list_id=current.id, status_list_index=index).exists():
            return current.id, index
    raise StatusEntryUnavailable(f"no free entry drawn in status list {current.id}")


def badge_facts(
    certificate: Certificate, issuer: CredentialIssuer, *, issued_at: datetime, entry: tuple[int, int]
) -> BadgeFacts:
    """What the credential of ``certificate`` states (sitting, test, organisation and test taker loaded)."""
    sitting = certificate.sitting
    test, organisation = sitting.test, sitting.organisation
    return BadgeFacts(
        credential_url=credential_url(issuer.public_url, certificate.verification_code),
        issuer_did=issuer.organisation_did(organisation.id),
        organisation_name=organisation.name,
        organisation_url=issuer.public_url,
        # Per organisation: its description and criteria name the organisation.
        achievement_id=issuer.achievement_url(organisation.id, test.id),
        test_name=test.name,
        holder_name=certificate.holder_name,
        holder_email=sitting.test_taker.email,
        score=sitting.score,
        score_max=test.score_max,
        level=level_for(sitting.score, test.cefr_mapping),
        levels=levels_of(test),
        taken_at=sitting.taken_at,
        issued_at=issued_at,
        expires_at=sitting.expires_at,
        status_list_url=issuer.status_list_url(organisation.id, entry[0]),
        status_list_index=entry[1],
    )


def levels_of(test: Test) -> tuple[str, ...]:
    """The test's levels from its mapping, lowest minimum score first; empty without a mapping."""
    return tuple(level for level, _ in sorted((test.cefr_mapping or {}).items(), key=lambda item: item[1]))


async def sign_credential(
    certificate: Certificate, issuer: CredentialIssuer, *, issued_at: datetime
) -> SignedCredential:
    """Draw a status entry, build and sign ``certificate``'s credential with the current key (in a thread).

    Raises:
        StatusEntryUnavailable: see :func:`draw_status_entry`.
        ProofError: the credential cannot be canonicalised (a defect, never the holder's input).
    """
    entry = await draw_status_entry(certificate.sitting.organisation_id)
    facts = badge_facts(certificate, issuer, issued_at=issued_at, entry=entry)
    key = issuer.keys.current
    method = issuer.method_id(certificate.sitting.organisation_id, key.public_multibase)
    signed = await asyncio.to_thread(
        proof.sign, open_badge(facts), key=key, verification_method=method, created=issued_at
    )
    return SignedCredential(
        json=json.dumps(signed, ensure_ascii=False, indent=2),
        status_list_id=entry[0],
        status_list_index=entry[1],
        signing_key=key.public_multibase,
    )


def linkedin_url(
    *,
    test_name: str,
    organisation_name: str,
    issued_at: datetime,
    expires_at: datetime | None,
    credential: str,
    code: str,
) -> str:
    """LinkedIn's add-to-profile link for a certification (``startTask=CERTIFICATION_NAME``).

    Parameters as LinkedIn documents them: ``name``, ``organizationName``,
    ``issueYear``/``issueMonth`` (month 1–12, UTC), ``expirationYear``/``expirationMonth``
    when the certificate expires, ``certUrl`` (the credential) and ``certId`` (the verification code).
    """
    issued_at, expires_at = issued_at.astimezone(UTC), expires_at and expires_at.astimezone(UTC)
    query = {
        "startTask": "CERTIFICATION_NAME",
        "name": test_name,
        "organizationName": organisation_name,
        "issueYear": issued_at.year,
        "issueMonth": issued_at.month,
    }
    if expires_at is not None:
        query |= {"expirationYear": expires_at.year, "expirationMonth": expires_at.month}
    query |= {"certUrl": credential, "certId": code}
    return f"{LINKEDIN_ADD_TO_PROFILE}?{urlencode(query)}"
