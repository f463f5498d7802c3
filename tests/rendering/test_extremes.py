"""The certificate fits whatever the API accepts, as Chromium lays it out.

Each case of ``extreme_certificates.CASES`` (the longest organisation, test
and holder names the API accepts, in five scripts, with and without a level
and an expiry) is printed through a real ``renderer.page.Tab``; the page's
own layout then says whether any text overflows its box, any part leaves the
page or overlaps another, and ``pdftotext`` whether every text is still in
the PDF in full. The grid of these cases is ``docs/certificate-extremes.png``
(``extreme_certificates.py`` redraws it).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import AsyncIterator
from itertools import combinations
from pathlib import Path

import pytest
from certificate_samples import IN_CI, certificate, pdf_text
from extreme_certificates import CASES, MAX_LABEL_LENGTH, layout, montage, printing_tab
from PIL import Image
from pypdf import PdfReader

from renderer import ChromiumNotFound
from renderer.page import Tab
from renderer.template import FIT_RULES, CertificatePage, format_date, print_photo
from resolvers.holder import MAX_NAME_LENGTH

pytestmark = pytest.mark.chromium

GRID = Path(__file__).resolve().parents[2] / "docs" / "certificate-extremes.png"
PX_PER_PT = 96 / 72
# pdftotext drops joiners, may split a line or a conjunct with a space, and
# drops the hyphen a line ends with (a URL broken after one).
JOINERS_SPACES_AND_HYPHENS = dict.fromkeys(map(ord, "\u200c\u200d \u00a0\n-"))
# ... and writes the two letters of the lam-alef ligature in their visual order.
LAM_ALEF, ALEF_LAM = "\u0644\u0627", "\u0627\u0644"
SCRIPTS = {"Latin": "LATIN", "Arabic": "ARABIC", "CJK": "CJK", "Devanagari": "DEVANAGARI"}


@pytest.fixture
async def tab() -> AsyncIterator[Tab]:
    """A printing tab in a Chromium of its own (skipped without Chromium, failed under ``CI=true``)."""
    try:
        async with printing_tab() as opened:
            yield opened
    except ChromiumNotFound as exc:
        if IN_CI:
            pytest.fail(f"Chromium is required under CI=true: {exc}")
        pytest.skip(str(exc))


def test_the_cases_are_the_longest_texts_the_api_accepts_in_every_script():
    for case in CASES:
        assert (len(case.data.organisation_name), len(case.data.test_name)) == (MAX_LABEL_LENGTH,) * 2
        assert len(case.data.holder_name) == MAX_NAME_LENGTH
    names = " ".join(case.data.holder_name + case.data.organisation_name for case in CASES)
    for script in SCRIPTS.values():
        assert any(script in unicodedata.name(ch, "") for ch in names), script
    assert any(unicodedata.category(ch) == "So" and ord(ch) > 0x1F000 for ch in names)  # emoji
    assert {case.data.level is None for case in CASES} == {True, False}
    assert {case.data.expires_at is None for case in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.caption)
async def test_every_text_fits_its_box_and_nothing_leaves_the_page_or_overlaps(tab, case):
    # when
    rendered = await tab.print(CertificatePage(case.data))
    view = await layout(tab)

    # then every text box holds its text, at no less than its rule's minimum size
    boxes = {box["name"]: box for box in view["boxes"]}
    expected = set(FIT_RULES) - ({"expires"} if case.data.expires_at is None else set())
    assert set(boxes) == expected
    for name, box in boxes.items():
        if box["clamped"]:
            shown = box["clampedLines"] * box["lineHeightPx"]
            assert 1 <= box["clampedLines"] <= FIT_RULES[name].max_lines and shown <= box["clientHeight"] + 1, name
        else:
            assert box["scrollHeight"] <= box["clientHeight"] + 1, f"{name} overflows its height"
        assert box["scrollWidth"] <= box["clientWidth"] + 1, f"{name} overflows its width"
        assert box["fontSizePx"] >= FIT_RULES[name].sizes_pt[-1] * PX_PER_PT - 0.01, f"{name} is too small"
        assert box["clamped"] == rendered.fitted[name]["clamped"]
    # and every box and part lies within the frame, none over another
    rects = [(name, box["rect"]) for name, box in boxes.items()]
    rects += [(selector, rect) for selector, found in view["parts"].items() for rect in found]
    for name, rect in rects:
        assert _within(rect, view["inner"]), f"{name} leaves the frame: {rect} outside {view['inner']}"
    for (one, first), (other, second) in combinations(rects, 2):
        assert _overlap(first, second) < 1, f"{one} overlaps {other}"
    for selector, container in view["containers"].items():
        assert container["scrollWidth"] <= container["clientWidth"] + 1, f"{selector} is wider than the page"
        assert container["scrollHeight"] <= container["clientHeight"] + 1, f"{selector} overflows"
    assert len(PdfReader(io.BytesIO(rendered.pdf)).pages) == 1


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.caption)
async def test_every_text_is_in_the_pdf_in_full_however_it_was_fitted(tab, case):
    rendered = await tab.print(CertificatePage(case.data))
    view = await layout(tab)

    # the text layer (drawing order keeps an emoji, a Type 3 glyph, on its line)
    data = case.data
    raw = any(unicodedata.category(ch) == "So" for ch in data.organisation_name + data.test_name)
    text = _comparable(pdf_text(rendered.pdf, raw=raw))
    texts = [data.organisation_name, data.test_name, data.holder_name, data.verification_code, data.verification_url]
    texts += [format_date(moment) for moment in (data.taken_at, data.issued_at, data.expires_at) if moment]
    for expected in [*texts, *([data.level] if data.level else [])]:
        assert _comparable(expected) in text, expected
    # and the metadata, appended to the printed PDF as an incremental update
    assert rendered.pdf.count(b"%%EOF") == 2
    metadata = PdfReader(io.BytesIO(rendered.pdf), strict=True).metadata
    assert metadata["/Author"] == data.organisation_name
    assert data.holder_name in metadata["/Title"] and data.verification_code in metadata["/Title"]
    assert data.test_name in metadata["/Subject"] and (data.level or "") in metadata["/Subject"]
    assert data.verification_url in metadata["/Keywords"]
    # a clamped box's full text is printed, once, in the text layer's copies
    clamped = [box for box in view["boxes"] if box["clamped"]]
    assert len(view["copies"]) == len(clamped)


async def test_the_widest_glyphs_end_in_an_ellipsis_at_their_minimum_size(tab):
    (widest,) = [case for case in CASES if case.caption.startswith("Widest")]

    rendered = await tab.print(CertificatePage(widest.data))

    clamped = {name: fit["size"] for name, fit in rendered.fitted.items() if fit["clamped"]}
    assert clamped == {name: FIT_RULES[name].sizes_pt[-1] for name in ("organisation", "test", "result")}
    assert "\u2026" in pdf_text(rendered.pdf, raw=True)


async def test_an_ordinary_certificate_fits_at_its_largest_sizes_with_nothing_clamped(tab):
    rendered = await tab.print(CertificatePage(certificate()))

    assert {name: fit["size"] for name, fit in rendered.fitted.items()} == {
        name: rule.sizes_pt[0] for name, rule in FIT_RULES.items() if name != "expires"
    }


@pytest.mark.parametrize(
    ("mode", "size"), [("RGBA", (320, 400)), ("LA", (320, 400)), ("P", (320, 400)), ("RGBA", (1200, 1200))]
)
async def test_a_photo_with_transparency_is_printed_on_white(tab, mode, size):
    # given a PNG, smaller or larger than the frame, whose pixels are all transparent
    photo = _transparent_png(mode, size)

    # when
    printed = print_photo(photo)
    rendered = await tab.print(CertificatePage(certificate(photo=photo, photo_mime="image/png")))

    # then it is flattened on white, and so embedded, without a soft mask
    assert Image.open(io.BytesIO(printed)).convert("RGB").getpixel((100, 100)) >= (250, 250, 250)
    resources = PdfReader(io.BytesIO(rendered.pdf)).pages[0]["/Resources"]
    images = [xobject.get_object() for xobject in resources["/XObject"].values()]
    assert images and all("/SMask" not in image for image in images)


def test_the_grid_in_docs_shows_every_case():
    cell = Image.new("RGB", (1123, 794), "white")
    buffer = io.BytesIO()
    cell.save(buffer, format="PNG")
    expected = Image.open(io.BytesIO(montage([(case.caption, buffer.getvalue()) for case in CASES]))).size

    assert Image.open(GRID).size == expected


def _transparent_png(mode: str, size: tuple[int, int]) -> bytes:
    if mode == "P":
        image = Image.new("P", size, 0)
        image.putpalette([0, 0, 0] * 256)
        image.info["transparency"] = 0
    else:
        image = Image.new(mode, size, (0, 0) if mode == "LA" else (255, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _comparable(text: str) -> str:
    return unicodedata.normalize("NFC", text).translate(JOINERS_SPACES_AND_HYPHENS).replace(LAM_ALEF, ALEF_LAM)


def _within(rect: list[float], outer: list[float], tolerance: float = 0.5) -> bool:
    left, top, right, bottom = rect
    return (
        left >= outer[0] - tolerance
        and top >= outer[1] - tolerance
        and right <= outer[2] + tolerance
        and bottom <= outer[3] + tolerance
    )


def _overlap(first: list[float], second: list[float]) -> float:
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    return max(width, 0) * max(height, 0)
