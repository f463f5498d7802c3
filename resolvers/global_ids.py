"""Opaque Relay global IDs: URL-safe base64 of "TypeName:pk" (used by the API and by links in e-mails)."""

from __future__ import annotations

import base64
import binascii

MAX_PK = 2**31 - 1  # primary keys are 32-bit integers; a larger number names nothing


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
    if not sep or not pk.isascii() or not pk.isdigit() or not 0 < int(pk) <= MAX_PK:
        return None
    return type_name, int(pk)
