"""Certificates at the limits of what the API accepts, their layout as Chromium sees it, and a grid of them.

``CASES`` are the longest organisation, test and holder names the API
accepts (200, 200 and 100 characters: ``resolvers.platform.clean_label``,
``resolvers.holder.MAX_NAME_LENGTH``) in Latin, Arabic, CJK, Devanagari and
emoji, with and without a level and an expiry, plus a case of the widest
glyphs, which cannot fit and are clamped. ``tests/rendering/test_extremes.py`` checks them; run this module to
redraw the grid people look at::

    .venv/bin/python tests/rendering/extreme_certificates.py docs/certificate-extremes.png
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from playwright.async_api import async_playwright

from renderer import CertificateData
from renderer.browser import LAUNCH_ARGS
from renderer.chromium import LaunchedChromium, find_chromium
from renderer.page import Tab
from renderer.template import CertificatePage
from resolvers.holder import MAX_NAME_LENGTH, normalise_holder_name
from resolvers.platform import clean_label

PORTRAIT = Path(__file__).resolve().parents[1] / "data" / "portrait.jpg"
# Organisation and test names: clean_label's limit, as createOrganisation and createTest use it.
MAX_LABEL_LENGTH = inspect.signature(clean_label).parameters["max_length"].default
CODE = "7K3M-Q9XD-2HVT-R8BN"  # resolvers.verification: 4 groups of 4
PUBLIC_URL = "https://certificates.northwind-language-centre.example"
LONG_LEVEL = "Upper intermediate (B2+) with distinction in speaking, listening, reading and writing — Council of Europe"
EXPIRY = datetime(2036, 3, 31, 23, 59, tzinfo=UTC)
# Everything the page shows of a box and the boxes around it, as laid out:
# [data-fit] boxes with their overflow (a clamped box still lays out, hidden,
# the lines after its last, so it is measured by the lines it shows), the
# other parts' rectangles, the containers and the frame.
LAYOUT_EXPRESSION = """(() => {
  const rect = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const boxes = Array.from(document.querySelectorAll("[data-fit]")).map((box) => ({
    name: box.dataset.fit, rect: rect(box), clamped: box.classList.contains("clamped"),
    scrollWidth: box.scrollWidth, clientWidth: box.clientWidth,
    scrollHeight: box.scrollHeight, clientHeight: box.clientHeight,
    fontSizePx: parseFloat(getComputedStyle(box).fontSize),
    lineHeightPx: parseFloat(getComputedStyle(box).lineHeight),
    clampedLines: parseInt(getComputedStyle(box.matches(".name") ? box.firstElementChild : box).webkitLineClamp) || null,
  }));
  const parts = {};
  for (const selector of [".photo", ".qr", ".title", ".subtitle", ".rule", ".label"]) {
    parts[selector] = Array.from(document.querySelectorAll(selector)).map(rect);
  }
  const containers = {};
  for (const selector of [".sheet", ".top", ".middle", ".body", ".bottom", ".full-texts"]) {
    const el = document.querySelector(selector);
    containers[selector] = { rect: rect(el), scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
                             scrollHeight: el.scrollHeight, clientHeight: el.clientHeight };
  }
  return { boxes, parts, containers, inner: rect(document.querySelector(".inner")),
           copies: Array.from(document.querySelectorAll(".full-texts p")).map((p) => p.textContent) };
})()"""


def exactly(unit: str, length: int) -> str:
    """``unit`` repeated and cut to ``length`` code points, without a space at either end."""
    text = (unit * (length // len(unit) + 2))[:length]
    while text != text.strip():
        text = (text.strip() + unit)[:length]
    return text


@dataclass(frozen=True, slots=True)
class Case:
    """One extreme certificate: a caption for the grid and the data, as the API would have stored it."""

    caption: str
    data: CertificateData


def _case(caption: str, organisation: str, test: str, holder: str, *, level: str | None, expires: bool) -> Case:
    data = CertificateData(
        holder_name=normalise_holder_name(exactly(holder, MAX_NAME_LENGTH)),
        photo=PORTRAIT.read_bytes(),
        test_name=clean_label(exactly(test, MAX_LABEL_LENGTH), ["input", "name"]),
        score=999_999,
        score_max=1_000_000,
        level=level,
        taken_at=datetime(2026, 9, 30, 9, 30, tzinfo=UTC),
        issued_at=datetime(2026, 12, 31, 16, 5, tzinfo=UTC),
        expires_at=EXPIRY if expires else None,
        organisation_name=clean_label(exactly(organisation, MAX_LABEL_LENGTH), ["input", "name"]),
        verification_code=CODE,
        verification_url=f"{PUBLIC_URL}/verify/{CODE}",
    )
    return Case(caption, data)


CASES = (
    _case(
        "Latin · long level · expiry",
        "International Association of Professional Language Examiners and Vocational Assessment Centres ",
        "Advanced Professional Certificate in Interpreting, Translation and Intercultural Communication ",
        "María Fernanda Alejandra Guadalupe de los Santos Villanueva y Rodríguez-Ortega ",
        level=LONG_LEVEL,
        expires=True,
    ),
    _case(
        "Arabic · no level · no expiry",
        "المعهد الدولي للغات والترجمة والاختبارات المهنية المعتمدة ",
        "الشهادة المهنية المتقدمة في الترجمة الفورية والتواصل بين الثقافات ",
        "محمد عبد الله بن عبد الرحمن آل سعود ",
        level=None,
        expires=False,
    ),
    _case(
        "CJK · long level · no expiry",
        "国际语言能力认证与职业资格考试中心",
        "高级专业口译与笔译及跨文化交流能力证书考试",
        "欧阳娜娜王小明",
        level="上级（B2+）口语、听力、阅读及写作均优秀，欧洲理事会语言共同参考框架",
        expires=False,
    ),
    _case(
        "Devanagari · no level · expiry",
        "अंतर्राष्ट्रीय भाषा प्रमाणन एवं व्यावसायिक परीक्षा संस्थान ",
        "उन्नत व्यावसायिक दुभाषिया एवं अनुवाद प्रमाणपत्र परीक्षा ",
        "अर्जुन लक्ष्मीनारायण श्रीवास्तव ",
        level=None,
        expires=True,
    ),
    _case(
        "Emoji · long level · expiry",
        "🎓 Global Learning 🌍 Academy 📚 ",
        "🧪 Science 🔬 and 🧮 Maths 📐 Olympiad ",
        "Ana 🎓 Lima 🌟 ",
        level="🥇 " + LONG_LEVEL,
        expires=True,
    ),
    _case(
        "Widest glyphs (U+FDFD, U+FDFA, W) · clamped",
        "\ufdfd",  # ARABIC LIGATURE BISMILLAH: one code point, a whole phrase wide
        "\ufdfd",
        "\ufdfa",  # ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM: a letter, a phrase wide
        level="W" * 120,
        expires=True,
    ),
)


@contextlib.asynccontextmanager
async def printing_tab() -> AsyncIterator[Tab]:
    """One ``renderer.page.Tab`` in a Chromium of its own, launched as the renderer launches it.

    Raises:
        ChromiumNotFound: no Chromium binary (see ``renderer.find_chromium``).
    """
    async with async_playwright() as playwright:
        executable = find_chromium(os.environ.get("CERTIFY_CHROMIUM_PATH"), bundled=playwright.chromium.executable_path)
        browser = await playwright.chromium.launch(executable_path=executable, args=list(LAUNCH_ARGS), headless=True)
        chromium = await LaunchedChromium.attach(browser)
        try:
            yield await Tab.open(chromium)
        finally:
            await chromium.dispose()


async def layout(tab: Tab) -> dict:
    """The printed page's layout (``LAYOUT_EXPRESSION``), in CSS px of the 1123 x 794 viewport."""
    assert tab.cdp is not None
    answer = await tab.cdp.send("Runtime.evaluate", {"expression": LAYOUT_EXPRESSION, "returnByValue": True})
    return answer["result"]["value"]


