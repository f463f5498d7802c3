"""The certificate template: escaping, self-containment, sizing of long names."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from certificate_samples import SAMPLE, certificate

from renderer import render_html
from renderer.template import format_date, name_size_class, qr_svg

MARKUP_NAME = '<img src="http://127.0.0.1:9/x.png">'


def test_markup_in_the_name_is_escaped_not_interpreted():
    # given a name that bypassed validation
    data = certificate(holder_name=MARKUP_NAME, test_name="<b>Bold</b> & {{ 7*7 }}")

    # when
    html = render_html(data)

    # then
    assert MARKUP_NAME not in html
    assert "&lt;img src=&#34;http://127.0.0.1:9/x.png&#34;&gt;" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; {{ 7*7 }}" in html


def test_the_page_only_references_data_urls_and_has_no_script():
    html = render_html(SAMPLE)

    sources = re.findall(r'\bsrc="([^"]*)"', html)
    assert len(sources) == 2  # photo and QR code
    assert all(source.startswith("data:") for source in sources)
    assert not re.search(r"<script|<link|@import|url\(", html, re.IGNORECASE)


def test_the_photo_is_embedded_as_given():
    html = render_html(SAMPLE)

    assert f"data:image/jpeg;base64,{base64.b64encode(SAMPLE.photo).decode()}" in html


def test_values_that_may_be_right_to_left_are_direction_isolated():
    html = render_html(certificate(holder_name="محمد عبد الله"))

    assert '<bdi dir="auto">محمد عبد الله</bdi>' in html


def test_the_page_is_one_fixed_a4_landscape_sheet():
    html = render_html(SAMPLE)

    assert "@page { size: A4 landscape; margin: 0; }" in html
    assert re.search(r"\.sheet \{[^}]*width: 297mm; height: 210mm; overflow: hidden;", html)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ana", "name-xl"),
        ("王小明", "name-xl"),
        ("Maria Fernanda de los Santos", "name-l"),
        ("x" * 100, "name-s"),
        # East Asian characters are twice as wide: 100 of them get the smallest size.
        ("王" * 100, "name-xs"),
    ],
)
def test_long_and_wide_names_get_smaller_type(name, expected):
    assert name_size_class(name) == expected
    assert f"name clip {expected}" in render_html(certificate(holder_name=name))


def test_the_qr_code_is_an_svg_for_the_verification_url():
    svg = qr_svg(SAMPLE.verification_url)

    assert svg.startswith(b"<?xml") and b"<svg" in svg
    html = render_html(SAMPLE)
    assert f"data:image/svg+xml;base64,{base64.b64encode(svg).decode()}" in html
    assert f"Verify at {SAMPLE.verification_url}" in html


def test_dates_are_printed_in_english_in_utc():
    late_evening_in_new_york = datetime(2026, 3, 14, 21, 0, tzinfo=timezone(timedelta(hours=-5)))

    assert format_date(late_evening_in_new_york) == "15 March 2026"
    assert format_date(datetime(2026, 1, 2, tzinfo=UTC)) == "2 January 2026"
    html = render_html(SAMPLE)
    assert "14 March 2026" in html and "2 April 2026" in html


def test_level_is_optional():
    assert "level" not in render_html(certificate(level=None)).split("with a score of", 1)[1][:80]
    assert 'level <b><bdi dir="auto">B2</bdi></b>' in render_html(SAMPLE)


@pytest.mark.parametrize("changes", [{"photo_mime": "text/html"}, {"photo": b""}])
def test_certificate_data_refuses_a_photo_that_is_not_an_image(changes):
    with pytest.raises(ValueError):
        certificate(**changes)


@pytest.mark.parametrize(
    ("score_max", "level", "printed"),
    [
        (100, "B2", 'with a score of <b>77 / 100</b> &middot; level <b><bdi dir="auto">B2</bdi></b></p>'),
        (None, None, "with a score of <b>77</b></p>"),
    ],
)
def test_the_score_is_printed_on_its_scale_with_the_tests_own_level(score_max, level, printed):
    html = render_html(certificate(score=77, score_max=score_max, level=level))
    assert printed in re.sub(r"\s*\n\s*", "", html)
