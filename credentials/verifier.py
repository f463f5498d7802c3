"""Verifying a credential without trusting its bearer, failing closed (VC Data Model 2.0 §7.1; Data Integrity §4.5).

A credential is verified only when every check holds: its shape, its proof
(the key resolved through the issuer's did:web DID document, listed for
``assertionMethod``), its validity period, and its status list entry (the
status list credential fetched, itself signed by the same issuer, its bit 0).
Any error along the way (a changed byte, a context not bundled, an unknown
key, a list that cannot be fetched) fails its check; nothing is skipped
silently. Documents are fetched by the caller's ``fetch_json`` (over HTTP, or
from the server's own data); canonicalisation runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from credentials import proof
from credentials.contexts import VC_V2
from credentials.did import DidError, assertion_key, did_document_url
from credentials.keys import public_key_from_multibase
from credentials.status_list import (
    ENTRY_TYPE,
    LIST_CREDENTIAL_TYPE,
    PURPOSE,
    StatusListError,
    bit_is_set,
    decode_list,
)
from credentials.times import parse_xsd_datetime

CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of ``now`` a ``validFrom`` may be: the issuer's clock may run ahead of the verifier's
(the tolerance Digital Bazaar's ``@digitalbazaar/vc`` applies, 300 s). Expiry is read strictly."""

FetchJson = Callable[[str], Awaitable[object]]
"""``await fetch_json(url)`` → the parsed JSON at ``url``; raises any exception when it cannot."""


