"""Signed, short-lived URLs for certificate files (PDF, PNG) and submitted photos, and the route serving them.

A URL is ``{public_url}/files/{token}``; the token is itsdangerous's
``payload.timestamp.signature`` whose payload is (certificate id, file kind,
storage key) encrypted with AES-GCM (:class:`SealedJson`), so the URL reveals
neither the storage key nor the id. Encryption and signing keys are derived
(HKDF-SHA256) from ``CERTIFY_FILE_URL_SECRET`` alone, never from the JWT
secret; the token expires after ``signed_url_ttl_seconds``. A tampered,
expired or superseded token gets 403. Who may receive a photo URL is the field rule ``Certificate.photoUrl``
of :mod:`resolvers.access`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadData, URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from models import Certificate
from resolvers import access
from resolvers.access import Field
from resolvers.certificate_files import CertificateFile, file_key, read_certificate_file
from resolvers.principal import Principal
from server.errors import error_response
from server.settings import Settings

SALT = "certify.files.v2"
NONCE_BYTES = 12


def derive_key(secret: str, purpose: str) -> bytes:
    """32 bytes for ``purpose`` (e.g. ``"files.encrypt"``) from ``secret``, by HKDF-SHA256 (RFC 5869)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"certify.{purpose}".encode())
    return hkdf.derive(secret.encode())


class SealedJson:
    """An itsdangerous serializer whose payload is JSON sealed with AES-GCM under ``key`` (32 bytes).

    ``dumps`` gives ``nonce (12 bytes) + ciphertext + tag``; ``loads`` raises
    ``ValueError`` for anything it did not seal. The signature around it is
    still checked first, so this only hides the payload.
    """

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def dumps(self, obj: Any) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, json.dumps(obj, separators=(",", ":")).encode(), None)

    def loads(self, data: bytes) -> Any:
        try:
            return json.loads(self._aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None))
        except InvalidTag as exc:
            raise ValueError("not a sealed payload") from exc


def sealed_serializers(
    settings: Settings, *, purpose: str, salt: str, clock: Callable[[], float]
) -> tuple[URLSafeTimedSerializer, URLSafeTimedSerializer]:
    """(signer dated by ``clock``, checker on the real time) of sealed tokens for ``purpose``."""
    secret = settings.file_url_signing_secret
    sealed = SealedJson(derive_key(secret, f"{purpose}.encrypt"))
    signing_key = derive_key(secret, f"{purpose}.sign")
    signer = type("Signer", (ClockedSigner,), {"clock": staticmethod(clock)})
    return (
        URLSafeTimedSerializer(signing_key, salt=salt, serializer=sealed, signer=signer),
        URLSafeTimedSerializer(signing_key, salt=salt, serializer=sealed),
    )


class ClockedSigner(TimestampSigner):
    """itsdangerous's timestamp signer dated by ``clock`` (seconds since the epoch); subclass to set it."""

    clock: Callable[[], float] = time.time

    def get_timestamp(self) -> int:
        return int(self.clock())


class FileUrls:
    """Builds and checks signed file URLs for one :class:`Settings`.

    ``clock`` (seconds since the epoch) dates the URLs it signs; checking
    always uses the real time.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time):
        self._settings = settings
        self._serializer, self._checker = sealed_serializers(settings, purpose="files", salt=SALT, clock=clock)

    @property
    def ttl_seconds(self) -> int:
        return self._settings.signed_url_ttl_seconds

    def certificate_url(self, certificate: Certificate, kind: str) -> str | None:
        """The PDF (``"pdf"``) or PNG (``"png"``) URL once the certificate is ISSUED (or since REVOKED), else None."""
        return self._url(certificate, CertificateFile(kind))

    def photo_url(self, certificate: Certificate, principal: Principal) -> str | None:
        """The submitted photo's URL for viewers the field rule ``Certificate.photoUrl`` allows, else None."""
        if not access.may_read(principal, Field.PHOTO_URL):
            return None
        return self._url(certificate, CertificateFile.PHOTO)

    def _url(self, certificate: Certificate, kind: CertificateFile) -> str | None:
        key = file_key(certificate, kind)
        if key is None:
            return None
        token = self._serializer.dumps([certificate.id, kind.value, key]).decode("ascii")
        return f"{self._settings.public_url}/files/{token}"

    def read_token(self, token: str) -> tuple[int, CertificateFile, str] | None:
        """(certificate id, kind, key) of a valid, unexpired token; None otherwise."""
        try:
            certificate_id, kind, key = self._checker.loads(token, max_age=self.ttl_seconds)
            if not isinstance(certificate_id, int) or not isinstance(key, str):
                return None
            return certificate_id, CertificateFile(kind), key
        except (BadData, ValueError, TypeError):
            return None


async def serve_file(request: Request) -> Response:
    """``GET /files/{token}``: the signed file, or 403 for a bad, expired or superseded token."""
    state = request.app.state.certify
    decoded = state.file_urls.read_token(request.path_params["token"])
    served = None
    if decoded is not None:
        certificate_id, kind, key = decoded
        served = await read_certificate_file(certificate_id=certificate_id, kind=kind, key=key, storage=state.storage)
    if served is None:
        return error_response(403, "This link is invalid or has expired.")
    return Response(
        served.data,
        media_type=served.media_type,
        headers={
            "Content-Disposition": f'inline; filename="{served.filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
