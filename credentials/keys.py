"""The issuer's Ed25519 keys: a key ring in one JSON file, the newest key signing, older ones still verifiable.

File format (``CERTIFY_ISSUER_KEY_FILE``, or ``issuer-keys.json`` in the data
directory), written with mode 0600::

    {"keys": [{"created": "2026-12-03T10:00:00Z", "privateKeyPem": "-----BEGIN PRIVATE KEY-----…"}]}

Keys are PKCS #8 PEM (``cryptography``). A key is named in DID documents and
proofs by its public key as a Multikey (Controlled Identifiers v1.0, §2.2.2):
``z`` + base58btc(0xED 0x01 ‖ 32-byte public key), e.g. ``z6Mk…``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519_PUB_PREFIX = b"\xed\x01"
"""Multicodec ``ed25519-pub`` as an unsigned varint (multicodec table, 0xed)."""


class KeyFileError(ValueError):
    """The key file cannot be read: not JSON of the format above, or a key that is not Ed25519."""


def multibase_base58btc(data: bytes) -> str:
    """Multibase base58btc: ``z`` + base58 (Bitcoin alphabet) of ``data``."""
    return "z" + base58.b58encode(data).decode("ascii")


def public_key_multibase(public_key: Ed25519PublicKey) -> str:
    """The Multikey ``publicKeyMultibase`` of an Ed25519 public key (``z6Mk…``, 48 characters)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return multibase_base58btc(ED25519_PUB_PREFIX + raw)


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    """Decode a Multikey ``publicKeyMultibase``.

    Raises:
        ValueError: not ``z`` + base58btc of the ed25519-pub prefix and 32 bytes.
    """
    if not isinstance(value, str) or not value.startswith("z"):
        raise ValueError("publicKeyMultibase must be base58btc (start with 'z')")
    raw = base58.b58decode(value[1:])
    if len(raw) != 34 or not raw.startswith(ED25519_PUB_PREFIX):
        raise ValueError("publicKeyMultibase is not an Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """One Ed25519 signing key and when it was made (UTC)."""

    private_key: Ed25519PrivateKey
    created: datetime

    @property
    def public_multibase(self) -> str:
        """The key's Multikey name, also the fragment of its verification method id."""
        return public_key_multibase(self.private_key.public_key())

    def sign(self, data: bytes) -> bytes:
        """A 64-byte Ed25519 signature of ``data`` (RFC 8032)."""
        return self.private_key.sign(data)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The issuer's keys, oldest first; the last one signs new credentials."""

    keys: tuple[IssuerKey, ...]

    @property
    def current(self) -> IssuerKey:
        """The key that signs from now on (the newest)."""
        return self.keys[-1]

    def find(self, public_multibase: str) -> IssuerKey | None:
        """The key whose Multikey name is ``public_multibase``, or None."""
        return next((key for key in self.keys if key.public_multibase == public_multibase), None)


def new_key(now: datetime | None = None) -> IssuerKey:
    """A fresh random Ed25519 key (``cryptography``, the OS's CSPRNG)."""
    return IssuerKey(Ed25519PrivateKey.generate(), (now or datetime.now(UTC)).replace(microsecond=0))


def read_key_ring(path: Path) -> KeyRing:
    """The key ring stored at ``path``.

    Raises:
        FileNotFoundError: no file there.
        KeyFileError: the file is not a key ring of Ed25519 keys.
    """
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["keys"]
        keys = tuple(_key_of(entry) for entry in entries)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise KeyFileError(f"{path}: not an issuer key file ({error})") from None
    if not keys:
        raise KeyFileError(f"{path}: the key file holds no key")
    return KeyRing(keys)


def write_key_ring(path: Path, ring: KeyRing) -> None:
    """Write ``ring`` to ``path`` atomically, readable by the owner only (0600)."""
    entries = [
        {
            "created": key.created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "privateKeyPem": key.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode("ascii"),
        }
        for key in ring.keys
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".issuer-keys-")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump({"keys": entries}, file, indent=2)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _key_of(entry: dict) -> IssuerKey:
    key = serialization.load_pem_private_key(entry["privateKeyPem"].encode("ascii"), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError("a key in the file is not an Ed25519 key")
    created = datetime.fromisoformat(entry["created"])
    return IssuerKey(key, created.astimezone(UTC))


def load_or_create_key_ring(path: Path) -> tuple[KeyRing, bool]:
    """The key ring at ``path``, made with one new key if there is none; (ring, whether it was made now).

    Safe when several processes start at once: the new file is linked into
    place only if none exists yet, and the loser reads the winner's.

    Raises:
        KeyFileError: an existing file is not a key ring.
    """
    try:
        return read_key_ring(path), False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.new")
    write_key_ring(draft, KeyRing((new_key(),)))
    try:
        os.link(draft, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        draft.unlink(missing_ok=True)
    return read_key_ring(path), created


def rotate(path: Path) -> KeyRing:
    """Add a new key to the ring at ``path``; the new key signs from then on.

    Raises:
        FileNotFoundError: no key ring there (a mistyped path must not start a new ring silently).
        KeyFileError: the file is not a key ring.
    """
    ring = read_key_ring(path)
    rotated = KeyRing((*ring.keys, new_key()))
    write_key_ring(path, rotated)
    return rotated
