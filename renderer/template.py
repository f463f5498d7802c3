"""The certificate as HTML: data in, a self-contained A4 landscape page out.

Everything the page needs is inline (photo and QR code as ``data:`` URLs,
system Noto fonts by family name), because the browser that prints it has
JavaScript disabled and aborts every network request (docs/RULES.md, "Rendering").
"""

from __future__ import annotations

import base64
import io
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import segno
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image, ImageOps

PHOTO_MIMES = frozenset({"image/jpeg", "image/png"})
MM_PER_INCH = 25.4
# The picture inside the photo frame of certificate.html.j2 (46 x 56 mm less a
# 1.2 mm mat), printed at 300 dpi: 515 x 633 px.
PHOTO_BOX_MM = (43.6, 53.6)
PRINT_DPI = 300
PHOTO_SIZE = tuple(round(mm / MM_PER_INCH * PRINT_DPI) for mm in PHOTO_BOX_MM)
# A large JPEG is decoded at 1/2, 1/4 or 1/8 scale when that still gives at
# least 250 dpi (429 x 528 px): decoding a 1,200 px photo at half size is
# four times cheaper.
DRAFT_DPI = 250
DRAFT_SIZE = tuple(round(mm / MM_PER_INCH * DRAFT_DPI) for mm in PHOTO_BOX_MM)
# Same crop as the template's CSS (object-fit: cover; object-position: 50% 25%).
PHOTO_CENTERING = (0.5, 0.25)
PHOTO_JPEG_QUALITY = 90

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# The holder name's sizes, largest first (34, 27, 21, 16, 13, 10 and 8 pt in
# certificate.html.j2).
NAME_CLASSES = ("name-xl", "name-l", "name-m", "name-s", "name-xs", "name-2xs", "name-3xs")
# First guess: (largest display width, CSS class); a wide (CJK) character
# counts as 2. 100 CJK characters take three lines of the name box at name-xs.
NAME_SIZES = ((24, "name-xl"), (40, "name-l"), (64, "name-m"), (110, "name-s"))
# The name's box and the name itself; the printing browser compares their
# heights to see whether the name fits (CertificateRenderer.render).
NAME_BOX_SELECTOR = ".name"
NAME_TEXT_SELECTOR = ".name > bdi"


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateData:
    """What a certificate shows.

    Keyword-only. ``holder_name`` is expected to have passed
    ``resolvers.holder.normalise_holder_name``; the template escapes it
    regardless. ``photo`` is the sanitised photo, bytes of type ``photo_mime``
    (``image/jpeg`` or ``image/png``). ``score`` is printed as given, on the
    test's own scale, out of ``score_max`` when the scale has one ("77 / 100"). Datetimes are shown as dates in UTC (naive ones are
    taken as UTC).

    Raises:
        ValueError: ``photo_mime`` is not JPEG or PNG, or ``photo`` is empty.
    """

    holder_name: str
    photo: bytes
    photo_mime: str = "image/jpeg"
    test_name: str
    score: int
    level: str | None
    taken_at: datetime
    issued_at: datetime
    organisation_name: str
    verification_code: str
    verification_url: str
    score_max: int | None = None

    def __post_init__(self) -> None:
        if self.photo_mime not in PHOTO_MIMES:
            raise ValueError(f"photo_mime must be one of {sorted(PHOTO_MIMES)}")
        if not self.photo:
            raise ValueError("photo is empty")


def render_html(data: CertificateData) -> str:
    """Return the certificate as one HTML document (UTF-8 text, ~100 kB with a photo).

    The holder name has the size ``name_size_class`` guesses; see
    ``CertificatePage`` for the other sizes.
    """
    return CertificatePage(data).html()


