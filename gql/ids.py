"""Opaque Relay global IDs: URL-safe base64 of ``"TypeName:pk"``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from resolvers.errors import DomainError, ErrorCode
from resolvers.global_ids import MAX_PK, from_global_id, to_global_id

__all__ = ["MAX_PK", "decode_id", "from_global_id", "require_id", "to_global_id"]


def decode_id(global_id: str, type_name: str) -> int | None:
    """The pk of ``global_id`` if it is a well-formed ID of ``type_name``, else ``None``.

    IDs of up to 64 characters (every ID this service makes) are remembered, the last 4,096: a batch of
    1,000 recorded sittings names the same organisation and test in every row.
    """
    if len(global_id) <= 64:
        return _decoded(global_id, type_name)
    return _decode(global_id, type_name)


def _decode(global_id: str, type_name: str) -> int | None:
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


_decoded = lru_cache(maxsize=4096)(_decode)


def require_id(global_id: str, type_name: str, field: Sequence[str]) -> int:
    """Like :func:`decode_id` but raise ``DomainError(NOT_FOUND)`` naming ``field``."""
    pk = decode_id(global_id, type_name)
    if pk is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no {type_name} with id {global_id!r}", field)
    return pk
