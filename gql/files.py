"""Signed, short-lived URLs for certificate files (PDF, PNG) and submitted photos."""

from __future__ import annotations

from models import Certificate
from resolvers.principal import Principal


class FileUrls:
    """Builds signed URLs under ``{public_url}/files/...``; None where a file does not exist yet."""

    def __init__(self, settings):
        self._settings = settings

    def certificate_url(self, certificate: Certificate, kind: str) -> str | None:
        return None

    def photo_url(self, certificate: Certificate, principal: Principal) -> str | None:
        return None