class CertificatePage:
    """The certificate's HTML, at the guessed size of the holder name or at any smaller one.

    JavaScript is off in the printing browser, so the name cannot size itself:
    ``name_classes`` lists the guess (``name_size_class``) and every smaller
    size, and the printer takes the first at which the name fits its box
    (glyphs such as U+FDFD are many times wider than the guess assumes).
    The photo and the QR code are prepared once, here (~5 ms, ~30 ms with a
    large photo; Pillow releases the GIL, so this may run in a thread).
    """

    def __init__(self, data: CertificateData) -> None:
        self.data = data
        guess = name_size_class(data.holder_name)
        self.name_classes = NAME_CLASSES[NAME_CLASSES.index(guess) :]
        self._values = {
            "data": data,
            "photo_url": _print_photo_url(data),
            "qr_url": _data_url("image/svg+xml", qr_svg(data.verification_url)),
            "taken_on": format_date(data.taken_at),
            "issued_on": format_date(data.issued_at),
        }

    def html(self, name_class: str | None = None) -> str:
        """The whole document with the name at ``name_class`` (default: the guess).

        Raises:
            ValueError: ``name_class`` is not one of ``NAME_CLASSES``.
        """
        if name_class is not None and name_class not in NAME_CLASSES:
            raise ValueError(f"unknown name class {name_class!r}")
        template = _environment().get_template("certificate.html.j2")
        return template.render(name_class=name_class or self.name_classes[0], **self._values)


def print_photo(photo: bytes) -> bytes:
    """The photo as printed: at most 300 dpi for its frame.

    ``photo`` is JPEG or PNG bytes (a sanitised claim photo). A photo larger
    than the frame's ``PHOTO_SIZE`` (515 x 633 px) is cropped to the frame's
    shape as the template's CSS would (centred, a quarter from the top),
    scaled down to it and re-encoded as JPEG; a smaller one is returned as it
    is. A large JPEG is decoded at a reduced scale that still gives at least
    250 dpi (a 1,200 px square photo prints at 488 x 600 px, 284 dpi).
    Chromium embeds what it is given in the PDF, and printing a 1,200 px
    photo costs it about three times as long as this size
    (bench/RESULTS-render.md).

    Raises:
        PIL.UnidentifiedImageError: the bytes are not an image.
    """
    box_width, box_height = PHOTO_SIZE
    with Image.open(io.BytesIO(photo)) as image:
        if min(image.width, image.height * box_width / box_height) <= box_width:
            return photo  # no larger than the frame: Chromium crops it as it is
        image.draft("RGB", DRAFT_SIZE)
        crop_width = min(image.width, image.height * box_width / box_height)
        size = PHOTO_SIZE if crop_width > box_width else (round(crop_width), round(crop_width * box_height / box_width))
        printed = ImageOps.fit(image.convert("RGB"), size, method=Image.Resampling.BICUBIC, centering=PHOTO_CENTERING)
    out = io.BytesIO()
    printed.save(out, format="JPEG", quality=PHOTO_JPEG_QUALITY)
    return out.getvalue()


def name_size_class(name: str) -> str:
    """CSS class that sizes the holder name so it fits the name box.

    JavaScript is off in the printing browser, so the fit is decided here from
    the display width: one per character, two for East Asian wide/fullwidth.
    """
    width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in name)
    for limit, css_class in NAME_SIZES:
        if width <= limit:
            return css_class
    return "name-xs"


def qr_svg(url: str) -> bytes:
    """A QR code for ``url`` as SVG bytes (~2 kB, one path, ~5 ms).

    Error correction level M (15 % of the code may be damaged), not raised to
    a higher level when it would fit, so the code keeps the smallest version;
    the 4-module quiet zone the QR standard asks for.
    """
    code = segno.make_qr(url, error="m", boost_error=False)
    out = io.BytesIO()
    code.save(out, kind="svg", border=4, light="#fff", omitsize=True, xmldecl=True, svgns=True)
    return out.getvalue()


def format_date(moment: datetime) -> str:
    """``29 November 2025``: English month names whatever the process locale, in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def _print_photo_url(data: CertificateData) -> str:
    printed = print_photo(data.photo)
    return _data_url(data.photo_mime if printed is data.photo else "image/jpeg", printed)


def _data_url(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("renderer", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
