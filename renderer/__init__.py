"""Certificate rendering: a Jinja2 template printed by a warm headless Chromium.

Never imports the API layer, the models or the resolvers (docs/ARCHITECTURE.md, "Who imports whom").
"""

from renderer.browser import (
    CertificateRenderer,
    RenderError,
    render_certificate,
)
from renderer.chromium import ChromiumNotFound, find_chromium
from renderer.page import RenderedCertificate
from renderer.template import CertificateData, CertificatePage, render_html

__all__ = [
    "CertificateData",
    "CertificatePage",
    "CertificateRenderer",
    "ChromiumNotFound",
    "RenderError",
    "RenderedCertificate",
    "find_chromium",
    "render_certificate",
    "render_html",
]
