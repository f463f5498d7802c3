"""claimCertificate: who may claim, when, and which names and photos are accepted (resolvers/claims.py)."""

from __future__ import annotations

import functools
import io
import struct
import unicodedata

import pytest
from certificate_flow import (
    CERTIFICATE,
    certified_candidates,
    claim_ok,
    path_of,
    png_bytes,
    portrait,
    post_claim,
    reviewer,
    send_claim,
)
from PIL import Image

from models import AuditEvent, Certificate
from models.enums import Role

LONG_NAME = "María Alejandra Guadalupe de los Santos Villanueva y Rodríguez Ortega da Silva Pereira O'Neill Cruz."
ACCEPTED_NAMES = ["Zoë Nguyễn", "محمد عبد الله", "דוד כהן", "王小明", "김민준", "Ana 🎓", LONG_NAME]
REFUSED_NAMES = [
    "Eve\r\nBcc: x@example.test",
    '<img src="file:///etc/passwd">',
    "Mallory\u202egnp.exe",  # right-to-left override
    "Zero\u200bWidth",  # zero-width space
    "Tab\tName",
    "   ",
    LONG_NAME + "x",
]


async def stored_files(server) -> list[str]:
    root = server.settings.files_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def assert_nothing_stored(server, candidate) -> None:
    certificate = await Certificate.get(id=candidate.certificate_pk)
    assert certificate.status == "AWAITING_CLAIM"
    assert certificate.holder_name is None and certificate.photo_key is None and certificate.submitted_at is None
    assert await stored_files(server) == []
    assert await AuditEvent.filter(action="claim_certificate").count() == 0


def test_the_long_name_has_exactly_100_characters():
    assert len(LONG_NAME) == 100


@pytest.mark.parametrize("name", ACCEPTED_NAMES)
async def test_a_name_in_any_script_is_accepted_and_stored_nfc(sqlite_server, name):
    # given a certified sitting
    _, [candidate] = await certified_candidates(sqlite_server)

    # when its test taker claims with the name, decomposed, and a real photo
    payload = await send_claim(sqlite_server, candidate, name=unicodedata.normalize("NFD", name), photo=portrait())

    # then the certificate is under review with the NFC name
    assert payload["errors"] == []
    certificate = payload["certificate"]
    assert certificate["status"] == "UNDER_REVIEW"
    assert certificate["holderName"] == unicodedata.normalize("NFC", name)
    assert (await Certificate.get(id=candidate.certificate_pk)).holder_name == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize("name", REFUSED_NAMES)
