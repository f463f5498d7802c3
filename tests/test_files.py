"""Signed, short-lived file URLs (server/files.py) and the local file storage (adapters/storage.py)."""

from __future__ import annotations

import hashlib
import time

import pytest
from builders import build_world
from certificate_flow import (
    CERTIFICATE,
    REJECT,
    approve,
    certificate_as,
    certified_candidates,
    claim_ok,
    path_of,
    portrait,
    rendering_server,
    reviewer,
    send_claim,
    wait_for_status,
)

from adapters.storage import LocalFileStorage, StoredFileMissing, new_key
from models import Certificate
from models.enums import Role
from resolvers.principal import Principal
from server.files import FileUrls
from server.settings import Settings


async def test_issued_files_go_to_every_viewer_of_the_certificate_and_the_photo_not_to_analysts(tmp_path, sqlite_url):
    async with rendering_server(tmp_path, sqlite_url) as server:
        # given an issued certificate
        world, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        await approve(server, candidate)
        await wait_for_status(server, candidate, "ISSUED")
        row = await Certificate.get(id=candidate.certificate_pk)
        org = world.organisation_pk
        viewers = {
            "test taker": candidate.client,
            "org admin": server.client(server.token(Role.ORG_ADMIN, org=org)),
            "analyst": server.client(server.token(Role.ANALYST, org=org)),
            "platform admin": server.platform(),
        }

        # when each viewer reads it and follows its URLs
        for who, client in viewers.items():
            node = await certificate_as(client, candidate)
            pdf = await server.http.get(path_of(node["pdfUrl"]))
            png = await server.http.get(path_of(node["pngUrl"]))

            # then the PDF and PNG come with their types, the PDF as stored and hashed
            assert node["pdfUrl"].startswith(f"{server.settings.public_url}/files/")
            assert (who, pdf.status_code, pdf.headers["content-type"]) == (who, 200, "application/pdf")
            assert (who, png.status_code, png.headers["content-type"]) == (who, 200, "image/png")
            assert pdf.headers["cache-control"] == "private, no-store"
            assert hashlib.sha256(pdf.content).hexdigest() == row.pdf_sha256
            assert pdf.content == (server.settings.files_dir / row.pdf_key).read_bytes()
            # and the photo only to those allowed to see it
            assert (who, node["photoUrl"] is not None) == (who, who != "analyst")

        # and the security team, whose queue it has left, and another organisation's admin cannot see it at all
        assert (await reviewer(server).data(CERTIFICATE, {"id": candidate.certificate_id}))["node"] is None
        elsewhere = await build_world(server.platform(), sittings=0, credits=0, name="Elsewhere", prefix="elsewhere")
        other = server.client(server.token(Role.ORG_ADMIN, org=elsewhere.organisation_pk))
        assert (await other.data(CERTIFICATE, {"id": candidate.certificate_id}))["node"] is None


async def test_a_tampered_url_gets_403(server):
    # given a photo URL
    _, [candidate] = await certified_candidates(server)
    url = path_of((await claim_ok(server, candidate))["photoUrl"])
    token = url.rsplit("/", 1)[1]
    payload, timestamp, signature = token.split(".")
    # the first character: the last one carries unused padding bits
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    # when the token is altered in any part, or made up
    tampered = [
        f"{payload}.{timestamp}.{flipped}",
        f"{payload}x.{timestamp}.{signature}",
        f"{payload}.{timestamp}",
        "not-a-token",
    ]

    # then 403 each time, and the genuine URL still works
    for bad in tampered:
        response = await server.http.get(f"/files/{bad}")
        assert (bad, response.status_code) == (bad, 403)
    assert (await server.http.get(url)).status_code == 200


async def test_an_expired_url_gets_403(server):
    # given URLs signed by the server's key, one dated beyond the time to live
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate)
    row = await Certificate.get(id=candidate.certificate_pk)
    taker = Principal(subject="taker", role=Role.TEST_TAKER, test_taker_id=candidate.test_taker_pk)
    ttl = server.settings.signed_url_ttl_seconds
    expired = FileUrls(server.settings, clock=lambda: time.time() - ttl - 5).photo_url(row, taker)
    fresh = FileUrls(server.settings, clock=lambda: time.time() - ttl + 5).photo_url(row, taker)

    # when they are followed
    # then the expired one is refused and the one still inside its time to live is served
    assert (await server.http.get(path_of(expired))).status_code == 403
    assert (await server.http.get(path_of(fresh))).status_code == 200


async def test_a_url_signed_with_another_secret_gets_403(server):
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate)
    row = await Certificate.get(id=candidate.certificate_pk)
    other = Settings(data_dir=server.settings.data_dir, jwt_secret="another-secret-0123456789abcdef0123456789")
    taker = Principal(subject="taker", role=Role.TEST_TAKER, test_taker_id=candidate.test_taker_pk)
    forged = FileUrls(other).photo_url(row, taker)
    assert (await server.http.get(path_of(forged))).status_code == 403


async def test_a_photo_replaced_by_a_new_claim_is_no_longer_served_or_stored(server):
    # given a rejected claim whose photo URL the test taker kept
    _, [candidate] = await certified_candidates(server)
    old_url = path_of((await claim_ok(server, candidate))["photoUrl"])
    old_key = (await Certificate.get(id=candidate.certificate_pk)).photo_key
    await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": "Blurred."})

    # when the test taker claims again with a new photo
    again = await send_claim(server, candidate, name="Zoë", photo=portrait())

    # then the old URL is refused and the old file is gone; the new one is served
    assert (await server.http.get(old_url)).status_code == 403
    assert not (server.settings.files_dir / old_key).exists()
    assert (await server.http.get(path_of(again["certificate"]["photoUrl"]))).status_code == 200


async def test_local_storage_round_trip_and_refuses_keys_it_did_not_make(tmp_path):
    storage = LocalFileStorage(tmp_path / "files")
    key = new_key("certificates", "pdf")
    assert not await storage.exists(key)
    await storage.put(key, b"%PDF-1.7 test")
    assert (await storage.exists(key), await storage.get(key)) == (True, b"%PDF-1.7 test")
    assert storage.path(key) == tmp_path / "files" / key
    await storage.delete(key)
    await storage.delete(key)  # already gone: no error
    with pytest.raises(StoredFileMissing):
        await storage.get(key)
    for bad in (
        "../../etc/passwd",
        "photos/../../x.jpg",
        "/etc/passwd",
        "photos/abc.jpg",
        "photos/" + "0" * 32 + ".html",
    ):
        with pytest.raises(ValueError):
            await storage.get(bad)
    assert [p.name for p in (tmp_path / "files").rglob("*") if p.is_file()] == []
