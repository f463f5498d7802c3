"""Checks on what a test taker submits for their certificate: name and photo.

Pure functions; they raise :class:`DomainError` with ``INVALID_NAME`` or
``INVALID_PHOTO`` and the input field at fault.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
from dataclasses import dataclass
from typing import NoReturn

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from resolvers.errors import DomainError, ErrorCode
from resolvers.text import is_needed_joiner
from resolvers.wording import data_size, megapixels, number

NAME_FIELD = ("input", "holderName")
PHOTO_FIELD = ("input", "photo")
MAX_NAME_LENGTH = 100
MARKUP_CHARACTERS = frozenset('<>&"`{}\\')
REFUSED_CATEGORIES = {
    "Cc": "a line break, tab or other control character",
    "Cf": "an invisible formatting character",
    "Cn": "an unassigned code point",
    "Co": "a private-use character",
    "Cs": "a lone surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
VS16 = "\ufe0f"
# Characters that print as nothing or as a placeholder although their category
# is a letter, mark or symbol (Unicode Default_Ignorable_Code_Point and fillers):
# a name made of them would print blank.
INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u2800\u3164\uffa0\ufffc\ufffd"
) | frozenset(chr(c) for c in range(0xFE00, 0xFE0F))
PHOTO_FORMATS = ("JPEG", "PNG")
JPEG_QUALITY = 90
# The photo prints about 46 mm wide: 1,200 px on the long side is well over 300 dpi.
MAX_STORED_SIDE = 1200
# A portrait or passport photo is about 3:4; a side more than 4 times the other
# is not a photo of a person, and once the long side is scaled down to 1,200 px
# the short one would fall under the 300 px minimum.
MAX_ASPECT_RATIO = 4


@dataclass(frozen=True, slots=True)
class SanitisedPhoto:
    """A photo safe to store and print: baseline JPEG, no metadata, upright, RGB; size in pixels."""

    jpeg: bytes
    width: int
    height: int


def normalise_holder_name(raw: str) -> str:
    """Return the name as it will be printed: NFC, trimmed, single spaces, 1–100 code points.

    Any script and emoji are allowed, as are apostrophes, hyphens and periods.
    Refused: control characters (CR, LF, tab...), line/paragraph separators,
    unassigned, private-use and surrogate code points, the markup characters
    ``< > & " ` { } \\``, a name without any letter, and invisible formatting
    characters (category Cf: bidi overrides/embeddings/isolates, zero-width
    space, word joiner, BOM...). The certificate isolates the name's direction
    itself, so bidi controls are never needed. The one exception is a joiner
    where it changes what is drawn: U+200D ZERO WIDTH JOINER between two
    symbols (emoji ZWJ sequences such as 👩‍🎓), and U+200C/U+200D where
    RFC 5892's CONTEXTJ rules allow them: after a virama (Sinhala ශ්‍රී,
    Devanagari क्‍ष, a Malayalam chillu such as ന്‍, even at the end of a
    word) or a ZWNJ between joining letters (Persian می‌خواهم). Anywhere else
    a joiner would only make two identical-looking names differ, so it is refused. "Unassigned" follows
    Python's ``unicodedata`` (Unicode 14.0 on Python 3.11): emoji added
    later are refused until Python is upgraded.

    Raises:
        DomainError: ``INVALID_NAME`` on ``("input", "holderName")``, saying what is wrong.
    """
    name = unicodedata.normalize("NFC", raw)
    for index, char in enumerate(name):
        _check_name_character(name, index, char)
    # Only Zs spaces are left after the checks above; str.split() splits on all of them.
    name = " ".join(name.split())
    if not name:
        _refuse_name("Enter the name to print on the certificate.")
    if len(name) > MAX_NAME_LENGTH:
        _refuse_name(f"The name is {number(len(name))} characters long; at most {MAX_NAME_LENGTH} are allowed.")
    if not any(unicodedata.category(c).startswith("L") for c in name):
        _refuse_name("The name must contain at least one letter.")
    return name


def sanitise_photo(
    data: bytes,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    max_pixels: int = 40_000_000,
    min_side: int = 300,
) -> SanitisedPhoto:
    """Check an uploaded photo and re-encode it as a clean JPEG.

    The format is sniffed from the bytes (JPEG or PNG only; a filename or a
    declared content type is never trusted). Pixel count and size are checked
    from the header before any pixel is decoded. The EXIF orientation is
    applied, 16-bit greyscale is scaled to 8 bits, an embedded colour profile
    is converted to sRGB, transparency is flattened on white, the photo is
    scaled down to at most 1,200 px on its long side, and the result is
    re-encoded (quality 90) with no EXIF, ICC profile, comment or other metadata.

    Args:
        data: the uploaded bytes; at most ``max_bytes``.
        max_pixels: largest width x height accepted.
        min_side: smallest width and height accepted, in pixels.

    Raises:
        DomainError: ``INVALID_PHOTO`` on ``("input", "photo")``: empty, too
            large, not a JPEG/PNG, too many or too few pixels, one side more
            than 4 times the other, truncated or corrupt.
    """
    if not data:
        _refuse_photo("The photo is empty.")
    if len(data) > max_bytes:
        refuse_photo_size(len(data), max_bytes)
    try:
        # Image.open reads the header only; pixels are decoded by load(), after
        # our own limits. Pillow's global guard (MAX_IMAGE_PIXELS) may still
        # raise DecompressionBombError, or a warning that a "-W error" filter
        # turns into an exception: both are refusals. The warning filters are
        # left alone: they are process-wide and this runs in worker threads.
        with Image.open(io.BytesIO(data), formats=PHOTO_FORMATS) as image:
            _check_header(image, max_pixels=max_pixels, min_side=min_side)
            image.load()
            clean = _to_srgb(_to_eight_bit(ImageOps.exif_transpose(image)))
            clean.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.LANCZOS)
            # Pillow writes info["comment"] (JPEG COM) and other text back when saving: drop it all.
            clean.info.clear()
    except UnidentifiedImageError:
        _refuse_photo("The photo must be a JPEG or PNG image.")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        # Pillow refused the header's size before our check could read it; its message carries the count.
        found = re.search(r"\((\d+) pixels\)", str(bomb))
        size = f" ({megapixels(int(found[1]))})" if found else ""
        _refuse_photo(f"The photo has too many pixels{size}; at most {megapixels(max_pixels)} are allowed.")
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        _refuse_photo("The photo is truncated or corrupt.")
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, comment=b"", exif=b"")
    return SanitisedPhoto(jpeg=out.getvalue(), width=clean.width, height=clean.height)


def _check_name_character(name: str, index: int, char: str) -> None:
    if char in MARKUP_CHARACTERS:
        _refuse_name(f"The name may not contain the character {char}.")
    category = unicodedata.category(char)
    if char in INVISIBLE or (char == VS16 and (index == 0 or unicodedata.category(name[index - 1]) != "So")):
        _refuse_name(f"The name contains an invisible character (U+{ord(char):04X}).")
    if index == 0 and category.startswith("M"):
        _refuse_name("The name may not start with a combining mark.")
    if category in REFUSED_CATEGORIES and not is_needed_joiner(name, index):
        described = unicodedata.name(char, "")
        _refuse_name(
            f"The name contains {REFUSED_CATEGORIES[category]} "
            f"(U+{ord(char):04X}{' ' + described if described else ''})."
        )


def _check_header(image: Image.Image, *, max_pixels: int, min_side: int) -> None:
    if image.format not in PHOTO_FORMATS:
        _refuse_photo("The photo must be a JPEG or PNG image.")
    width, height = image.size
    if width * height > max_pixels:
        _refuse_photo(
            f"The photo is {number(width)}×{number(height)} pixels ({megapixels(width * height)}); "
            f"at most {megapixels(max_pixels)} are allowed."
        )
    if min(width, height) < min_side:
        _refuse_photo(
            f"The photo is {number(width)}×{number(height)} pixels; each side must be at least {number(min_side)} pixels."
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        _refuse_photo(
            f"The photo is {number(width)}×{number(height)} pixels; "
            f"one side may be at most {MAX_ASPECT_RATIO} times the other."
        )


def _to_eight_bit(image: Image.Image) -> Image.Image:
    """16/32-bit greyscale (I;16*, I) scaled to 8 bits; converting directly would clip to white."""
    if image.mode.startswith("I;16") or image.mode == "I":
        wide = image.convert("I")
        top = 65535 if image.mode.startswith("I;16") or (wide.getextrema()[1] or 0) <= 65535 else 2**31 - 1
        return wide.point(lambda value: value * (255 / top)).convert("L")
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        mode = "RGB" if image.mode == "CMYK" else image.mode
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            image = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: keep the pixels as they are
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _refuse_name(message: str) -> NoReturn:
    raise DomainError(ErrorCode.INVALID_NAME, message, field=NAME_FIELD)


def refuse_photo_size(size: int, max_bytes: int) -> NoReturn:
    """Refuse a photo of ``size`` bytes (or more) over ``max_bytes``: ``INVALID_PHOTO`` with both in MB.

    Raises:
        DomainError: always.
    """
    _refuse_photo(f"The photo is {data_size(size)}; at most {data_size(max_bytes)} is allowed.")


def _refuse_photo(message: str) -> NoReturn:
    raise DomainError(ErrorCode.INVALID_PHOTO, message, field=PHOTO_FIELD)