def montage(cells: list[tuple[str, bytes]], *, columns: int = 2, scale: float = 0.75) -> bytes:
    """The PNGs of ``cells`` (caption, PNG bytes) side by side, ``columns`` a row, each captioned; PNG bytes."""
    images = [Image.open(io.BytesIO(png)).convert("RGB") for _, png in cells]
    width, height = (round(side * scale) for side in images[0].size)
    caption_height, gap = 34, 12
    rows = -(-len(cells) // columns)
    grid = Image.new(
        "RGB", (columns * (width + gap) + gap, rows * (height + caption_height + gap) + gap), (225, 228, 233)
    )
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=20)
    for index, ((caption, _), image) in enumerate(zip(cells, images, strict=True)):
        left = gap + index % columns * (width + gap)
        top = gap + index // columns * (height + caption_height + gap)
        draw.text((left + 4, top + 6), caption, fill=(28, 37, 54), font=font)
        grid.paste(image.resize((width, height), Image.Resampling.LANCZOS), (left, top + caption_height))
    out = io.BytesIO()
    grid.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def print_cases(cases: tuple[Case, ...] = CASES) -> list[tuple[str, bytes]]:
    """Each case printed through one tab: ``[(caption, PNG bytes)]``."""
    async with printing_tab() as tab:
        return [(case.caption, (await tab.print(CertificatePage(case.data))).png) for case in cases]


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/certificate-extremes.png")
    target.write_bytes(montage(asyncio.run(print_cases())))
    print(f"wrote {target}")
