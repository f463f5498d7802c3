"""The holder's name and photo checks (pure functions, no database)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from resolvers.errors import DomainError, ErrorCode
from resolvers.holder import normalise_holder_name, sanitise_photo
from resolvers.wording import data_size

PORTRAIT = Path(__file__).resolve().parents[1] / "data" / "portrait.jpg"
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def blank_png(width: int, height: int) -> bytes:
    """A valid one-colour 1-bit PNG built row by row: 20000×20000 px is ~60 kB and no pixel buffer."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj()
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def encoded(image: Image.Image, image_format: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def refused(call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- names -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Nguyễn",
        "محمد عبد الله",
        "דוד כהן",
        "王小明",
        "김민준",
        "Ана-Мария Иванова",
        "मीरा शर्मा",
        "O'Neill-Smith Jr.",
        "D’Angelo",
        "Ana 🎓",
        "a" * 100,
    ],
)
def test_names_in_any_script_are_accepted_unchanged(name):
    assert normalise_holder_name(name) == name


def test_the_name_is_nfc_normalised_and_its_spaces_tidied():
    decomposed = "  Zoe\u0308 \u00a0 Nguye\u0302\u0303n\u3000 "

    assert normalise_holder_name(decomposed) == "Zoë Nguyễn"


def test_length_is_counted_in_code_points_after_normalisation():
    # 200 code points as sent (e + combining acute), 100 once composed
    assert normalise_holder_name("e\u0301" * 100) == "é" * 100


@pytest.mark.parametrize(
    "name",
    [
        "👩\u200d🎓 Ana",  # emoji ZWJ sequence
        "علی\u200cرضا",  # Persian zero-width non-joiner inside a word
        "زهرا نیک\u200cنام",  # Persian: Zahra Niknam
        "ශ්\u200dරී ලංකා",  # Sinhala: Sri Lanka, the ZWJ makes the rakaaraansaya
        "ශ්\u200dරීමතී පෙරේරා",  # Sinhala: Srimathi Perera
        "അവന്\u200d",  # Malayalam: a chillu at the end of a word
        "ശ്രീകാന്ത് അവന്\u200d രാജ്",  # Malayalam, a chillu before a space
        "अर्\u200dजुन शर्मा",  # Devanagari: Arjun Sharma, eyelash ra
        "लक्\u200cष्मी",  # Devanagari: Lakshmi, a visible virama kept by the ZWNJ
    ],
)
def test_joiners_that_shape_a_sequence_are_kept(name):
    assert normalise_holder_name(name) == name


@pytest.mark.parametrize(
    ("name", "in_message"),
    [
        ("Eve\r\nBcc: x@example.test", "control character (U+000D)"),
        ("Ana\tMaria", "U+0009"),
        ('<img src="file:///etc/passwd">', "character <"),
        ("Tom & Jerry", "character &"),
        ("{{ name }}", "character {"),
        ("Ana\u202eairam", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\u2067Ana\u2069", "U+2067"),
        ("An\u200ba", "U+200B ZERO WIDTH SPACE"),
        ("A\u200dna", "U+200D"),  # a joiner between Latin letters draws nothing
        ("漢\u200c字", "U+200C"),  # Han characters never join
        ("ا\u200dا", "U+200D"),  # no virama before it: it changes nothing drawn
        ("ශ\u200d්රී", "U+200D"),  # in Sinhala, but not after the virama
        ("Ana\u200c", "U+200C"),  # a non-joiner at the end of a Latin name
        ("\ufeffAna", "U+FEFF"),
        ("Ana\u2028Maria", "line separator"),
        ("Ana\ue000", "private-use"),
        ("Ana\u0378", "unassigned"),
        ("Ana\ud800", "surrogate"),
        ("", "Enter the name"),
        ("   ", "Enter the name"),
        ("a" * 101, "101 characters"),
        ("12345", "at least one letter"),
        ("🎓", "at least one letter"),
        ("\u3164\u3164", "invisible character (U+3164)"),
        ("A\u034fB", "invisible character (U+034F)"),
        ("Ana\ufe0f", "invisible character (U+FE0F)"),
        ("Ana\u2800", "invisible character (U+2800)"),
        ("\u0301Ana", "combining mark"),
    ],
)
def test_unsafe_or_empty_names_are_refused(name, in_message):
    error = refused(normalise_holder_name, name)

    assert error.code == ErrorCode.INVALID_NAME
    assert error.field == ["input", "holderName"]
    assert in_message in error.message


# --- photos ------------------------------------------------------------------


def test_the_portrait_comes_back_as_a_clean_jpeg_of_the_same_size():
    photo = sanitise_photo(PORTRAIT.read_bytes())

    image = Image.open(io.BytesIO(photo.jpeg))
    assert image.format == "JPEG"
    assert (photo.width, photo.height) == image.size == (512, 512)
    assert image.mode == "RGB"
    assert not image.getexif()
    assert "exif" not in image.info and "icc_profile" not in image.info


def test_exif_gps_data_is_removed():
    # given a JPEG carrying a location
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    original = encoded(Image.open(PORTRAIT), exif=exif.tobytes())
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)

    # when
    photo = sanitise_photo(original)

    # then
    cleaned = Image.open(io.BytesIO(photo.jpeg))
    assert not cleaned.getexif()
    assert b"Exif" not in photo.jpeg and b"PhoneMaker" not in photo.jpeg


