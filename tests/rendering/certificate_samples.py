"""Sample certificate data and PDF text extraction for the renderer tests."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from renderer import CertificateData, CertificateRenderer, ChromiumNotFound

PORTRAIT = Path(__file__).resolve().parents[1] / "data" / "portrait.jpg"
IN_CI = os.environ.get("CI", "").lower() == "true"
# pdftotext marks right-to-left runs with these embedding controls.
BIDI_EMBEDDINGS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e"))

SAMPLE = CertificateData(
    holder_name="Zoë Nguyễn",
    photo=PORTRAIT.read_bytes(),
    test_name="GraphQL API Design — Professional",
    score=87,
    level="B2",
    taken_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
    issued_at=datetime(2026, 4, 2, 16, 5, tzinfo=UTC),
    organisation_name="Northwind Language Centre",
    verification_code="K7QM-4XPD-9TZA",
    verification_url="https://certify.example.test/verify/K7QM-4XPD-9TZA",
)


def certificate(**changes: object) -> CertificateData:
    """``SAMPLE`` with some fields changed."""
    return replace(SAMPLE, **changes)


def pdf_text(pdf: bytes, *, raw: bool = False) -> str:
    """The PDF's text, whitespace runs collapsed to one space, via poppler's ``pdftotext``.

    Default mode follows reading order and gives right-to-left text in logical
    order (wrapped in embedding controls, removed here). ``raw`` keeps the
    drawing order instead, which is what keeps a colour emoji (drawn from a
    Type 3 font) on the line of the text around it.
    """
    args = ["pdftotext", "-enc", "UTF-8", *(["-raw"] if raw else []), "-", "-"]
    text = subprocess.run(args, input=pdf, capture_output=True, check=True).stdout.decode()
    return " ".join(text.translate(BIDI_EMBEDDINGS).split())


async def started(renderer: CertificateRenderer) -> CertificateRenderer:
    """Start ``renderer``; skip the test without Chromium, fail under ``CI=true``."""
    try:
        await renderer.start()
    except ChromiumNotFound as exc:
        if IN_CI:
            pytest.fail(f"Chromium is required under CI=true: {exc}")
        pytest.skip(str(exc))
    return renderer


def new_renderer(**options: object) -> CertificateRenderer:
    """A renderer on ``CERTIFY_CHROMIUM_PATH`` if set, else the usual places."""
    return CertificateRenderer(chromium_path=os.environ.get("CERTIFY_CHROMIUM_PATH"), **options)
