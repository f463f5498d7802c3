"""Baking: the signed credential carried inside the certificate's PNG (Open Badges 3.0, §5.3.1 "PNG").

One ``iTXt`` chunk with the keyword ``openbadgecredential``, uncompressed,
whose text is the credential's JSON. Baking splices the chunk in among the
PNG's chunks with pypng, never decoding the picture (byte for byte the same
pixels, and no re-encoding: Pillow's decode and save cost a certificate about
40 ms of CPU); Pillow reads it back from the chunks before the pixels.
"""

from __future__ import annotations

import io
import json

import png as pypng
from PIL import Image

KEYWORD = "openbadgecredential"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class BakingError(ValueError):
    """Not a PNG, or a PNG without exactly one ``openbadgecredential`` chunk holding JSON."""


def bake(png: bytes, credential_json: str) -> bytes:
    """``png`` with ``credential_json`` in an ``openbadgecredential`` iTXt chunk (any earlier one replaced).

    The chunk goes just before the first ``IDAT`` (so readers find it without the pixels); every other
    chunk is kept as it was.

    Raises:
        BakingError: ``png`` is not a PNG (bad signature, a bad chunk CRC, no pixels).
    """
    try:
        chunks = list(pypng.Reader(bytes=png).chunks())
    except (pypng.Error, ValueError, EOFError):
        raise BakingError("the image cannot be read as a PNG") from None
    kept = [(kind, data) for kind, data in chunks if not _is_credential_chunk(kind, data)]
    first_pixels = next((n for n, (kind, _) in enumerate(kept) if kind == b"IDAT"), None)
    if first_pixels is None:
        raise BakingError("the image cannot be read as a PNG")
    # iTXt (PNG 3rd edition §11.3.3.5): keyword, NUL, compression flag 0, method 0, no language, NUL,
    # no translated keyword, NUL, then the UTF-8 text.
    chunk = (b"iTXt", KEYWORD.encode("latin-1") + b"\0\0\0\0\0" + credential_json.encode("utf-8"))
    out = io.BytesIO()
    pypng.write_chunks(out, [*kept[:first_pixels], chunk, *kept[first_pixels:]])
    return out.getvalue()


def _is_credential_chunk(kind: bytes, data: bytes) -> bool:
    return kind in (b"iTXt", b"tEXt", b"zTXt") and data.split(b"\0", 1)[0] == KEYWORD.encode("latin-1")


def unbake(png: bytes) -> dict:
    """The credential baked into ``png``, parsed.

    Raises:
        BakingError: not a PNG, no ``openbadgecredential`` chunk, or a chunk that is not a JSON object.
    """
    text = baked_text(png)
    try:
        credential = json.loads(text)
    except ValueError:
        raise BakingError("the openbadgecredential chunk is not JSON") from None
    if not isinstance(credential, dict):
        raise BakingError("the openbadgecredential chunk is not a JSON object")
    return credential


def baked_text(png: bytes) -> str:
    """The exact text of ``png``'s ``openbadgecredential`` chunk.

    Raises:
        BakingError: not a PNG, or no such chunk.
    """
    try:
        # Only the chunks before the pixels are read (Pillow's ``info``): the picture is never decoded,
        # so a PNG of huge dimensions costs nothing. Baking writes the chunk there (before IDAT).
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            text = image.info.get(KEYWORD)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BakingError("the file cannot be read as a PNG") from None
    if text is None:
        raise BakingError("the PNG carries no openbadgecredential chunk")
    return str(text)


def read_credential(data: bytes) -> dict:
    """The credential in ``data``: a certificate PNG that carries one, or the credential's JSON.

    Raises:
        BakingError: a PNG without a credential ("The PNG carries no credential: …"), a file that is
            neither a PNG nor JSON, or JSON that is not an object; the message is a sentence for people.
    """
    if data.startswith(PNG_SIGNATURE):
        try:
            return unbake(data)
        except BakingError as error:
            raise BakingError(f"The PNG carries no credential: {error}.") from None
    try:
        document = json.loads(data)
    except ValueError:
        raise BakingError("The file is neither a certificate PNG nor a credential in JSON.") from None
    except RecursionError:
        raise BakingError("The file's JSON is nested too deeply to be a credential.") from None
    if not isinstance(document, dict):
        raise BakingError("The file is JSON but not a credential.")
    return document
