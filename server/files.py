"""Signed, short-lived URLs for certificate files (PDF, PNG) and submitted photos, and the route serving them.

A URL is ``{public_url}/files/{token}``; the token signs (certificate id,
file kind, storage key) with a key derived from ``jwt_secret`` and expires
after ``signed_url_ttl_seconds``. A tampered, expired or superseded token
gets 403. Who may receive a photo URL is the field rule ``Certificate.photoUrl``
of :mod:`resolvers.access`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from models import Certificate
from resolvers import access
from resolvers.access import Field
from resolvers.certificate_files import CertificateFile, file_key, read_certificate_file
from resolvers.principal import Principal
from server.settings import Settings

SALT = "certify.files.v1"


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
        secret = hashlib.sha256(f"certify-file-urls:{settings.jwt_secret}".encode()).hexdigest()
        signer = type("Signer", (ClockedSigner,), {"clock": staticmethod(clock)})
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT, signer=signer)
        self._checker = URLSafeTimedSerializer(secret, salt=SALT)

    @property
    def ttl_seconds(self) -> int:
        return self._settings.signed_url_ttl_seconds

    def certificate_url(self, certificate: Certificate, kind: str) -> str | None:
        """The PDF (``"pdf"``) or PNG (``"png"``) URL once the certificate is ISSUED, else None."""
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
        token = self._serializer.dumps([certificate.id, kind.value, key])
        return f"{self._settings.public_url}/files/{token}"

    def read_token(self, token: str) -> tuple[int, CertificateFile, str] | None:
        """(certificate id, kind, key) of a valid, unexpired token; None otherwise."""
        try:
            certificate_id, kind, key = self._checker.loads(token, max_age=self.ttl_seconds)
            if not isinstance(certificate_id, int) or not isinstance(key, str):
                return None
            return certificate_id, CertificateFile(kind), key
        except (SignatureExpired, BadSignature, ValueError, TypeError):
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
        return PlainTextResponse("This link is invalid or has expired.", status_code=403)
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