def test_the_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # rotate 90° clockwise to display
    sideways = encoded(Image.new("RGB", (400, 300), "navy"), exif=exif.tobytes())

    photo = sanitise_photo(sideways)

    assert (photo.width, photo.height) == (300, 400)


def test_transparency_is_flattened_on_white():
    transparent = encoded(Image.new("RGBA", (320, 320), (255, 0, 0, 0)), "PNG")

    photo = sanitise_photo(transparent)

    assert Image.open(io.BytesIO(photo.jpeg)).getpixel((160, 160)) >= (250, 250, 250)


def _palette(colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("P", (320, 320), 0)
    image.putpalette(list(colour) * 256)
    return image


@pytest.mark.parametrize(
    ("image", "options"),
    [
        pytest.param(_palette((255, 0, 0)), {"transparency": 0}, id="palette-with-a-transparent-entry"),
        pytest.param(Image.new("LA", (320, 320), (0, 0)), {}, id="grey-with-alpha"),
        pytest.param(Image.new("RGB", (320, 320), (255, 0, 0)), {"transparency": (255, 0, 0)}, id="rgb-colour-key"),
        pytest.param(Image.new("L", (320, 320), 0), {"transparency": 0}, id="grey-colour-key"),
        pytest.param(Image.new("I;16", (320, 320), 0), {"transparency": 0}, id="16-bit-grey-colour-key"),
    ],
)
def test_every_kind_of_png_transparency_is_flattened_on_white(image, options):
    photo = sanitise_photo(encoded(image, "PNG", **options))

    assert Image.open(io.BytesIO(photo.jpeg)).convert("RGB").getpixel((160, 160)) >= (250, 250, 250)


def test_half_transparent_pixels_are_blended_with_white():
    photo = sanitise_photo(encoded(Image.new("RGBA", (320, 320), (0, 0, 0, 128)), "PNG"))

    assert all(126 <= channel <= 129 for channel in Image.open(io.BytesIO(photo.jpeg)).getpixel((160, 160)))


def test_a_png_built_like_the_bomb_below_but_small_is_a_valid_photo():
    photo = sanitise_photo(blank_png(400, 300))

    assert (photo.width, photo.height) == (400, 300)


@pytest.mark.parametrize(
    ("data", "in_message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"Jane Doe\nnot a photo\n", "JPEG or PNG", id="text"),
        pytest.param(b"<!DOCTYPE html><html><body><img src=x></body></html>", "JPEG or PNG", id="html"),
        pytest.param(
            encoded(Image.new("RGB", (100, 100), "grey")),
            "The photo is 100×100 pixels; each side must be at least 300 pixels.",
            id="100x100",
        ),
        pytest.param(encoded(Image.new("RGB", (8000, 300), "grey")), "at most 4 times the other", id="8000x300"),
        pytest.param(encoded(Image.new("RGB", (301, 1205), "grey")), "at most 4 times the other", id="301x1205"),
        pytest.param(blank_png(20_000, 20_000), "pixels", id="20000x20000-png"),
        pytest.param(
            blank_png(8_000, 6_000),
            "The photo is 8,000×6,000 pixels (48 megapixels); at most 40 megapixels are allowed.",
            id="48-megapixel-png",
        ),
        pytest.param(encoded(Image.new("RGB", (400, 400)), "GIF"), "JPEG or PNG", id="gif"),
        pytest.param(PORTRAIT.read_bytes()[:6_000], "truncated or corrupt", id="truncated-jpeg"),
    ],
)
def test_photos_that_are_not_usable_images_are_refused(data, in_message):
    error = refused(sanitise_photo, data)

    assert error.code == ErrorCode.INVALID_PHOTO
    assert error.field == ["input", "photo"]
    assert in_message in error.message


def test_a_photo_over_the_byte_limit_is_refused_before_decoding():
    error = refused(sanitise_photo, PORTRAIT.read_bytes(), max_bytes=1_000)

    assert error.code == ErrorCode.INVALID_PHOTO
    size = data_size(len(PORTRAIT.read_bytes()))
    assert error.message == f"The photo is {size}; at most 1,000 bytes is allowed."


def test_comments_and_text_chunks_are_not_kept():
    # given a JPEG with a COM segment and a PNG with a tEXt chunk, both holding an address
    from PIL.PngImagePlugin import PngInfo

    portrait = Image.open(PORTRAIT)
    jpeg = io.BytesIO()
    portrait.save(jpeg, format="JPEG", comment=b"GPS 51.5N 221B Baker St")
    text = PngInfo()
    text.add_text("comment", "221B Baker St")
    png = io.BytesIO()
    portrait.save(png, format="PNG", pnginfo=text)

    # when they are sanitised
    outputs = [sanitise_photo(jpeg.getvalue()).jpeg, sanitise_photo(png.getvalue()).jpeg]

    # then no byte of the address survives
    assert [b"Baker" in out for out in outputs] == [False, False]
    assert [Image.open(io.BytesIO(out)).info.get("comment") for out in outputs] == [None, None]


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    # given a 16-bit greyscale gradient from black to white
    gradient = Image.linear_gradient("L").resize((400, 400)).convert("I").point(lambda v: v * 257).convert("I;16")
    data = io.BytesIO()
    gradient.save(data, format="PNG")

    # when it is sanitised
    photo = Image.open(io.BytesIO(sanitise_photo(data.getvalue()).jpeg)).convert("L")

    # then it still runs from black to white, rather than turning white
    assert photo.getextrema() == (0, 255)
    assert 100 <= ImageStat.Stat(photo).mean[0] <= 155


def test_a_photo_four_times_as_tall_as_wide_is_kept_at_least_300_pixels_wide():
    photo = sanitise_photo(encoded(Image.new("RGB", (1000, 4000), "grey")))

    assert (photo.width, photo.height) == (300, 1200)


def test_large_photos_are_stored_at_most_1200_pixels_on_the_long_side():
    # given a 6000x4000 photo
    data = io.BytesIO()
    Image.new("RGB", (6000, 4000), "navy").save(data, format="JPEG")

    # when it is sanitised
    photo = sanitise_photo(data.getvalue())

    # then it keeps its aspect ratio within 1200 px
    assert (photo.width, photo.height) == (1200, 800)
    assert Image.open(io.BytesIO(photo.jpeg)).size == (1200, 800)


def test_a_photo_pillow_refuses_as_a_bomb_is_refused_with_its_megapixels():
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, format="PNG")

    with pytest.raises(DomainError) as refused:
        sanitise_photo(out.getvalue())

    assert refused.value.message == "The photo has too many pixels (400 megapixels); at most 40 megapixels are allowed."
