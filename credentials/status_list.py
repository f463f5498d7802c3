"""Bitstring Status List v1.0 (W3C Recommendation, 2025): the revocation bits of a list of credentials.

A list holds :data:`LIST_LENGTH` entries (the spec's minimum, 131,072 = 16 KB,
§6.1, for group privacy). Bit ``i`` is the ``i % 8``-th bit from the left of
byte ``i // 8``; 1 means revoked. The ``encodedList`` is the bitstring
GZIP-compressed, then multibase base64url without padding (``u…``, §2.1).
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable

LIST_LENGTH = 131_072
PURPOSE = "revocation"
ENTRY_TYPE = "BitstringStatusListEntry"
LIST_TYPE = "BitstringStatusList"
LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"


class StatusListError(ValueError):
    """An ``encodedList`` that is not multibase base64url GZIP of at least :data:`LIST_LENGTH` bits."""


def encode_list(set_bits: Iterable[int], length: int = LIST_LENGTH) -> str:
    """The ``encodedList`` with the bits at ``set_bits`` (0-based indexes) set.

    Raises:
        ValueError: an index outside ``0 ≤ i < length``.
    """
    bits = bytearray(length // 8)
    for index in set_bits:
        if not 0 <= index < length:
            raise ValueError(f"status list index {index} is outside 0–{length - 1}")
        bits[index // 8] |= 0x80 >> (index % 8)
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode("ascii").rstrip("=")


def decode_list(encoded: object) -> bytes:
    """The raw bitstring of an ``encodedList``.

    Raises:
        StatusListError: not ``u`` + base64url, not GZIP, or shorter than :data:`LIST_LENGTH` bits.
    """
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusListError("the encodedList is not multibase base64url")
    payload = encoded[1:]
    try:
        compressed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        bits = gzip.decompress(compressed)
    except (ValueError, OSError, EOFError) as error:
        raise StatusListError(f"the encodedList cannot be decoded: {error}") from None
    if len(bits) * 8 < LIST_LENGTH:
        raise StatusListError(f"the status list has {len(bits) * 8} entries; at least {LIST_LENGTH} are required")
    return bits


def bit_is_set(bits: bytes, index: int) -> bool:
    """Whether entry ``index`` of a decoded bitstring is 1.

    Raises:
        StatusListError: ``index`` outside the list.
    """
    if not 0 <= index < len(bits) * 8:
        raise StatusListError(f"status list index {index} is outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))
