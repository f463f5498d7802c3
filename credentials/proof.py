"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite (W3C Data Integrity EdDSA Cryptosuites v1.0, §3.3).

Signing: canonicalise the document without its proof and the proof options
(carrying the document's ``@context``) with RDF Dataset Canonicalization
(RDFC-1.0, which pyld names ``URDNA2015``); hash each with SHA-256; sign
``hash(proof options) ‖ hash(document)`` with Ed25519; ``proofValue`` is the
signature in multibase base58btc. Canonicalisation is pyld's, through the
offline loader (:func:`credentials.contexts.document_loader`), and fails
closed: a term no context defines would be dropped from what is signed, so it
is an error here (the "safe mode" of Digital Bazaar's jsonld.js).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyld import jsonld
from pyld.canon import URDNA2015

from credentials.contexts import document_loader
from credentials.keys import IssuerKey, multibase_base58btc
from credentials.times import xsd_datetime

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
ASSERTION = "assertionMethod"


class ProofError(ValueError):
    """A document cannot be canonicalised, or its proof is malformed or does not verify; the message says which."""


PYLD_LOCK = threading.Lock()
"""One canonicalisation at a time per process: pyld keeps its resolved contexts in process-wide caches
(``cachetools`` LRU caches) that are not thread-safe, and signing runs in worker threads (two renders
at once raised ``KeyError`` from them). Each canonicalisation takes milliseconds."""
MAX_DEEP_HASHES = 2_000
"""Hash N-Degree Quads runs allowed per canonicalisation (RDFC-1.0 §4.4: a poison graph makes them factorial)."""
MAX_RELATED = 6
"""The most blank nodes one N-degree step may permute (6! = 720 orders)."""


class _BoundedRdfc(URDNA2015):
    """pyld's RDFC-1.0 with the work limits the algorithm's security considerations ask for (RDFC-1.0 §7).

    A credential's blank nodes are told apart by their first-degree hashes;
    only a graph made to defeat them (many blank nodes pointing at each other)
    needs the N-degree steps, whose cost grows factorially. Past either limit
    it is refused: Digital Bazaar's rdf-canonize refuses such graphs too.
    """

    def __init__(self) -> None:
        super().__init__()
        self._deep_hashes_left = MAX_DEEP_HASHES

    def hash_n_degree_quads(self, id_, issuer):
        self._deep_hashes_left -= 1
        if self._deep_hashes_left < 0:
            raise ProofError("the document's blank nodes are too entangled to canonicalise (a poison graph)")
        return super().hash_n_degree_quads(id_, issuer)

    def create_hash_to_related(self, id_, issuer):
        related = super().create_hash_to_related(id_, issuer)
        if any(len(nodes) > MAX_RELATED for nodes in related.values()):
            raise ProofError("the document's blank nodes are too entangled to canonicalise (a poison graph)")
        return related


def canonical_nquads(document: dict) -> str:
    """RDFC-1.0 canonical N-Quads of ``document``, loading only bundled contexts, within bounded work.

    Raises:
        ProofError: a context is not bundled, the JSON-LD is invalid or nested too deeply, a term is
            undefined (it would go unsigned), or the graph exceeds the canonicalisation limits above.
    """

    def refuse_dropped(term: str | None) -> None:
        raise ProofError(f"the term {term!r} is not defined by the credential's contexts")

    processor = jsonld.JsonLdProcessor(on_property_dropped=refuse_dropped)
    try:
        with PYLD_LOCK:
            dataset = processor.to_rdf(document, {"documentLoader": document_loader(), "produceGeneralizedRdf": False})
            return _BoundedRdfc().main(dataset, {"format": "application/n-quads"})
    except ProofError:
        raise
    except jsonld.JsonLdError as error:
        raise ProofError(_jsonld_reason(error)) from None
    except RecursionError:
        raise ProofError("the document is nested too deeply to canonicalise") from None


def _jsonld_reason(error: BaseException) -> str:
    """The innermost pyld message (pyld chains its errors), with the URL it refused to load, if any."""
    while error.__cause__ is not None:
        error = error.__cause__
    details = getattr(error, "details", None)
    url = details.get("url") if isinstance(details, dict) else None
    if url:
        return f"the context {url} is not bundled here, so it is refused"
    return f"the document is not valid JSON-LD: {error.args[0] if error.args else type(error).__name__}"


def _hash_data(document: dict, options: dict) -> bytes:
    """``sha256(canonical proof options) ‖ sha256(canonical document)``, 64 bytes (§3.3.4)."""
    config = {**options, "@context": document["@context"]}
    proof_hash = hashlib.sha256(canonical_nquads(config).encode("utf-8")).digest()
    document_hash = hashlib.sha256(canonical_nquads(document).encode("utf-8")).digest()
    return proof_hash + document_hash


def sign(document: dict, *, key: IssuerKey, verification_method: str, created: datetime) -> dict:
    """``document`` (without a proof) with an ``eddsa-rdfc-2022`` proof for ``assertionMethod`` added.

    ``verification_method`` is the key's id in the issuer's DID document,
    e.g. ``did:web:example.com#z6Mk…``.

    Raises:
        ProofError: ``document`` cannot be canonicalised (see :func:`canonical_nquads`).
    """
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    options = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": xsd_datetime(created),
        "verificationMethod": verification_method,
        "proofPurpose": ASSERTION,
    }
    signature = key.sign(_hash_data(unsecured, options))
    return {**unsecured, "proof": {**options, "proofValue": multibase_base58btc(signature)}}


@dataclass(frozen=True, slots=True)
class ProofOptions:
    """What a well-formed proof names: its verification method id and when it was created (as written)."""

    verification_method: str
    created: str | None


def proof_options(document: dict) -> ProofOptions:
    """The single ``eddsa-rdfc-2022`` proof of ``document``, checked for shape.

    Raises:
        ProofError: no proof, several, another type or cryptosuite, another purpose, or no proofValue.
    """
    proof = document.get("proof")
    if not isinstance(proof, dict):
        raise ProofError("the credential has no proof, or more than one")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise ProofError(f"the proof is not a {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}")
    if proof.get("proofPurpose") != ASSERTION:
        raise ProofError(f"the proof's purpose is not {ASSERTION}")
    method = proof.get("verificationMethod")
    if not isinstance(method, str) or not isinstance(proof.get("proofValue"), str):
        raise ProofError("the proof has no verificationMethod or proofValue")
    return ProofOptions(verification_method=method, created=proof.get("created"))


def verify(document: dict, public_key: Ed25519PublicKey) -> None:
    """Check ``document``'s proof against ``public_key``; return None when it holds.

    Raises:
        ProofError: malformed proof (see :func:`proof_options`), a document that cannot be
            canonicalised, or a signature that does not match (any changed byte of what is signed).
    """
    proof_options(document)
    proof = dict(document["proof"])
    proof_value = proof.pop("proofValue")
    if "@context" in proof:
        raise ProofError("a proof with its own @context is not supported")
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    if not proof_value.startswith("z"):
        raise ProofError("the proofValue is not multibase base58btc")
    try:
        signature = base58.b58decode(proof_value[1:])
    except ValueError:
        raise ProofError("the proofValue is not multibase base58btc") from None
    try:
        public_key.verify(signature, _hash_data(unsecured, proof))
    except InvalidSignature:
        raise ProofError(
            "the signature does not match the credential: it was changed or signed with another key"
        ) from None
