"""The photo every claimed demo certificate carries, stored as a claim stores it.

``portrait.jpg`` is a public-domain portrait (licence note: demo/README.md).
A claim's upload is sanitised (:func:`resolvers.holder.sanitise_photo`:
metadata-free JPEG, quality 90) and stored under its own key through the
storage adapter, as :mod:`resolvers.claims` does; the demo does that once per
size and stores the same clean bytes under each claim's key.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from adapters.storage import FileStorage
from resolvers.holder import SanitisedPhoto, sanitise_photo

PORTRAIT = Path(__file__).with_name("portrait.jpg")
PORTRAIT_SIDES = (384, 352, 320)
"""The sizes (square, in pixels) test takers upload the portrait at; each is above the 300 px minimum."""
CONCURRENT_WRITES = 32


def demo_photos() -> list[SanitisedPhoto]:
    """The portrait at each of :data:`PORTRAIT_SIDES`, sanitised as an uploaded claim photo is (blocking: run in a thread).

    Raises:
        OSError: ``portrait.jpg`` cannot be read.
    """
    original = PORTRAIT.read_bytes()
    return [sanitise_photo(_upload(original, side)) for side in PORTRAIT_SIDES]


def _upload(original: bytes, side: int) -> bytes:
    """``original`` scaled to ``side`` × ``side`` and saved as a camera would (JPEG, quality 92)."""
    with Image.open(io.BytesIO(original)) as image:
        if image.size == (side, side):
            return original
        buffer = io.BytesIO()
        image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=92)
        return buffer.getvalue()


async def store_photos(storage: FileStorage, photos: Sequence[tuple[str, bytes]]) -> None:
    """Store each ``(key, bytes)``, up to 32 at once.

    Raises:
        ExceptionGroup: of the writes that failed (``OSError``, or ``ValueError`` for a malformed
            key); the other writes of that round have ended, and :func:`delete_photos` removes them.
    """
    for start in range(0, len(photos), CONCURRENT_WRITES):
        async with asyncio.TaskGroup() as group:
            for key, data in photos[start : start + CONCURRENT_WRITES]:
                group.create_task(storage.put(key, data))


async def delete_photos(storage: FileStorage, keys: Sequence[str]) -> None:
    """Remove ``keys`` (missing ones are no error), up to 32 at once."""
    for start in range(0, len(keys), CONCURRENT_WRITES):
        await asyncio.gather(
            *(storage.delete(key) for key in keys[start : start + CONCURRENT_WRITES]),
            return_exceptions=True,
        )
