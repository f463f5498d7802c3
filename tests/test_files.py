"""Signed, short-lived file URLs (server/files.py) and the local file storage (adapters/storage.py)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import time
import zlib

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
from itsdangerous import URLSafeTimedSerializer
from pydantic import ValidationError

from adapters.storage import LocalFileStorage, StoredFileMissing, new_key
from models import Certificate
from models.enums import Role
from resolvers.exports import ExportRequest
from resolvers.principal import Principal
from resolvers.sittings import SittingFilter, SittingOrder
from server.exports import SittingExports
from server.files import SALT, FileUrls
from server.settings import DEV_FILE_URL_SECRET, Settings


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


async def test_a_url_signed_with_another_file_secret_or_with_the_jwt_secret_gets_403(server):
    # given a claimed certificate on a server with a file URL secret of its own
    _, [candidate] = await certified_candidates(server)
    genuine = path_of((await claim_ok(server, candidate))["photoUrl"])
    row = await Certificate.get(id=candidate.certificate_pk)
    taker = Principal(subject="taker", role=Role.TEST_TAKER, test_taker_id=candidate.test_taker_pk)
    payload = [row.id, "photo", row.photo_key]
    jwt_secret = server.settings.jwt_secret

    # when URLs are signed with another file secret, with the development one, or with the JWT secret
    other = Settings(data_dir=server.settings.data_dir, file_url_secret="another-file-secret-0123456789abcdef01234")
    development = Settings(data_dir=server.settings.data_dir, jwt_secret=jwt_secret)
    legacy_key = hashlib.sha256(f"certify-file-urls:{jwt_secret}".encode()).hexdigest()
    forged = {
        "another file secret": path_of(FileUrls(other).photo_url(row, taker)),
        "development secret": path_of(FileUrls(development).photo_url(row, taker)),
        "jwt secret, old scheme": "/files/"
        + URLSafeTimedSerializer(legacy_key, salt="certify.files.v1").dumps(payload),
        "jwt secret, new salt": "/files/" + URLSafeTimedSerializer(jwt_secret, salt=SALT).dumps(payload),
    }

    # then each is refused and the server's own URL is served
    answers = {name: (await server.http.get(url)).status_code for name, url in forged.items()}
    assert answers == dict.fromkeys(forged, 403)
    assert (await server.http.get(genuine)).status_code == 200


async def test_a_url_reveals_no_storage_key_or_id_in_any_decoding(server):
    # given the photo URL of a claimed certificate
    _, [candidate] = await certified_candidates(server)
    url = (await claim_ok(server, candidate))["photoUrl"]
    row = await Certificate.get(id=candidate.certificate_pk)
    payload = url.rsplit("/", 1)[1].split(".")[0]

    # when its payload is decoded every way itsdangerous could have written it
    raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload) % 4))
    decodings = [url.encode(), raw]
    with contextlib.suppress(zlib.error):
        decodings.append(zlib.decompress(raw))

    # then neither the storage key, nor its random part, nor the id pair appears in any of them
    secret_part = row.photo_key.rsplit("/", 1)[1].split(".")[0]
    for text in decodings:
        assert row.photo_key.encode() not in text
        assert secret_part.encode() not in text
        assert f"[{row.id},".encode() not in text
    # and the server still serves it
    assert (await server.http.get(path_of(url))).status_code == 200


async def test_an_export_url_reveals_neither_its_search_text_nor_its_scope_and_still_streams(server):
    # given an analyst's export URL for a search
    world = await build_world(server.platform(), sittings=2)
    analyst = Principal("analyst", Role.ANALYST, organisation_id=world.organisation_pk)
    request = ExportRequest(analyst, SittingFilter(search="Zebrafinch"), SittingOrder())
    url, _ = SittingExports(server.settings).url_for(request)
    payload = url.rsplit("/", 1)[1].split(".")[0]

    # when its payload is decoded every way itsdangerous could have written it
    raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload) % 4))
    decodings = [url.encode(), raw]
    with contextlib.suppress(zlib.error):
        decodings.append(zlib.decompress(raw))

    # then neither the search text nor the role appears, and the URL is served
    for text in decodings:
        assert b"Zebrafinch" not in text
        assert b"analyst" not in text
    assert (await server.http.get(path_of(url))).status_code == 200


def test_production_refuses_to_start_without_a_file_url_secret_and_development_warns(tmp_path, caplog):
    # given production settings without a file URL secret
    # then they are refused, naming the variable to set
    with pytest.raises(
        ValidationError, match="CERTIFY_FILE_URL_SECRET must be set when CERTIFY_ENVIRONMENT=production"
    ):
        Settings(data_dir=tmp_path, environment="production", jwt_secret="a-real-secret-0123456789abcdef0123456789")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(data_dir=tmp_path, file_url_secret="short")
    assert (
        Settings(data_dir=tmp_path, environment="production", file_url_secret="f" * 32).file_url_signing_secret
        == "f" * 32
    )

    # and development without one uses the built-in secret and says so
    development = Settings(data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="server.settings"):
        development.warn_if_insecure()
    assert development.file_url_signing_secret == DEV_FILE_URL_SECRET
    assert any("CERTIFY_FILE_URL_SECRET is not set" in record.getMessage() for record in caplog.records)


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