async def test_a_refused_name_is_invalid_name_and_stores_nothing(sqlite_server, name):
    # given a certified sitting
    _, [candidate] = await certified_candidates(sqlite_server)

    # when the name has control, bidi, zero-width or markup characters (or is empty / too long)
    payload = await send_claim(sqlite_server, candidate, name=name, photo=portrait())

    # then
    assert payload["certificate"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_NAME", ["input", "holderName"])]
    await assert_nothing_stored(sqlite_server, candidate)


@functools.cache
def bomb_png() -> bytes:
    """A 20000x20000 one-colour PNG: a few kB on the wire, 400 megapixels decoded."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000), 1).save(out, format="PNG", optimize=True)
    return out.getvalue()


GIF_1X1 = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
REFUSED_PHOTOS = {
    "text file named .jpg": lambda: (b"this is not a picture\n" * 10, "photo.jpg", "image/jpeg"),
    "empty file": lambda: (b"", "empty.jpg", "image/jpeg"),
    "100x100 image": lambda: (png_bytes(100, 100), "small.png", "image/png"),
    "20000x20000 one-colour png": lambda: (bomb_png(), "bomb.png", "image/png"),
    "html sent as image/jpeg": lambda: (
        b"<!doctype html><html><body><script>alert(1)</script></body></html>",
        "x.jpg",
        "image/jpeg",
    ),
    "gif": lambda: (GIF_1X1, "x.gif", "image/gif"),
    "larger than 10 MB": lambda: (b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "huge.jpg", "image/jpeg"),
}


def test_the_bomb_is_small_on_the_wire_and_huge_decoded():
    data = bomb_png()
    assert len(data) < 1024 * 1024
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert (width, height) == (20000, 20000)


@pytest.mark.parametrize("case", list(REFUSED_PHOTOS))
async def test_a_refused_photo_is_invalid_photo_and_stores_nothing(sqlite_server, case):
    # given a certified sitting
    _, [candidate] = await certified_candidates(sqlite_server)
    photo, filename, content_type = REFUSED_PHOTOS[case]()

    # when the upload is not a real JPEG/PNG of at least 300x300 within the limits
    payload = await send_claim(
        sqlite_server, candidate, name="Zoë Nguyễn", photo=photo, filename=filename, content_type=content_type
    )

    # then
    assert payload["certificate"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_PHOTO", ["input", "photo"])]
    await assert_nothing_stored(sqlite_server, candidate)


async def test_a_photo_over_the_limit_is_refused_with_its_size_and_the_limit_in_mb(sqlite_server):
    # given a certified sitting
    _, [candidate] = await certified_candidates(sqlite_server)

    # when a 13 MB file is sent as the photo
    photo = b"\xff\xd8\xff" + b"\0" * (13 * 1024 * 1024 - 3)
    payload = await send_claim(sqlite_server, candidate, name="Zoë Nguyễn", photo=photo, filename="big.jpg")

    # then the message names both, in MB
    assert payload["certificate"] is None
    assert payload["errors"] == [
        {
            "code": "INVALID_PHOTO",
            "field": ["input", "photo"],
            "message": "The photo is 13 MB; at most 10 MB is allowed.",
        }
    ]
    await assert_nothing_stored(sqlite_server, candidate)


async def test_the_stored_photo_is_re_encoded_without_metadata(sqlite_server):
    # given a portrait carrying EXIF metadata
    _, [candidate] = await certified_candidates(sqlite_server)
    original = Image.open(io.BytesIO(portrait()))
    exif = original.getexif()
    exif[0x010E] = "secret description"  # ImageDescription
    exif[0x8298] = "GPS-ish copyright"  # Copyright
    tagged = io.BytesIO()
    original.convert("RGB").save(tagged, format="JPEG", exif=exif.tobytes())

    # when it is claimed with that photo and the test taker downloads the photo
    payload = await send_claim(sqlite_server, candidate, name="Zoë Nguyễn", photo=tagged.getvalue())
    assert payload["errors"] == []
    response = await sqlite_server.http.get(path_of(payload["certificate"]["photoUrl"]))

    # then it is a JPEG with the same pixel size and no EXIF, and it is the stored file
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    stored = Image.open(io.BytesIO(response.content))
    assert stored.format == "JPEG"
    assert stored.size == original.size
    assert dict(stored.getexif()) == {}
    assert b"secret description" not in response.content
    key = (await Certificate.get(id=candidate.certificate_pk)).photo_key
    assert (sqlite_server.settings.files_dir / key).read_bytes() == response.content


async def test_only_the_sittings_own_test_taker_may_claim(sqlite_server):
    # given two certified sittings of two test takers
    _, [alice, bob] = await certified_candidates(sqlite_server, 2)

    # when bob claims alice's sitting
    payload = await send_claim(sqlite_server, bob, name="Bob", photo=portrait(), sitting_id=alice.sitting_id)

    # then it does not exist for him, and nothing changed
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["input", "sittingId"])]
    await assert_nothing_stored(sqlite_server, alice)


@pytest.mark.parametrize("role", [Role.ORG_ADMIN, Role.ANALYST, Role.SECURITY_REVIEWER, Role.PLATFORM_ADMIN])
async def test_other_roles_are_forbidden_to_claim(sqlite_server, role):
    # given a certified sitting
    world, [candidate] = await certified_candidates(sqlite_server)
    token = sqlite_server.token(role, org=world.organisation_pk if role in (Role.ORG_ADMIN, Role.ANALYST) else None)

    # when someone who is not a test taker sends the claim
    response = await post_claim(sqlite_server, token=token, sitting_id=candidate.sitting_id, name="X", photo=portrait())

    # then a FORBIDDEN GraphQL error, and nothing stored
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    await assert_nothing_stored(sqlite_server, candidate)


async def test_claiming_without_a_token_is_unauthenticated(sqlite_server):
    _, [candidate] = await certified_candidates(sqlite_server)
    response = await post_claim(sqlite_server, token="", sitting_id=candidate.sitting_id, name="X", photo=portrait())
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]
    await assert_nothing_stored(sqlite_server, candidate)


async def test_a_sitting_without_certificate_cannot_be_claimed(sqlite_server):
    # given a certified sitting whose certificate row is missing
    _, [candidate] = await certified_candidates(sqlite_server)
    await Certificate.filter(id=candidate.certificate_pk).delete()

    # when
    payload = await send_claim(sqlite_server, candidate, name="Zoë", photo=portrait())

    # then
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_TRANSITION", ["input", "sittingId"])]


async def test_a_claim_under_review_or_approved_cannot_be_claimed_again(sqlite_server):
    # given a claimed certificate
    _, [candidate] = await certified_candidates(sqlite_server)
    first = await claim_ok(sqlite_server, candidate, "Zoë Nguyễn")
    files_before = await stored_files(sqlite_server)

    # when the test taker claims again while it is UNDER_REVIEW
    again = await send_claim(sqlite_server, candidate, name="Someone Else", photo=portrait())

    # then INVALID_TRANSITION, the first claim stands and no file was added
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("INVALID_TRANSITION", ["input", "sittingId"])]
    row = await Certificate.get(id=candidate.certificate_pk)
    assert (row.status, row.holder_name) == ("UNDER_REVIEW", first["holderName"])
    assert await stored_files(sqlite_server) == files_before


async def test_photo_url_goes_to_the_test_taker_reviewers_admins_but_not_analysts(sqlite_server):
    # given a claimed certificate
    world, [candidate] = await certified_candidates(sqlite_server)
    await claim_ok(sqlite_server, candidate)
    org = world.organisation_pk
    viewers = {
        "test taker": candidate.client,
        "reviewer": reviewer(sqlite_server),
        "org admin": sqlite_server.client(sqlite_server.token(Role.ORG_ADMIN, org=org)),
        "platform admin": sqlite_server.platform(),
        "analyst": sqlite_server.client(sqlite_server.token(Role.ANALYST, org=org)),
    }

    # when each reads the certificate
    nodes = {
        who: (await client.data(CERTIFICATE, {"id": candidate.certificate_id}))["node"]
        for who, client in viewers.items()
    }

    # then everyone sees it, only the analyst gets no photo URL, and no one gets a PDF yet
    assert {who: node["status"] for who, node in nodes.items()} == dict.fromkeys(viewers, "UNDER_REVIEW")
    assert {who: node["photoUrl"] is not None for who, node in nodes.items()} == {
        "test taker": True,
        "reviewer": True,
        "org admin": True,
        "platform admin": True,
        "analyst": False,
    }
    assert {node["pdfUrl"] for node in nodes.values()} == {None}
    for who in ("test taker", "reviewer", "org admin", "platform admin"):
        response = await sqlite_server.http.get(path_of(nodes[who]["photoUrl"]))
        assert (who, response.status_code, response.headers["content-type"]) == (who, 200, "image/jpeg")
