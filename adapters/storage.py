"""Where certificate files live: a small key → bytes interface and its local-disk implementation.

Keys are made here (:func:`new_key`), never from user input: ``{area}/{32 hex}.{ext}``
(areas ``photos``, ``certificates``, ``credentials``),
e.g. ``photos/3f2a….jpg``. An object store can replace :class:`LocalFileStorage`
by implementing :class:`FileStorage`.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Protocol

KEY_PATTERN = re.compile(r"^(photos|certificates|credentials)/[0-9a-f]{32}\.(jpg|pdf|png|json)$")


class StoredFileMissing(LookupError):
    """No file is stored under the key."""


def new_key(area: str, extension: str) -> str:
    """A fresh random key such as ``photos/<uuid hex>.jpg``.

    Raises:
        ValueError: ``area`` / ``extension`` outside :data:`KEY_PATTERN`.
    """
    key = f"{area}/{uuid.uuid4().hex}.{extension}"
    check_key(key)
    return key


def check_key(key: str) -> str:
    """Return ``key`` if it is a key :func:`new_key` could have made; raise ``ValueError`` otherwise."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class FileStorage(Protocol):
    """Bytes stored by key; every method may raise ``ValueError`` for a malformed key."""

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous bytes atomically."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``. Raises :class:`StoredFileMissing`."""

    async def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is already gone."""


class LocalFileStorage:
    """Files under ``root`` (``settings.files_dir``), one file per key, written atomically."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (it may not exist)."""
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError as exc:
            raise StoredFileMissing(f"no file is stored under {key}") from exc

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        # A reader never sees half a file: write a sibling, fsync, then rename over.
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
