"""Which stored file a certificate offers, and reading it back for a signed URL.

Rules (docs/RULES.md, "Who sees what"): the PDF and PNG exist once the
certificate is ISSUED, stay once it is REVOKED, and go to anyone who may see
the certificate; who may also have the submitted photo is the field rule
``Certificate.photoUrl`` of :mod:`resolvers.access` (not analysts).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from adapters.storage import FileStorage, StoredFileMissing
from models import Certificate
from models.enums import CertificateStatus


class CertificateFile(StrEnum):
    """The files of a certificate."""

    PDF = "pdf"
    PNG = "png"
    PHOTO = "photo"


MEDIA_TYPES = {
    CertificateFile.PDF: "application/pdf",
    CertificateFile.PNG: "image/png",
    CertificateFile.PHOTO: "image/jpeg",
}
EXTENSIONS = {CertificateFile.PDF: "pdf", CertificateFile.PNG: "png", CertificateFile.PHOTO: "jpg"}
FILED = (CertificateStatus.ISSUED, CertificateStatus.REVOKED)
"""Statuses whose PDF and PNG are offered: issued, and kept after a revocation (docs/RULES.md, "The certificate's life")."""


@dataclass(frozen=True, slots=True)
class ServedFile:
    """A file ready to send: bytes, its media type and a download file name."""

    data: bytes
    media_type: str
    filename: str


def file_key(certificate: Certificate, kind: CertificateFile) -> str | None:
    """The storage key of ``certificate``'s ``kind`` file, or None while it has none."""
    if kind is CertificateFile.PHOTO:
        return certificate.photo_key
    if certificate.status not in FILED:
        return None
    return certificate.pdf_key if kind is CertificateFile.PDF else certificate.png_key


async def read_certificate_file(
    *, certificate_id: int, kind: CertificateFile, key: str, storage: FileStorage
) -> ServedFile | None:
    """The file a signed URL names, or None when it is no longer the certificate's current file.

    ``key`` is the key the URL was signed for: a photo replaced by a new claim,
    or a file of a certificate that is not (or no longer) issued, is not served.
    """
    certificate = await Certificate.get_or_none(id=certificate_id)
    if certificate is None or file_key(certificate, kind) != key:
        return None
    try:
        data = await storage.get(key)
    except StoredFileMissing:
        return None
    stem = (
        f"certificate-{certificate.verification_code}"
        if kind is not CertificateFile.PHOTO
        else f"photo-{certificate.id}"
    )
    return ServedFile(data=data, media_type=MEDIA_TYPES[kind], filename=f"{stem}.{EXTENSIONS[kind]}")
