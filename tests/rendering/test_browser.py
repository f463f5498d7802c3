"""Printing certificates with a real headless Chromium (no mocks).

Text is read back from the PDF with poppler's ``pdftotext``; see
``certificate_samples.pdf_text`` for which mode suits which script.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import unicodedata

import pytest
import zxingcpp
from certificate_samples import PORTRAIT, SAMPLE, certificate, new_renderer, pdf_text, started
from PIL import Image
from pypdf import PdfReader

from renderer import CertificatePage, RenderError, render_certificate
from renderer.chromium import process_tree, still_running
from resolvers.holder import normalise_holder_name

LONG_NAME = "María Fernanda Alejandra Guadalupe de los Santos Villanueva y Rodríguez-Ortega da Silva O’Neill-Peña"
MARKUP_NAME = '<img src="http://127.0.0.1:9/x.png">'

pytestmark = pytest.mark.chromium


def test_the_long_name_is_exactly_100_characters():
    assert len(LONG_NAME) == 100


@pytest.mark.parametrize(
    ("raw_name", "raw_mode"),
    [
        ("Zoë Nguyễn", False),
        ("محمد عبد الله", False),  # reading order gives RTL text in logical order
        ("דוד כהן", False),
        ("王小明", False),
        ("김민준", False),
        ("Ana 🎓", True),  # the emoji is a Type 3 glyph; only drawing order keeps it in its line
        (LONG_NAME, False),
    ],
)
async def test_any_script_prints_exactly_on_one_page(renderer, raw_name, raw_mode):
    # given a name as the claim stores it
    name = normalise_holder_name(raw_name)

    # when
    rendered = await renderer.render(certificate(holder_name=name))

    # then
    assert len(PdfReader(io.BytesIO(rendered.pdf)).pages) == 1
    text = unicodedata.normalize("NFC", pdf_text(rendered.pdf, raw=raw_mode))
    assert name in text
    assert SAMPLE.verification_code in text
    assert rendered.requests_blocked == 0


JOINERS_AND_SPACES = dict.fromkeys(map(ord, "\u200c\u200d \u00a0"))


@pytest.mark.parametrize(
    "raw_name",
    [
        "ශ්\u200dරීමතී පෙරේරා",  # Sinhala
        "ശ്രീകാന്ത് അവന്\u200d",  # Malayalam, a chillu
        "زهرا نیک\u200cنام",  # Persian
        "अर्\u200dजुन लक्\u200cष्मी",  # Devanagari
    ],
)
async def test_names_whose_script_needs_a_joiner_print_every_letter(renderer, raw_name):
    # given a name the claim accepts with its joiners
    name = normalise_holder_name(raw_name)

    # when
    rendered = await renderer.render(certificate(holder_name=name))

    # then every letter is in the text layer, in order (pdftotext drops the joiners and may
    # split a conjunct with a space, so both are left out of the comparison)
    text = unicodedata.normalize("NFC", pdf_text(rendered.pdf)).translate(JOINERS_AND_SPACES)
    assert name.translate(JOINERS_AND_SPACES) in text
    assert len(PdfReader(io.BytesIO(rendered.pdf)).pages) == 1


@pytest.mark.parametrize(("name", "size"), [("Zoë Nguyễn", "name-xl"), (LONG_NAME, "name-s"), ("王" * 100, "name-xs")])
async def test_names_that_fit_at_the_guessed_size_print_at_it(renderer, name, size):
    rendered = await renderer.render(certificate(holder_name=name))

    assert (CertificatePage(certificate(holder_name=name)).name_classes[0], rendered.name_class) == (size, size)


@pytest.mark.parametrize(
    ("name", "guess", "printed"),
    [
        ("\ufdfd" * 10, "name-xl", "name-m"),  # ARABIC LIGATURE BISMILLAH: one code point, a whole phrase wide
        ("\ufdfd" * 97, "name-s", "name-3xs"),
        ("\U0001242b" * 50, "name-m", "name-xs"),  # a cuneiform sign about three letters wide
    ],
)
async def test_a_name_of_very_wide_glyphs_gets_a_smaller_size_and_prints_whole(renderer, name, guess, printed):
    rendered = await renderer.render(certificate(holder_name=name))

    assert (CertificatePage(certificate(holder_name=name)).name_classes[0], rendered.name_class) == (guess, printed)
    assert len(PdfReader(io.BytesIO(rendered.pdf)).pages) == 1
    assert pdf_text(rendered.pdf).count(name[0]) == len(name)


async def test_the_outputs_are_an_a4_landscape_pdf_and_a_96_dpi_png(renderer):
    rendered = await render_certificate(renderer, SAMPLE)

    page = PdfReader(io.BytesIO(rendered.pdf)).pages[0]
    width_mm, height_mm = (float(v) * 25.4 / 72 for v in page.mediabox.upper_right)
    assert (round(width_mm), round(height_mm)) == (297, 210)
    assert Image.open(io.BytesIO(rendered.png)).size == (1123, 794)
    assert rendered.pdf_sha256 == hashlib.sha256(rendered.pdf).hexdigest()
    text = pdf_text(rendered.pdf)
    for expected in (
        "GraphQL API Design — Professional",
        "87",
        "B2",
        "14 March 2026",
        "2 April 2026",
        "Northwind Language Centre",
        SAMPLE.verification_url,
    ):
        assert expected in text


async def test_the_qr_code_on_the_png_reads_back_as_the_verification_url(renderer):
    rendered = await renderer.render(SAMPLE)

    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(rendered.png)))

    assert [(code.format, code.text) for code in codes] == [(zxingcpp.BarcodeFormat.QRCode, SAMPLE.verification_url)]


async def test_a_large_photo_is_printed_at_250_to_300_dpi_for_its_frame(renderer):
    # given a photo as a claim stores the largest ones (1,200 px)
    large = io.BytesIO()
    Image.open(PORTRAIT).resize((1200, 1200)).save(large, format="JPEG", quality=90)

    rendered = await renderer.render(certificate(photo=large.getvalue()))

    images = [xobject.get_object() for xobject in _page_xobjects(rendered.pdf)]
    # (decoded at half size, cropped to the frame's 43.6 x 53.6 mm: 284 dpi)
    assert [(image["/Width"], image["/Height"]) for image in images] == [(488, 600)]


async def test_a_photo_smaller_than_its_frame_is_embedded_as_it_is(renderer):
    rendered = await renderer.render(SAMPLE)

    images = [xobject.get_object() for xobject in _page_xobjects(rendered.pdf)]
    assert [image.get_data() for image in images] == [SAMPLE.photo]


async def test_markup_in_a_name_prints_literally_and_fetches_nothing(renderer):
    # given a name that bypassed validation
    data = certificate(holder_name=MARKUP_NAME)

    # when
    rendered = await renderer.render(data)

    # then
    assert MARKUP_NAME in pdf_text(rendered.pdf)
    assert rendered.requests_blocked == 0


async def test_a_page_that_asks_for_the_network_gets_its_requests_aborted_and_counted(renderer):
    html = (
        "<!DOCTYPE html><html><body><p>Offline</p>"
        '<img src="http://127.0.0.1:9/x">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        "</body></html>"
    )

    rendered = await renderer.render_page(html)

    assert rendered.requests_blocked == 1
    assert "Offline" in pdf_text(rendered.pdf)


async def test_a_killed_browser_is_relaunched_once_for_the_next_renders(renderer):
    # given Chromium dies between renders
    await renderer.render(SAMPLE)
    dead = renderer.processes()
    os.kill(renderer.browser_pid, signal.SIGKILL)

    # when several renders arrive at once
    results = await asyncio.gather(*(renderer.render(SAMPLE) for _ in range(3)))

    # then they all succeed on one new browser
    assert all(len(PdfReader(io.BytesIO(r.pdf)).pages) == 1 for r in results)
    assert renderer.launches == 2
    assert renderer.browser_pid not in {process.pid for process in dead}
    assert not still_running(dead)


async def test_a_browser_that_dies_during_a_render_is_relaunched_and_the_render_retried(renderer):
    await renderer.render(SAMPLE)
    pid = renderer.browser_pid

    async def kill_soon() -> None:
        await asyncio.sleep(0.02)
        os.kill(pid, signal.SIGKILL)

    rendered, _ = await asyncio.gather(renderer.render(SAMPLE), kill_soon())

    assert len(PdfReader(io.BytesIO(rendered.pdf)).pages) == 1
    assert renderer.launches == 2


async def test_a_killed_playwright_driver_is_restarted(renderer):
    await renderer.render(SAMPLE)
    old_chromium = renderer.processes()
    me = os.getpid()
    drivers = [p.pid for p in process_tree(me) if p.pid != me and b"node" in _cmdline(p.pid)]
    assert drivers
    for pid in drivers:
        os.kill(pid, signal.SIGKILL)

    rendered = await renderer.render(SAMPLE)

    assert len(PdfReader(io.BytesIO(rendered.pdf)).pages) == 1
    assert renderer.launches == 2
    assert not still_running(old_chromium)


async def test_a_render_that_times_out_raises_and_leaves_no_context_open(renderer):
    with pytest.raises(RenderError, match="longer than"):
        await renderer.render(SAMPLE, timeout_s=0.01)

    assert renderer.open_contexts() == 0
    assert (await renderer.render(SAMPLE)).requests_blocked == 0


async def test_a_context_serves_its_renders_one_after_another_then_is_replaced():
    renderer = await started(new_renderer(max_concurrency=1, renders_per_context=2))
    try:
        for _ in range(5):
            await renderer.render(SAMPLE)

        assert renderer.contexts_opened == 3
        assert (renderer.open_contexts(), renderer.idle_contexts()) == (1, 1)
    finally:
        await renderer.close()


async def test_with_one_render_per_context_every_render_gets_its_own_context():
    renderer = await started(new_renderer(max_concurrency=2, renders_per_context=1))
    try:
        await asyncio.gather(*(renderer.render(SAMPLE) for _ in range(4)))

        assert renderer.contexts_opened == 4
        assert (renderer.open_contexts(), renderer.idle_contexts()) == (0, 0)
    finally:
        await renderer.close()


async def test_a_reused_context_shows_nothing_of_the_previous_document():
    renderer = await started(new_renderer(max_concurrency=1))
    try:
        first = await renderer.render_page(
            "<!DOCTYPE html><html><head><style>body { background: #c00; }</style></head>"
            '<body><p>PREVIOUS-HOLDER</p><img src="http://127.0.0.1:9/x"></body></html>'
        )
        second = await renderer.render(certificate(holder_name="Ana Lima"))

        assert renderer.contexts_opened == 1
        assert (first.requests_blocked, second.requests_blocked) == (1, 0)
        assert "PREVIOUS-HOLDER" in pdf_text(first.pdf)
        text = pdf_text(second.pdf)
        assert "Ana Lima" in text and "PREVIOUS-HOLDER" not in text
        assert Image.open(io.BytesIO(second.png)).convert("RGB").getpixel((5, 5)) == (251, 249, 244)
    finally:
        await renderer.close()


async def test_a_failed_render_closes_its_context_instead_of_reusing_it():
    renderer = await started(new_renderer(max_concurrency=1))
    try:
        await renderer.render(SAMPLE)
        with pytest.raises(RenderError, match="longer than"):
            await renderer.render(SAMPLE, timeout_s=0.01)
        assert renderer.open_contexts() == 0

        await renderer.render(SAMPLE)

        assert renderer.contexts_opened == 2
    finally:
        await renderer.close()


async def test_concurrency_is_bounded(renderer):
    opened = 0

    async def watch() -> None:
        nonlocal opened
        while True:
            opened = max(opened, renderer.open_contexts())
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.gather(*(renderer.render(SAMPLE) for _ in range(6)))
    finally:
        watcher.cancel()
    assert 1 <= opened <= renderer.max_concurrency


async def test_close_leaves_no_chromium_process_and_refuses_further_renders():
    renderer = await started(new_renderer())
    await renderer.render(SAMPLE)
    processes = renderer.processes()
    assert renderer.browser_pid in {process.pid for process in processes} and len(processes) > 1

    await renderer.close()

    assert not still_running(processes)
    with pytest.raises(RenderError, match="not running"):
        await renderer.render(SAMPLE)


def _page_xobjects(pdf: bytes) -> list:
    resources = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]
    return list(resources["/XObject"].values())


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read()
    except OSError:
        return b""


async def test_contexts_idle_for_a_while_are_closed_and_the_next_render_opens_a_new_one():
    # given contexts that close after 0.3 s without a render
    renderer = await started(new_renderer(max_concurrency=2, idle_close_s=0.3))
    try:
        # when two renders run at once, then nothing for a second
        await asyncio.gather(*(renderer.render(SAMPLE) for _ in range(2)))
        assert renderer.idle_contexts() == 2
        await asyncio.sleep(1.0)

        # then both contexts are closed, and the next render opens a third
        assert (renderer.open_contexts(), renderer.idle_contexts()) == (0, 0)
        await renderer.render(SAMPLE)
        assert renderer.contexts_opened == 3
    finally:
        await renderer.close()