def reason(error: BaseException) -> str:
    """One line saying why ``error`` happened: its message's first line, or its type when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class CheckFailed(Exception):
    """One check did not hold; the message says why (shown to the person verifying)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One named check and its outcome, e.g. ``Check("proof", True, "signed by did:web:…#z6Mk…")``."""

    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class Verification:
    """The outcome of every check; ``verified`` only when all hold.

    ``revoked`` is None when the status could not be read; ``expired`` is True past ``validUntil``.
    """

    checks: list[Check] = field(default_factory=list)
    revoked: bool | None = None
    expired: bool = False

    @property
    def verified(self) -> bool:
        """Whether every check held (an empty report never verifies)."""
        return bool(self.checks) and all(check.ok for check in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        """Record one check."""
        self.checks.append(Check(name, ok, detail))


def issuer_id(credential: dict) -> str:
    """The issuer's id (``issuer`` is a URL or an object with an ``id``).

    Raises:
        CheckFailed: no issuer id.
    """
    issuer = credential.get("issuer")
    value = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(value, str) or not value:
        raise CheckFailed("the credential names no issuer")
    return value


def _check_terms(value: object, *, top: bool = True) -> None:
    """Every key is a term of the bundled contexts: no full or compact IRI (``https://…#validUntil``,
    ``cred:validUntil``) and no keyword but ``@context`` at the top, so what this verifier reads is what
    was signed (a date under its IRI would be signed yet unseen here). Contexts are URLs only."""
    if isinstance(value, list):
        for item in value:
            _check_terms(item, top=False)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "@context" and top:
                continue
            if ":" in key or key.startswith("@"):
                raise CheckFailed(f"the key {key!r} is not a term of the credential's contexts")
            _check_terms(item, top=False)


def _check_shape(credential: object, required_type: str) -> dict:
    if not isinstance(credential, dict):
        raise CheckFailed("the document is not a JSON object")
    contexts = credential.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_V2:
        raise CheckFailed(f"the first @context is not {VC_V2}")
    if not all(isinstance(context, str) for context in contexts):
        raise CheckFailed("every @context must be the URL of a bundled context")
    try:
        _check_terms(credential)
    except RecursionError:
        raise CheckFailed("the document is nested too deeply") from None
    types = credential.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types or required_type not in types:
        raise CheckFailed(f"the type is not VerifiableCredential, {required_type}")
    return credential


async def check_proof(credential: dict, fetch_json: FetchJson) -> str:
    """Verify ``credential``'s proof with its issuer's key; return the verification method id.

    Raises:
        CheckFailed: a malformed proof, a key not of the issuer or not listed, or a signature that fails.
    """
    try:
        method = proof.proof_options(credential).verification_method
        issuer = issuer_id(credential)
        if method.split("#", 1)[0] != issuer or "#" not in method:
            raise CheckFailed(f"the proof's key {method} is not a key of the issuer {issuer}")
        url = did_document_url(issuer)
        try:
            document = await fetch_json(url)
        except Exception as error:  # noqa: BLE001 - any failure to fetch fails the check
            raise CheckFailed(f"the issuer's DID document could not be fetched from {url}: {reason(error)}") from None
        public_key = public_key_from_multibase(assertion_key(document, method))
        await asyncio.to_thread(proof.verify, credential, public_key)
    except (proof.ProofError, DidError, ValueError) as error:
        raise CheckFailed(str(error)) from None
    return method


def check_dates(credential: dict, now: datetime) -> bool:
    """Whether ``credential`` has expired at ``now`` (``validUntil`` ≤ now).

    Raises:
        CheckFailed: no or malformed ``validFrom``, not valid until more than :data:`CLOCK_SKEW` after ``now``,
            or a malformed ``validUntil``.
    """
    try:
        valid_from = parse_xsd_datetime(credential.get("validFrom"))
        until = credential.get("validUntil")
        valid_until = parse_xsd_datetime(until) if until is not None else None
    except ValueError as error:
        raise CheckFailed(f"the validity dates cannot be read: {error}") from None
    if valid_from > now + CLOCK_SKEW:
        raise CheckFailed(f"the credential is not valid before {credential['validFrom']}")
    return valid_until is not None and valid_until <= now


async def check_status(credential: dict, fetch_json: FetchJson, now: datetime) -> bool:
    """Whether the credential's revocation bit is set, from its signed status list.

    Raises:
        CheckFailed: a malformed entry, a list that cannot be fetched, is not signed by the issuer,
            is not valid now, or cannot be decoded.
    """
    entry = credential.get("credentialStatus")
    if not isinstance(entry, dict) or entry.get("type") != ENTRY_TYPE or entry.get("statusPurpose") != PURPOSE:
        raise CheckFailed(f"the credential has no {ENTRY_TYPE} with purpose {PURPOSE}")
    url, index = entry.get("statusListCredential"), entry.get("statusListIndex")
    if not isinstance(url, str) or not isinstance(index, str) or not index.isdigit() or len(index) > 9:
        raise CheckFailed("the status entry has no statusListCredential URL or numeric statusListIndex")
    try:
        status_list = await fetch_json(url)
    except Exception as error:  # noqa: BLE001 - an unreachable list fails closed
        raise CheckFailed(f"the status list could not be fetched from {url}: {reason(error)}") from None
    status_list = _check_shape(status_list, LIST_CREDENTIAL_TYPE)
    if issuer_id(status_list) != issuer_id(credential):
        raise CheckFailed("the status list is not issued by the credential's issuer")
    await check_proof(status_list, fetch_json)
    if check_dates(status_list, now):
        raise CheckFailed("the status list has expired")
    subject = status_list.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("statusPurpose") != PURPOSE:
        raise CheckFailed(f"the status list's purpose is not {PURPOSE}")
    try:
        return bit_is_set(decode_list(subject.get("encodedList")), int(index))
    except StatusListError as error:
        raise CheckFailed(str(error)) from None


async def verify_credential(credential: object, *, fetch_json: FetchJson, now: datetime) -> Verification:
    """Every check of an ``OpenBadgeCredential`` at ``now`` (aware); never raises for a bad credential."""
    report = Verification()
    try:
        document = _check_shape(credential, "OpenBadgeCredential")
        report.add("format", True, f"an OpenBadgeCredential issued by {issuer_id(document)}")
    except CheckFailed as error:
        report.add("format", False, str(error))
        return report
    try:
        report.add("proof", True, f"signed with {await check_proof(document, fetch_json)}")
    except CheckFailed as error:
        report.add("proof", False, str(error))
    except Exception as error:  # noqa: BLE001 - fail closed on anything unforeseen
        report.add("proof", False, f"could not be checked: {reason(error)}")
    try:
        report.expired = check_dates(document, now)
        detail = f"valid from {document['validFrom']}" + (
            f" until {document['validUntil']}" if "validUntil" in document else ", with no end"
        )
        report.add("dates", not report.expired, ("expired: " if report.expired else "") + detail)
    except CheckFailed as error:
        report.add("dates", False, str(error))
    try:
        report.revoked = await check_status(document, fetch_json, now)
        report.add("status", not report.revoked, "revoked" if report.revoked else "not revoked")
    except CheckFailed as error:
        report.add("status", False, str(error))
    except Exception as error:  # noqa: BLE001 - fail closed on anything unforeseen
        report.add("status", False, f"could not be checked: {reason(error)}")
    return report
