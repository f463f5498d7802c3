"""did:web identifiers and DID documents (did:web Method Specification, W3C CCG; DID Core 1.0).

``did:web:HOST`` (port percent-encoded as ``%3A``) then ``:``-separated path
segments; the document lives at ``https://HOST/PATH/did.json``, or at
``https://HOST/.well-known/did.json`` without a path (did:web §3.2). Loopback
hosts (``localhost``, ``127.0.0.1``, ``[::1]``) resolve over plain HTTP, for
development and tests; every other host over HTTPS as the method prescribes.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from credentials.contexts import DID_V1, MULTIKEY_V1

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


class DidError(ValueError):
    """Not a did:web identifier this resolver can turn into a URL."""


def did_web(public_url: str, *segments: str) -> str:
    """The did:web of ``public_url`` (its host and port, and its path) plus ``segments``.

    ``did_web("https://certify.example", "orgs", "7")`` → ``did:web:certify.example:orgs:7``.
    """
    parts = urlsplit(public_url)
    host = quote(parts.netloc, safe="[]")
    path = [segment for segment in parts.path.split("/") if segment] + list(segments)
    return ":".join(["did", "web", host, *(quote(segment, safe="") for segment in path)])


def did_document_url(did: str) -> str:
    """Where ``did``'s document is (a fragment or query on ``did`` is ignored).

    Raises:
        DidError: not ``did:web:HOST[:PATH…]``.
    """
    bare = did.split("#", 1)[0].split("?", 1)[0]
    if not bare.startswith("did:web:") or len(bare) == len("did:web:"):
        raise DidError(f"not a did:web identifier: {did!r}")
    host, *path = bare[len("did:web:") :].split(":")
    host = unquote(host)
    if not host or "/" in host or any(not segment for segment in path):
        raise DidError(f"not a did:web identifier: {did!r}")
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    scheme = "http" if hostname in LOOPBACK_HOSTS else "https"
    tail = "/".join(unquote(segment) for segment in path) + "/did.json" if path else ".well-known/did.json"
    return f"{scheme}://{host}/{tail}"


def did_document(did: str, public_keys: list[str]) -> dict:
    """The DID document of ``did`` listing ``public_keys`` (Multikey names, newest last) for assertions.

    Each key is a verification method ``{did}#{publicKeyMultibase}`` of type
    Multikey, controlled by ``did`` (Controlled Identifiers v1.0, §2.2.2).
    """
    methods = [
        {"id": f"{did}#{key}", "type": "Multikey", "controller": did, "publicKeyMultibase": key} for key in public_keys
    ]
    return {
        "@context": [DID_V1, MULTIKEY_V1],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }


def assertion_key(document: object, method_id: str) -> str:
    """The ``publicKeyMultibase`` of verification method ``method_id``, if the DID document lists it for assertions.

    Raises:
        DidError: the document is not a DID document for that DID, or does not list the key for assertionMethod.
    """
    did = method_id.split("#", 1)[0]
    if not isinstance(document, dict) or document.get("id") != did:
        raise DidError(f"the DID document is not the document of {did}")
    listed = document.get("assertionMethod") or []
    if method_id not in listed:
        raise DidError(f"the issuer's DID document does not list the key {method_id} for assertions")
    for method in document.get("verificationMethod") or []:
        if isinstance(method, dict) and method.get("id") == method_id and method.get("type") == "Multikey":
            key = method.get("publicKeyMultibase")
            if isinstance(key, str):
                return key
    raise DidError(f"the issuer's DID document has no Multikey {method_id}")
