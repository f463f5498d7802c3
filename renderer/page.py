"""One isolated browser context and its only page: printing a document to PDF and PNG.

The context has JavaScript disabled and aborts every request that is not a
``data:`` URL (docs/RULES.md, "Rendering"). :class:`CertificateRenderer`
(:mod:`renderer.browser`) keeps a pool of these tabs and decides when one is
opened, reused or closed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page, Route
from playwright.async_api import Error as PlaywrightError
from pypdf import PdfReader
from pypdf.generic import DictionaryObject, IndirectObject, NameObject, NumberObject, TextStringObject

from renderer.chromium import CLEANUP_TIMEOUT_S, LaunchedChromium, quietly
from renderer.template import MM_PER_INCH, CertificatePage

# A4 landscape at 96 dpi: 297 x 210 mm.
VIEWPORT = {"width": 1123, "height": 794}
CONTEXT_OPTIONS: dict[str, Any] = {
    "java_script_enabled": False,
    "viewport": VIEWPORT,
    "device_scale_factor": 1,
    "service_workers": "block",
    "accept_downloads": False,
    "locale": "en-GB",
    "timezone_id": "UTC",
    "color_scheme": "light",
}
# CDP Page.printToPDF: A4 landscape, no margins, backgrounds printed; a CSS
# @page size (the certificate template has one) takes precedence.
PDF_OPTIONS: dict[str, Any] = {
    "paperWidth": 297 / MM_PER_INCH,
    "paperHeight": 210 / MM_PER_INCH,
    "marginTop": 0,
    "marginBottom": 0,
    "marginLeft": 0,
    "marginRight": 0,
    "printBackground": True,
    "preferCSSPageSize": True,
}
# CDP Page.captureScreenshot of the viewport; fast PNG encoding (a larger file,
# ~145 kB instead of ~120 kB, for about half the encoding time).
PNG_OPTIONS: dict[str, Any] = {"format": "png", "optimizeForSpeed": True, "captureBeyondViewport": False}
# CDP HeadlessExperimental.beginFrame: with frames drawn only when asked (chromium-headless-shell
# with --deterministic-mode, renderer.driver.LAUNCH_ARGS) the one frame of a certificate, the
# same pixels and PNG encoding as PNG_OPTIONS. Page.captureScreenshot never returns there.
FRAME_OPTIONS: dict[str, Any] = {"screenshot": {"format": "png", "optimizeForSpeed": True}}
# How a browser without frames on demand answers beginFrame: Chromium (not the headless shell)
# has no such command, the headless shell without --deterministic-mode refuses it.
NO_FRAMES_ON_DEMAND = ("wasn't found", "BeginFrameControl")
# Now and then (≈ 1 in 60 renders of a just-opened page while others render) Chromium answers a
# frame without its screenshot; the next frame, of the same page, has it.
FRAME_ATTEMPTS = 3
# The last "startxref" of a PDF: the offset of its newest cross-reference section.
PDF_STARTXREF = re.compile(rb"startxref\s+(\d+)")
# The fitting routine (renderer.template.FitRule), run in the page with one
# CDP Runtime.evaluate of our own: DevTools evaluation works with the page's
# scripts disabled, and the page's own scripts never run. Given
# {box: {lines, sizes}}, it sets each [data-fit] box to each size in turn
# until its content overflows neither its height nor its width (1 px
# allowed: scrollHeight and clientHeight are rounded apart). At the last size
# it clamps the box to the whole lines it holds, with an ellipsis, and
# writes the full text, transparent, into .full-texts for the PDF's text
# layer. It answers {box: {size, clamped}} for the boxes on the page.
FIT_FUNCTION = """(plan) => {
  const fits = (box) => box.scrollHeight <= box.clientHeight + 1 && box.scrollWidth <= box.clientWidth + 1;
  const copies = document.querySelector(".full-texts");
  const fitted = {};
  for (const [name, rule] of Object.entries(plan)) {
    const box = document.querySelector(`[data-fit="${name}"]`);
    if (!box) continue;
    let size = rule.sizes[0];
    for (size of rule.sizes) {
      box.style.fontSize = `${size}pt`;
      if (fits(box)) break;
    }
    const clamped = !fits(box);
    if (clamped) {
      const lineHeight = parseFloat(getComputedStyle(box).lineHeight);
      const lines = Math.floor(box.clientHeight / lineHeight + 0.05);
      box.style.setProperty("--lines", Math.max(1, Math.min(rule.lines, lines)));
      box.classList.add("clamped");
      const copy = copies.appendChild(document.createElement("p"));
      copy.dir = "auto";
      copy.textContent = box.textContent.replace(/\\s+/g, " ").trim();
    }
    fitted[name] = { size, clamped };
  }
  return fitted;
}"""


@dataclass(frozen=True, slots=True)
class RenderedCertificate:
    """A printed certificate.

    ``pdf``: one A4 landscape page. ``png``: 1123 x 794 px screenshot (96 dpi).
    ``pdf_sha256``: hex digest of ``pdf``. ``requests_blocked``: requests the
    page tried to make outside ``data:`` URLs, all aborted (0 for a normal
    certificate). ``name_class``: the holder name's size class on a
    certificate (``renderer.template.NAME_CLASSES``), None for other pages.
    ``fitted``: each text box of a certificate (``renderer.template.FIT_RULES``)
    and how it was fitted, ``{box: {"size": pt, "clamped": bool}}``; empty
    for other pages.
    """

    pdf: bytes
    png: bytes
    pdf_sha256: str
    requests_blocked: int
    name_class: str | None = None
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(eq=False)
class Tab:
    """One isolated browser context with its only page, used by one render at a time."""

    chromium: LaunchedChromium
    context: BrowserContext
    page: Page | None = None
    cdp: CDPSession | None = None
    renders: int = 0
    blocked: int = 0
    idle_since: float = 0.0  # the event loop's time when it last went idle

    @classmethod
    async def open(cls, chromium: LaunchedChromium) -> Tab:
        """A new context of ``chromium`` with its request filter, page and CDP session (closed again on failure)."""
        tab = cls(chromium, await chromium.browser.new_context(**CONTEXT_OPTIONS))
        try:
            await tab.context.route("**/*", tab.block)
            tab.page = await tab.context.new_page()
            tab.cdp = await tab.context.new_cdp_session(tab.page)
        except BaseException:
            await quietly(chromium.unless_gone(tab.context.close()))
            raise
        return tab

    async def block(self, route: Route) -> None:
        """Let ``data:`` URLs through; abort and count every other request."""
        with contextlib.suppress(PlaywrightError):
            if route.request.url.startswith("data:"):
                await route.continue_()
            else:
                self.blocked += 1
                await route.abort("blockedbyclient")

    async def print(self, document: str | CertificatePage) -> RenderedCertificate:
        """Load ``document`` as a fresh page and print it to PDF and PNG.

        A ``CertificatePage`` has its text boxes fitted first (``fit``) and
        its metadata (``CertificatePage.metadata``) written into the PDF.
        """
        assert self.page is not None and self.cdp is not None
        self.blocked = 0
        name_class, fitted = None, {}
        if isinstance(document, str):
            await self.page.set_content(document, wait_until="load")
        else:
            await self.page.set_content(document.html(), wait_until="load")
            fitted = await self.fit(document.fit_plan)
            name_class = document.name_class_at(fitted["name"]["size"])
        pdf = base64.b64decode((await self.cdp.send("Page.printToPDF", PDF_OPTIONS))["data"])
        png = await self.screenshot()
        if isinstance(document, CertificatePage):
            pdf = with_metadata(pdf, document.metadata)
        return RenderedCertificate(
            pdf=pdf,
            png=png,
            pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            requests_blocked=self.blocked,
            name_class=name_class,
            fitted=fitted,
        )

    async def screenshot(self) -> bytes:
        """The loaded page's viewport as PNG bytes (1123 x 794 px at 96 dpi).

        One frame drawn for it (``FRAME_OPTIONS``; again, up to
        ``FRAME_ATTEMPTS`` in all, if Chromium answers one without its
        screenshot) where the browser draws frames only when asked, else a
        capture of the page's last frame (``PNG_OPTIONS``): the same pixels.
        Printing, loading and fitting a page then draw nothing in between.

        Raises:
            PlaywrightError: Chromium failed to draw or capture the frame.
        """
        assert self.cdp is not None
        if self.chromium.frames_on_demand:
            try:
                for _ in range(FRAME_ATTEMPTS):
                    frame = await self.draw_frame()
                    if "screenshotData" in frame:
                        return base64.b64decode(frame["screenshotData"])
            except PlaywrightError as exc:
                if not any(marker in exc.message for marker in NO_FRAMES_ON_DEMAND):
                    raise
                self.chromium.frames_on_demand = False
            else:
                raise PlaywrightError(f"Chromium drew {FRAME_ATTEMPTS} frames without a screenshot")
        return base64.b64decode((await self.cdp.send("Page.captureScreenshot", PNG_OPTIONS))["data"])

    async def draw_frame(self) -> dict[str, Any]:
        """Chromium's answer to ``HeadlessExperimental.beginFrame`` with ``FRAME_OPTIONS``, one page of the browser at a time.

        The browser's ``frame_lock`` is held until Chromium has answered, even
        when the render awaiting it is cancelled (a timeout): the next page's
        frame never starts while this one is drawn.

        Raises:
            PlaywrightError: Chromium failed or refused to draw (see ``NO_FRAMES_ON_DEMAND``).
        """
        assert self.cdp is not None
        lock = self.chromium.frame_lock
        await lock.acquire()
        try:
            drawing = asyncio.ensure_future(self.cdp.send("HeadlessExperimental.beginFrame", FRAME_OPTIONS))
        except BaseException:
            lock.release()
            raise
        drawing.add_done_callback(lambda done: _release(lock, done))
        return await asyncio.shield(drawing)

    async def fit(self, plan: dict[str, dict[str, object]]) -> dict[str, dict[str, Any]]:
        """Fit the loaded page's text boxes by ``plan`` (``CertificatePage.fit_plan``) with ``FIT_FUNCTION``.

        Returns ``{box: {"size": pt, "clamped": bool}}`` for the boxes on the page.

        Raises:
            PlaywrightError: the evaluation failed (``CertificateRenderer`` reports it as a ``RenderError``).
        """
        assert self.cdp is not None
        expression = f"({FIT_FUNCTION})({json.dumps(plan)})"
        answer = await self.cdp.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in answer:
            raise PlaywrightError(f"fitting the certificate's text failed: {answer['exceptionDetails'].get('text')}")
        return answer["result"]["value"]


def with_metadata(pdf: bytes, metadata: dict[str, str]) -> bytes:
    """``pdf`` with ``metadata`` (``{"/Title": ..., ...}``) added to its document information.

    An incremental update (ISO 32000-1, 7.5.6): the printed bytes are kept as
    they are, and the information dictionary, with Chromium's entries and
    ``metadata``'s, is appended as a new version of its object with its own
    cross-reference section (2–10 ms; pypdf's own incremental writer reads
    every object, ~90 ms for a CJK certificate's fonts).

    Raises:
        pypdf.errors.PdfReadError: ``pdf`` is not a PDF pypdf can read.
    """
    reader = PdfReader(io.BytesIO(pdf))
    trailer = reader.trailer
    info = DictionaryObject(trailer["/Info"].get_object()) if "/Info" in trailer else DictionaryObject()
    info.update({NameObject(key): TextStringObject(value) for key, value in metadata.items()})
    number = trailer.raw_get("/Info").idnum if "/Info" in trailer else int(trailer["/Size"])
    new_trailer = DictionaryObject({NameObject(key): value for key, value in trailer.items() if key != "/Prev"})
    new_trailer[NameObject("/Size")] = NumberObject(max(int(trailer["/Size"]), number + 1))
    new_trailer[NameObject("/Info")] = IndirectObject(number, 0, reader)
    new_trailer[NameObject("/Prev")] = NumberObject(int(PDF_STARTXREF.findall(pdf[-64:])[-1]))
    out = io.BytesIO(pdf)
    out.seek(0, io.SEEK_END)
    out.write(b"" if pdf.endswith(b"\n") else b"\n")
    at = out.tell()
    out.write(f"{number} 0 obj\n".encode())
    info.write_to_stream(out)
    xref_at = out.tell() + len(b"\nendobj\n")
    # The free entry of object 0 in the section too, as readers expect of a first subsection.
    out.write(f"\nendobj\nxref\n0 1\n0000000000 65535 f \n{number} 1\n{at:010d} 00000 n \ntrailer\n".encode())
    new_trailer.write_to_stream(out)
    out.write(f"\nstartxref\n{xref_at}\n%%EOF\n".encode())
    return out.getvalue()


def _release(lock: asyncio.Lock, drawing: asyncio.Future[Any]) -> None:
    lock.release()
    if not drawing.cancelled():
        drawing.exception()  # a frame nobody awaits any more: its failure is the cancelled render's


async def close_tab(opening: asyncio.Future[Tab], chromium: LaunchedChromium) -> None:
    """Close the tab's context once ``opening`` has produced it; give up at once if Chromium is gone.

    Waits at most ``CLEANUP_TIMEOUT_S`` seconds per step and never raises.
    """
    if opening.cancelled():
        return
    with contextlib.suppress(Exception):
        tab = await asyncio.wait_for(chromium.unless_gone(asyncio.shield(opening)), CLEANUP_TIMEOUT_S)
        await asyncio.wait_for(chromium.unless_gone(tab.context.close()), CLEANUP_TIMEOUT_S)
    opening.cancel()  # no-op once done
