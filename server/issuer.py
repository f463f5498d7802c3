"""The service's credential issuer: its key ring, loaded (or made on first start) from the settings.

``CERTIFY_ISSUER_KEY_FILE`` names the key ring; unset, it is
``issuer-keys.json`` in the data directory, generated on first start and
logged (docs/RULES.md, "Credentials"). Every process of one deployment must
read the same file: ``certify serve --workers N`` and ``certify worker`` do.
"""

from __future__ import annotations

import logging

from credentials.keys import load_or_create_key_ring
from resolvers.credentials import CredentialIssuer
from server.settings import Settings

log = logging.getLogger(__name__)


def issuer_of(settings: Settings) -> CredentialIssuer:
    """The issuer for ``settings``' public URL and key ring.

    Raises:
        KeyFileError: the key file exists but is not a key ring.
        OSError: the key file cannot be read or made.
    """
    ring, created = load_or_create_key_ring(settings.issuer_key_path)
    if created:
        log.warning(
            "issuer: generated a new Ed25519 issuer key in %s (%s); keep this file: credentials are signed with it",
            settings.issuer_key_path,
            ring.current.public_multibase,
        )
    return CredentialIssuer(public_url=settings.public_url, keys=ring)
