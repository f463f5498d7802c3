"""Opaque Relay global IDs: URL-safe base64 of ``"TypeName:pk"``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from resolvers.errors import DomainError, ErrorCode


def to_global_id(type_name: str, pk: int) -> str:
    """Encode ``(type_name, pk)`` as an opaque ID, e.g. ``("Sitting", 7)`` → ``"U2l0dGluZzo3"``."""
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """Decode an ID to ``(type_name, pk)``; ``None`` when it is malformed."""
    if not isinstance(global_id, str) or not 0 < len(global_id) <= 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, pk = raw.partition(":")
    if not sep or not pk.isascii() or not pk.isdigit() or len(pk) > 18:
        return None
    return type_name, int(pk)


def decode_id(global_id: str, type_name: str) -> int | None:
    """The pk of ``global_id`` if it is a well-formed ID of ``type_name``, else ``None``."""
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


def require_id(global_id: str, type_name: str, field: Sequence[str]) -> int:
    """Like :func:`decode_id` but raise ``DomainError(NOT_FOUND)`` naming ``field``."""
    pk = decode_id(global_id, type_name)
    if pk is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no {type_name} with id {global_id!r}", field)
    return pk
