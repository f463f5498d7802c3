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
import json
from dataclasses import dataclass
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page, Route
from playwright.async_api import Error as PlaywrightError

from renderer.chromium import CLEANUP_TIMEOUT_S, LaunchedChromium, quietly
from renderer.template import (
    MM_PER_INCH,
    NAME_BOX_SELECTOR,
    NAME_TEXT_SELECTOR,
    CertificatePage,
)

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
# Sub-pixel rounding allowed when comparing the name's height with its box's.
FIT_TOLERANCE_PX = 0.5
NAME_FITS_EXPRESSION = f"""(() => {{
  const box = document.querySelector({json.dumps(NAME_BOX_SELECTOR)});
  const text = document.querySelector({json.dumps(NAME_TEXT_SELECTOR)});
  if (!box || !text) return true;
  return text.getBoundingClientRect().height <= box.getBoundingClientRect().height + {FIT_TOLERANCE_PX};
}})()"""


@dataclass(frozen=True, slots=True)
class RenderedCertificate:
    """A printed certificate.

    ``pdf``: one A4 landscape page. ``png``: 1123 x 794 px screenshot (96 dpi).
    ``pdf_sha256``: hex digest of ``pdf``. ``requests_blocked``: requests the
    page tried to make outside ``data:`` URLs, all aborted (0 for a normal
    certificate). ``name_class``: the holder name's size class on a
    certificate (``renderer.template.NAME_CLASSES``), None for other pages.
    """

    pdf: bytes
    png: bytes
    pdf_sha256: str
    requests_blocked: int
    name_class: str | None = None


@dataclass(eq=False)
class Tab:
    """One isolated browser context with its only page, used by one render at a time."""

    chromium: LaunchedChromium
    context: BrowserContext
    page: Page | None = None
    cdp: CDPSession | None = None
    renders: int = 0
    blocked: int = 0

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

        A ``CertificatePage`` is loaded at its largest name size that fits
        the name's box (the smallest size if none does).
        """
        assert self.page is not None and self.cdp is not None
        self.blocked = 0
        name_class = None
        if isinstance(document, str):
            await self.page.set_content(document, wait_until="load")
        else:
            smallest = document.name_classes[-1]
            for name_class in document.name_classes:
                await self.page.set_content(document.html(name_class), wait_until="load")
                if name_class == smallest or await self._name_fits():
                    break
        pdf = base64.b64decode((await self.cdp.send("Page.printToPDF", PDF_OPTIONS))["data"])
        png = base64.b64decode((await self.cdp.send("Page.captureScreenshot", PNG_OPTIONS))["data"])
        return RenderedCertificate(
            pdf=pdf,
            png=png,
            pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            requests_blocked=self.blocked,
            name_class=name_class,
        )

    async def _name_fits(self) -> bool:
        """Whether the holder name is no taller than its box, as laid out.

        One CDP ``Runtime.evaluate`` of our own expression: DevTools evaluation
        still works with the page's scripts disabled (the page's own scripts
        never run).
        """
        assert self.cdp is not None
        answer = await self.cdp.send("Runtime.evaluate", {"expression": NAME_FITS_EXPRESSION, "returnByValue": True})
        return answer.get("result", {}).get("value") is not False


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
