"""The public credential routes: a certificate's signed credential, the issuers' DID documents, the status lists.

- ``GET /credentials/{code}``: the signed ``OpenBadgeCredential``
  (``application/vc+ld+json``), for an issued or revoked certificate.
- ``GET /orgs/{id}/did.json``: the DID document of ``did:web:{host}:orgs:{id}``
  (``application/did+ld+json``), as did:web prescribes its path.
- ``GET /orgs/{id}/achievements/{test}``: the organisation's ``Achievement`` of a test
  (``application/ld+json``), the achievement id its credentials name, once it has issued one.
- ``GET /orgs/{id}/credentials/status/{list}``: the signed
  ``BitstringStatusListCredential``, cacheable for
  ``CERTIFY_STATUS_LIST_MAX_AGE_SECONDS`` (60 s by default). DID documents may be cached
  :data:`DID_MAX_AGE_SECONDS` (5 minutes): after a key rotation, verifiers may take that long to see the new key.

No authentication; any origin may read them (``Access-Control-Allow-Origin: *``),
since wallets and verifiers in browsers fetch them. Unknown ones are 404 in
the GraphQL error shape (:mod:`server.errors`).
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from resolvers.credential_status import organisation_did_document, published_achievement, stored_credential
from server.errors import error_response

VC_MEDIA_TYPE = "application/vc+ld+json"
"""VC Data Model 2.0, §C.1: the media type of a credential secured with an embedded proof."""
DID_MEDIA_TYPE = "application/did+ld+json"
"""DID Core 1.0, §6.3.1: a DID document in JSON-LD."""
PUBLIC = {"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"}
JSON_LD_MEDIA_TYPE = "application/ld+json"
"""JSON-LD 1.1, §C: the media type of a JSON-LD document (an achievement is not itself a credential)."""
DID_MAX_AGE_SECONDS = 300
MAX_ID = 2**31 - 1
"""The largest id a row can have (a 32-bit key on both databases); a larger one in a path names nothing."""


def _ids_exist(request: Request, *names: str) -> bool:
    return all(0 < request.path_params[name] <= MAX_ID for name in names)


async def serve_credential(request: Request) -> Response:
    """``GET /credentials/{code}``: the stored credential, byte for byte as signed (the PNG carries the same bytes)."""
    state = request.app.state.certify
    body = await stored_credential(code=request.path_params["code"], storage=state.storage)
    if body is None:
        return error_response(404, "no issued certificate has a credential under this code")
    return Response(body, media_type=VC_MEDIA_TYPE, headers={**PUBLIC, "Cache-Control": "public, max-age=3600"})


async def serve_did_document(request: Request) -> Response:
    """``GET /orgs/{organisation_id}/did.json``: the organisation's issuer DID document."""
    state = request.app.state.certify
    if not _ids_exist(request, "organisation_id"):
        return error_response(404, "no organisation has this identifier")
    document = await organisation_did_document(
        organisation_id=request.path_params["organisation_id"], issuer=state.issuer
    )
    if document is None:
        return error_response(404, "no organisation has this identifier")
    return Response(
        json.dumps(document, indent=2),
        media_type=DID_MEDIA_TYPE,
        headers={**PUBLIC, "Cache-Control": f"public, max-age={DID_MAX_AGE_SECONDS}"},
    )


async def serve_achievement(request: Request) -> Response:
    """``GET /orgs/{organisation_id}/achievements/{test_id}``: the achievement the organisation's credentials name."""
    state = request.app.state.certify
    document = None
    if _ids_exist(request, "organisation_id", "test_id"):
        document = await published_achievement(
            organisation_id=request.path_params["organisation_id"],
            test_id=request.path_params["test_id"],
            issuer=state.issuer,
        )
    if document is None:
        return error_response(404, "the organisation has issued no credential of this achievement")
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False),
        media_type=JSON_LD_MEDIA_TYPE,
        headers={**PUBLIC, "Cache-Control": f"public, max-age={DID_MAX_AGE_SECONDS}"},
    )


async def serve_status_list(request: Request) -> Response:
    """``GET /orgs/{organisation_id}/credentials/status/{status_list_id}``: the signed revocation list."""
    state = request.app.state.certify
    if not _ids_exist(request, "organisation_id", "status_list_id"):
        return error_response(404, "the organisation has no such status list")
    body = await state.status_lists.credential(
        organisation_id=request.path_params["organisation_id"],
        status_list_id=request.path_params["status_list_id"],
        issuer=state.issuer,
    )
    if body is None:
        return error_response(404, "the organisation has no such status list")
    max_age = state.settings.status_list_max_age_seconds
    return Response(body, media_type=VC_MEDIA_TYPE, headers={**PUBLIC, "Cache-Control": f"public, max-age={max_age}"})
