"""The PNG of a certificate drawn as one frame on demand (renderer/page.py, ``Tab.screenshot``), and a turned JPEG
printed from its own bytes with the PNG's crop (renderer/template.py, ``photo_ratio``; certificate.html.j2)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from certificate_samples import IN_CI, PORTRAIT, SAMPLE, certificate, new_renderer, started
from PIL import Image, ImageChops, ImageStat

from renderer import CertificateRenderer
from renderer.template import photo_ratio

pytestmark = pytest.mark.chromium

FULL_CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium: a Chromium without ``HeadlessExperimental.beginFrame``, which captures its last frame."""
PHOTO_BOX = (860, 258, 1020, 456)
"""The photo inside its frame on the 1123 x 794 px PNG (left, top, right, bottom)."""


def pixels(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def turned_jpeg(width: int, height: int) -> bytes:
    """A ``width`` x ``height`` crop of the portrait, stored turned a quarter with EXIF orientation 6 (shown upright)."""
    with Image.open(PORTRAIT) as portrait:
        shown = portrait.convert("RGB").crop((0, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    out = io.BytesIO()
    shown.transpose(Image.Transpose.ROTATE_90).save(out, "JPEG", exif=exif, quality=92)
    return out.getvalue()


def pdf_page_at_96_dpi(pdf: bytes, folder: Path) -> Image.Image:
    """The PDF's one page rasterised by poppler at the PNG's 96 dpi (1123 x 794 px), through files in ``folder``."""
    (folder / "page.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "96", "-singlefile", "-png", folder / "page.pdf", folder / "page"], check=True)
    return pixels((folder / "page.png").read_bytes()).resize((1123, 794))


async def test_the_headless_shell_draws_the_png_on_demand_with_the_pixels_of_a_capture():
    if not shutil.which(FULL_CHROMIUM):
        if IN_CI:
            pytest.fail(f"{FULL_CHROMIUM} (Debian's chromium) is required under CI=true")
        pytest.skip(f"no {FULL_CHROMIUM}")
    # given the usual browser (the headless shell, drawing frames only when asked) and a full Chromium
    drawn = await started(new_renderer())
    captured = await started(CertificateRenderer(chromium_path=FULL_CHROMIUM))
    try:
        # when each renders the same certificate
        on_demand = (await drawn.render(SAMPLE)).png
        capture = (await captured.render(SAMPLE)).png
        # then the first drew its frame on demand, the second answered that it cannot and captured instead
        assert drawn._current().frames_on_demand is True
        assert captured._current().frames_on_demand is False
    finally:
        await drawn.close()
        await captured.close()
    # and both PNGs have the same size and the same pixels
    assert pixels(on_demand).size == pixels(capture).size == (1123, 794)
    assert ImageChops.difference(pixels(on_demand), pixels(capture)).getbbox() is None


def test_a_turned_jpeg_has_the_ratio_it_is_shown_with():
    # given a 384 x 512 picture stored as 512 x 384 with orientation 6, then its ratio is the shown one
    assert photo_ratio(turned_jpeg(384, 512)) == 0.75
    # and a picture without orientation has its stored ratio
    assert photo_ratio(PORTRAIT.read_bytes()) == 1.0


@pytest.mark.parametrize("size", [(384, 512), (512, 300)], ids=["tall", "wide"])
async def test_a_turned_jpeg_prints_upright_with_the_crop_of_the_png(renderer, size, tmp_path):
    # given a certificate whose photo is a turned JPEG, tall or wide as shown
    rendered = await renderer.render(certificate(photo=turned_jpeg(*size)))
    # when its PDF is rasterised at the PNG's resolution
    printed = pdf_page_at_96_dpi(rendered.pdf, tmp_path).crop(PHOTO_BOX)
    shown = pixels(rendered.png).crop(PHOTO_BOX)
    # then the printed photo is the shown one: upright, with the same crop (JPEG and rasterising differ by a few levels)
    mean_difference = max(ImageStat.Stat(ImageChops.difference(printed, shown)).mean)
    assert mean_difference < 10
    # and the same comparison with the photo turned back tells them apart
    assert max(ImageStat.Stat(ImageChops.difference(printed.rotate(90), shown)).mean) > 3 * mean_difference
