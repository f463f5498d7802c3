"""What an issued certificate says as an Open Badges 3.0 credential (1EdTech OB 3.0, §8.1 OpenBadgeCredential).

:func:`open_badge` builds the unsigned ``OpenBadgeCredential``; ``proof.sign``
signs it. The holder is named by two ``IdentityObject``\\ s (OB 3.0 §8.2.10):
the e-mail address hashed with a random salt (``sha256$`` + hex of
SHA-256(address ‖ salt), §8.2.10 ``identityHash``), never in clear, and the
name as submitted (``identityType`` ``name``, unhashed). The test is the
``Achievement``; the score, out of the test's scale, and the level from the
test's own mapping are ``Result``\\ s of its ``ResultDescription``\\ s.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from credentials.contexts import OB_V3, VC_V2
from credentials.status_list import ENTRY_TYPE, LIST_CREDENTIAL_TYPE, LIST_TYPE, PURPOSE
from credentials.times import xsd_datetime


@dataclass(frozen=True, slots=True)
class BadgeFacts:
    """Everything the credential states; instants aware, URLs absolute.

    ``achievement_id`` identifies the test (a URL or URN); ``levels`` are the
    test's mapping's levels (empty without a mapping, then ``level`` is None).
    """

    credential_url: str
    issuer_did: str
    organisation_name: str
    organisation_url: str
    achievement_id: str
    test_name: str
    holder_name: str
    holder_email: str
    score: int
    score_max: int | None
    level: str | None
    levels: tuple[str, ...]
    taken_at: datetime
    issued_at: datetime
    expires_at: datetime | None
    status_list_url: str
    status_list_index: int


@dataclass(frozen=True, slots=True)
class AchievementFacts:
    """What a test's ``Achievement`` states: its URL, names, scale and levels (empty without a mapping)."""

    achievement_id: str
    test_name: str
    organisation_name: str
    score_max: int | None
    levels: tuple[str, ...]


def _result_descriptions(facts: BadgeFacts | AchievementFacts) -> list[dict]:
    """The score's ``ResultDescription`` (``#score``) and, for a test with levels, the level's (``#level``)."""
    score = {
        "id": f"{facts.achievement_id}#score",
        "type": ["ResultDescription"],
        "name": "Score",
        "resultType": "RawScore",
        "valueMin": "0",
    }
    if facts.score_max is not None:
        score["valueMax"] = str(facts.score_max)
    descriptions = [score]
    if facts.levels:
        descriptions.append(
            {
                "id": f"{facts.achievement_id}#level",
                "type": ["ResultDescription"],
                "name": "Level",
                "resultType": "LetterGrade",
                "allowedValue": list(facts.levels),
            }
        )
    return descriptions


def identity_hash(identity: str, salt: str) -> str:
    """``sha256$`` + hex SHA-256 of ``identity`` then ``salt`` (UTF-8), as OB 3.0 §8.2.10 prescribes."""
    return "sha256$" + hashlib.sha256((identity + salt).encode("utf-8")).hexdigest()


def open_badge(facts: BadgeFacts, *, salt: str | None = None) -> dict:
    """The unsigned ``OpenBadgeCredential`` of ``facts``; ``salt`` (hex) is random unless given."""
    salt = salt or secrets.token_hex(16)
    credential = {
        "@context": [VC_V2, OB_V3],
        "id": facts.credential_url,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": facts.test_name,
        "description": f"{facts.holder_name} holds a certificate of {facts.test_name}, issued by {facts.organisation_name}.",
        "issuer": {
            "id": facts.issuer_did,
            "type": ["Profile"],
            "name": facts.organisation_name,
            "url": facts.organisation_url,
        },
        "validFrom": xsd_datetime(facts.issued_at),
        "credentialSubject": _subject(facts, salt),
        "credentialStatus": {
            "id": f"{facts.status_list_url}#{facts.status_list_index}",
            "type": ENTRY_TYPE,
            "statusPurpose": PURPOSE,
            "statusListIndex": str(facts.status_list_index),
            "statusListCredential": facts.status_list_url,
        },
    }
    if facts.expires_at is not None:
        credential["validUntil"] = xsd_datetime(facts.expires_at)
    return credential


def _subject(facts: BadgeFacts, salt: str) -> dict:
    """The ``AchievementSubject``: the holder's identifiers, the achievement and the results."""
    score_id, level_id = f"{facts.achievement_id}#score", f"{facts.achievement_id}#level"
    results = [{"type": ["Result"], "resultDescription": score_id, "value": str(facts.score)}]
    if facts.level is not None:
        results.append({"type": ["Result"], "resultDescription": level_id, "value": facts.level})
    return {
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityHash": identity_hash(facts.holder_email.strip().lower(), salt),
                "identityType": "emailAddress",
                "hashed": True,
                "salt": salt,
            },
            {"type": "IdentityObject", "identityHash": facts.holder_name, "identityType": "name", "hashed": False},
        ],
        "activityEndDate": xsd_datetime(facts.taken_at),
        "achievement": achievement(facts),
        "result": results,
    }


def achievement(facts: BadgeFacts | AchievementFacts) -> dict:
    """The ``Achievement`` (OB 3.0 §8.2.2) of a test as an organisation certifies it.

    The same object is embedded in each credential and served on its own at
    ``facts.achievement_id`` (:func:`achievement_document`), so that the URL a
    credential names resolves.
    """
    scale = f" out of {facts.score_max}" if facts.score_max is not None else ""
    return {
        "id": facts.achievement_id,
        "type": ["Achievement"],
        "achievementType": "Certificate",
        "name": facts.test_name,
        "description": f"{facts.test_name}, a test certified by {facts.organisation_name}.",
        "criteria": {
            "narrative": f"Sat {facts.test_name} and reached a certifiable score{scale}; "
            f"the sitting was certified by {facts.organisation_name}."
        },
        "resultDescription": _result_descriptions(facts),
    }


def achievement_document(facts: AchievementFacts, *, issuer_did: str, organisation_url: str) -> dict:
    """The ``Achievement`` as a JSON-LD document of its own, its ``creator`` the issuing organisation's Profile."""
    return {
        "@context": [VC_V2, OB_V3],
        **achievement(facts),
        "creator": {"id": issuer_did, "type": ["Profile"], "name": facts.organisation_name, "url": organisation_url},
    }


def status_list_credential(
    *, url: str, issuer_did: str, encoded_list: str, valid_from: datetime, ttl_seconds: int
) -> dict:
    """The unsigned ``BitstringStatusListCredential`` at ``url`` (Bitstring Status List v1.0, §2.2).

    ``ttl_seconds`` is how long a verifier may cache it (the ``ttl`` property, in milliseconds).
    """
    return {
        "@context": [VC_V2],
        "id": url,
        "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
        "issuer": issuer_did,
        "validFrom": xsd_datetime(valid_from),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": LIST_TYPE,
            "statusPurpose": PURPOSE,
            "ttl": ttl_seconds * 1000,
            "encodedList": encoded_list,
        },
    }
