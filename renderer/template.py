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
# EXIF orientations (tag 0x0112) that turn the picture a quarter: the browser shows it as tall as it is wide.
EXIF_ORIENTATION = 0x0112
QUARTER_TURNS = frozenset({5, 6, 7, 8})
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
NAME_SIZES_PT = (34, 27, 21, 16, 13, 10, 8)


@dataclass(frozen=True, slots=True)
class FitRule:
    """How one text box of the certificate fits any text: wrap, then shrink, then clamp.

    The text wraps anywhere within the box's width, onto at most
    ``max_lines`` lines and no higher than the box (its CSS ``--box``); when
    it does not fit at ``sizes_pt[0]`` (points), the next size is tried, down
    to the last, the minimum. What still does not fit there is cut after
    the last whole line with an ellipsis, and the full text is kept in the
    PDF's text layer (renderer/page.py, ``FIT_FUNCTION``) and its metadata
    (``pdf_metadata``). Fitting is measured in the browser, never counted here.
    """

    max_lines: int
    sizes_pt: tuple[float, ...]


# Each fitting box of certificate.html.j2 (its data-fit name) and its rule.
# The organisation's 14 mm box holds 2 lines at 12 pt, 3 from 10 pt and 4 at
# 8 pt; the name's 34 mm box 2 lines at 34 pt, 3 at 27 pt ... 10 at 8 pt; the
# test name's 21 mm box 3 lines at 15 pt and 4 from 12 pt down.
FIT_RULES: dict[str, FitRule] = {
    "code_top": FitRule(1, (9, 8, 7)),  # first: the organisation takes the width it leaves
    "organisation": FitRule(4, (12, 11, 10, 9, 8)),
    "name": FitRule(10, NAME_SIZES_PT),
    "test": FitRule(4, (15, 14, 13, 12, 11, 10)),
    "result": FitRule(2, (12, 11, 10)),
    "taken": FitRule(1, (11, 10, 9, 8)),
    "issued": FitRule(1, (11, 10, 9, 8)),
    "expires": FitRule(1, (11, 10, 9, 8)),
    "code": FitRule(1, (11, 10, 9, 8)),
    "url": FitRule(2, (7.5, 7, 6.5, 6)),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateData:
    """What a certificate shows.

    Keyword-only. ``holder_name`` is expected to have passed
    ``resolvers.holder.normalise_holder_name``; the template escapes it
    regardless. ``photo`` is the sanitised photo, bytes of type ``photo_mime``
    (``image/jpeg`` or ``image/png``; transparency is printed on white).
    ``score`` is printed as given, on the test's own scale, out of
    ``score_max`` when the scale has one ("77 / 100"). ``expires_at`` is
    printed as "Valid until" when given, not at all when None. Datetimes are
    shown as dates in UTC (naive ones are taken as UTC). Texts of any length
    fit their boxes (``FIT_RULES``).

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
    expires_at: datetime | None = None

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
    """The certificate's HTML and how its text boxes are fitted.

    JavaScript is off in the printing browser, so the page cannot fit its own
    text: ``fit_plan`` gives the printer each box's line limit and the sizes
    to try, and it keeps the first at which the text fits (``FIT_RULES``).
    The holder name starts at the guess (``name_classes[0]``,
    ``name_size_class``) and may go down to every smaller size (glyphs such
    as U+FDFD are many times wider than the guess assumes). The photo and the
    QR code are prepared once, here (~5 ms, ~30 ms with a large photo;
    Pillow releases the GIL, so this may run in a thread).
    """

    def __init__(self, data: CertificateData) -> None:
        self.data = data
        guess = name_size_class(data.holder_name)
        self.name_classes = NAME_CLASSES[NAME_CLASSES.index(guess) :]
        self._values = {
            "data": data,
            **_photo_values(data),
            "qr_url": _data_url("image/svg+xml", qr_svg(data.verification_url)),
            "score_text": format_score(data.score, data.score_max),
            "taken_on": format_date(data.taken_at),
            "issued_on": format_date(data.issued_at),
            "expires_on": format_date(data.expires_at) if data.expires_at else None,
            "rules": FIT_RULES,
        }

    @property
    def fit_plan(self) -> dict[str, dict[str, object]]:
        """``{box: {"lines": max lines, "sizes": [pt, ... minimum]}}`` for every fitting box."""
        plan = {box: {"lines": rule.max_lines, "sizes": list(rule.sizes_pt)} for box, rule in FIT_RULES.items()}
        plan["name"]["sizes"] = list(NAME_SIZES_PT[NAME_CLASSES.index(self.name_classes[0]) :])
        return plan

    def name_class_at(self, size_pt: float) -> str:
        """The holder name's class (``NAME_CLASSES``) for a size of ``fit_plan["name"]``.

        Raises:
            ValueError: ``size_pt`` is not one of the name's sizes.
        """
        return NAME_CLASSES[NAME_SIZES_PT.index(size_pt)]

    def html(self, name_class: str | None = None) -> str:
        """The whole document with the name at ``name_class`` (default: the guess), before fitting.

        Raises:
            ValueError: ``name_class`` is not one of ``NAME_CLASSES``.
        """
        if name_class is not None and name_class not in NAME_CLASSES:
            raise ValueError(f"unknown name class {name_class!r}")
        name_class = name_class or self.name_classes[0]
        sizes = {box: rule.sizes_pt for box, rule in FIT_RULES.items()}
        sizes["name"] = (NAME_SIZES_PT[NAME_CLASSES.index(name_class)],)
        template = _environment().get_template("certificate.html.j2")
        return template.render(
            name_class=name_class, sizes=sizes, title=pdf_metadata(self.data)["/Title"], **self._values
        )

    @property
    def metadata(self) -> dict[str, str]:
        """The PDF's document information; see ``pdf_metadata``."""
        return pdf_metadata(self.data)


def pdf_metadata(data: CertificateData) -> dict[str, str]:
    """The PDF's document information, every text in full however it is fitted on the page.

    ``/Title``: "Certificate <code>: <holder>"; ``/Author``: the organisation;
    ``/Subject``: the holder, test, score, level and dates as one sentence;
    ``/Keywords``: the verification code and URL.
    """
    score = format_score(data.score, data.score_max)
    level = f", level {data.level}" if data.level else ""
    expiry = f", valid until {format_date(data.expires_at)}" if data.expires_at else ""
    return {
        "/Title": f"Certificate {data.verification_code}: {data.holder_name}",
        "/Author": data.organisation_name,
        "/Subject": (
            f"{data.holder_name} has passed {data.test_name} with a score of {score}{level}; "
            f"taken on {format_date(data.taken_at)}, issued on {format_date(data.issued_at)}{expiry}; "
            f"issued by {data.organisation_name}"
        ),
        "/Keywords": f"{data.verification_code}, {data.verification_url}",
    }


def print_photo(photo: bytes) -> bytes:
    """The photo as printed: at most 300 dpi for its frame, opaque.

    ``photo`` is JPEG or PNG bytes (a sanitised claim photo). A photo larger
    than the frame's ``PHOTO_SIZE`` (515 x 633 px) is cropped to the frame's
    shape as the template's CSS would (centred, a quarter from the top),
    scaled down to it and re-encoded as JPEG; a smaller one is returned as it
    is, unless it has transparency (an alpha channel, or a transparent
    palette entry or colour): then it is cropped the same way at its own size,
    flattened on white and re-encoded as JPEG, as a claim stores it. A large
    JPEG is decoded at a reduced scale that still gives at least
    250 dpi (a 1,200 px square photo prints at 488 x 600 px, 284 dpi).
    Chromium embeds what it is given in the PDF, and printing a 1,200 px
    photo costs it about three times as long as this size
    (BENCHMARKS.md, "rendering").

    Raises:
        PIL.UnidentifiedImageError: the bytes are not an image.
    """
    box_width, box_height = PHOTO_SIZE
    with Image.open(io.BytesIO(photo)) as image:
        transparent = image.has_transparency_data
        if not transparent and min(image.width, image.height * box_width / box_height) <= box_width:
            return photo  # no larger than the frame: Chromium crops it as it is
        image.draft("RGB", DRAFT_SIZE)
        crop_width = min(image.width, image.height * box_width / box_height)
        size = PHOTO_SIZE if crop_width > box_width else (round(crop_width), round(crop_width * box_height / box_width))
        printed = ImageOps.fit(_on_white(image), size, method=Image.Resampling.BICUBIC, centering=PHOTO_CENTERING)
    out = io.BytesIO()
    printed.save(out, format="JPEG", quality=PHOTO_JPEG_QUALITY)
    return out.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    """``image`` as RGB, any transparency flattened on white."""
    if not image.has_transparency_data:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


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


def format_score(score: int, score_max: int | None) -> str:
    """``999,999 / 1,000,000``, or ``310`` without a maximum: the score as every message writes it
    (the renderer imports nothing of ours; a test keeps this equal to ``resolvers.wording.score_text``)."""
    return f"{score:,}" if score_max is None else f"{score:,} / {score_max:,}"


def format_date(moment: datetime) -> str:
    """``29 November 2025``: English month names whatever the process locale, in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def photo_ratio(photo: bytes) -> float:
    """The photo's width / height as the browser shows it, its EXIF orientation applied.

    ``photo`` is JPEG or PNG bytes; only the header is read. The template
    crops the photo for print with it (``--ratio`` of certificate.html.j2).

    Raises:
        PIL.UnidentifiedImageError: the bytes are not an image.
    """
    with Image.open(io.BytesIO(photo)) as image:
        width, height = image.size
        exif = Image.Exif()
        if image.info.get("exif"):
            exif.load(image.info["exif"])
    if exif.get(EXIF_ORIENTATION, 1) in QUARTER_TURNS:
        width, height = height, width
    return width / height


def _photo_values(data: CertificateData) -> dict[str, str | None]:
    """The printed photo as a ``data:`` URL and, for a JPEG, its shown width / height (the template's ``--ratio``)."""
    printed = print_photo(data.photo)
    mime = data.photo_mime if printed is data.photo else "image/jpeg"
    ratio = f"{photo_ratio(printed):.6f}" if mime == "image/jpeg" else None
    return {"photo_url": _data_url(mime, printed), "photo_ratio": ratio}


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
