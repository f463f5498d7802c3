"""Issued certificates as credentials, against the running server with real Chromium (docs/RULES.md, "Credentials").

Each credential is checked by ``certify verify-credential`` and, independently,
by Digital Bazaar's verifier (``tests/interop/vc-verify/verify.mjs``, run by
node), both resolving the DID document and status list over HTTP from the
server. Their runs go through threads: the server answers in this event loop.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import zxingcpp
from certificate_flow import approve, certified_candidates, claim_ok, issue, path_of, wait_for_status
from harness import free_port, live_server, make_settings
from PIL import Image
from support import admin_of

from credentials.baking import baked_text
from credentials.status_list import bit_is_set, decode_list
from models import Sitting, TestTaker

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tests" / "interop" / "vc-verify" / "verify.mjs"
CREDENTIAL = """
query($id: ID!) {
  node(id: $id) {
    ... on Certificate { status verificationCode issuedAt expiresAt credentialUrl addToLinkedInUrl pngUrl }
  }
}
"""
VERIFY = "query($code: String!) { verifyCertificate(code: $code) { status credentialUrl } }"
REVOKE = """
mutation($id: ID!) { revokeCertificate(input: {certificateId: $id, reason: "Impersonation."}) { errors { code } } }
"""


@asynccontextmanager
async def issuing_server(tmp_path: Path, database_url: str):
    """A rendering server whose public URL is its own address, so that credentials name it."""
    port = free_port()
    settings = make_settings(
        tmp_path,
        database_url,
        public_url=f"http://127.0.0.1:{port}",
        render_enabled=True,
        render_poll_seconds=0.05,
        scheduler_seconds=3600,
    )
    async with live_server(settings, port=port) as server:
        yield server


async def certify_verify(server, source: str) -> subprocess.CompletedProcess:
    """``certify verify-credential SOURCE`` as an operator runs it."""
    env = {**os.environ, "CERTIFY_DATA_DIR": str(server.settings.data_dir)}
    command = [str(Path(sys.executable).parent / "certify"), "verify-credential", source]
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)


async def node_verify(path: Path) -> tuple[int, dict]:
    """Digital Bazaar's verdict on the credential in ``path``: (exit status, its JSON line)."""
    command = ["node", str(VERIFIER), str(path), "--http"]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    return done.returncode, json.loads(done.stdout)


async def credential_of(server, candidate) -> dict:
    return (await candidate.client.data(CREDENTIAL, {"id": candidate.certificate_id}))["node"]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC).replace(microsecond=0)


async def test_an_issued_certificate_is_a_credential_both_verifiers_accept_until_revoked(tmp_path, database_url):
    async with issuing_server(tmp_path, database_url) as server:
        # given a certificate issued through the whole journey
        world, [candidate] = await certified_candidates(server)
        await issue(server, candidate)
        facts = await credential_of(server, candidate)
        sitting = await Sitting.get(id=candidate.sitting_pk).select_related("test_taker")

        # then its credential is served publicly as a signed OpenBadgeCredential
        served = await server.http.get(path_of(facts["credentialUrl"]))
        assert served.status_code == 200
        assert served.headers["content-type"] == "application/vc+ld+json"
        assert served.headers["access-control-allow-origin"] == "*"
        credential = served.json()
        assert facts["credentialUrl"] == f"{server.url}/credentials/{facts['verificationCode']}" == credential["id"]
        assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
        assert credential["issuer"]["id"] == f"did:web:127.0.0.1%3A{server.port}:orgs:{world.organisation_pk}"
        assert credential["issuer"]["name"] == "Acme Languages"
        assert instant(credential["validFrom"]) == instant(facts["issuedAt"])
        if facts["expiresAt"] is None:
            assert "validUntil" not in credential
        else:
            assert instant(credential["validUntil"]) == instant(facts["expiresAt"])
        assert credential["credentialSubject"]["identifier"][1]["identityHash"] == "Zoë Nguyễn"
        assert sitting.test_taker.email not in served.text
        assert credential["proof"]["verificationMethod"].startswith(credential["issuer"]["id"] + "#z6Mk")

        # and the PNG carries exactly that credential, still decodes and its QR code still reads
        png = (await server.http.get(path_of(facts["pngUrl"]))).content
        assert baked_text(png) == served.text
        codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        assert [code.text for code in codes] == [f"{server.url}/verify/{facts['verificationCode']}"]

        # and the public verification and the LinkedIn link name it
        verified = (await server.client().data(VERIFY, {"code": facts["verificationCode"]}))["verifyCertificate"]
        assert verified == {"status": "VALID", "credentialUrl": facts["credentialUrl"]}
        linkedin = urlsplit(facts["addToLinkedInUrl"])
        issued_at = datetime.fromisoformat(facts["issuedAt"]).astimezone(UTC)
        expected = {
            "startTask": ["CERTIFICATION_NAME"],
            "name": ["Acme Languages English"],
            "organizationName": ["Acme Languages"],
            "issueYear": [str(issued_at.year)],
            "issueMonth": [str(issued_at.month)],
            "certUrl": [facts["credentialUrl"]],
            "certId": [facts["verificationCode"]],
        }
        if facts["expiresAt"] is not None:
            expires_at = datetime.fromisoformat(facts["expiresAt"]).astimezone(UTC)
            expected |= {"expirationYear": [str(expires_at.year)], "expirationMonth": [str(expires_at.month)]}
        assert (linkedin.scheme, linkedin.netloc, linkedin.path) == ("https", "www.linkedin.com", "/profile/add")
        assert parse_qs(linkedin.query) == expected

        # when both verifiers check it, from its URL, its file and its PNG
        ours = await certify_verify(server, facts["credentialUrl"])
        saved, baked = tmp_path / "credential.json", tmp_path / "certificate.png"
        saved.write_text(served.text)
        baked.write_bytes(png)
        from_png = await certify_verify(server, str(baked))
        theirs = await node_verify(saved)

        # then both accept it
        assert (ours.returncode, ours.stdout.splitlines()[-1], ours.stderr) == (0, "verified", "")
        assert from_png.returncode == 0, from_png.stdout
        assert theirs == (0, {"verified": True, "revoked": False, "expired": False, "errors": []})

        # and the verification page links the credential and LinkedIn's add-to-profile link
        verify_page = (await server.http.get(f"/verify/{facts['verificationCode']}")).text
        assert f'<a id="credential" href="{facts["credentialUrl"]}">Open Badges 3.0 credential</a>' in verify_page
        assert f'<a id="add-to-linkedin" href="{html.escape(facts["addToLinkedInUrl"])}" rel="noopener">' in verify_page

        # and the public page accepts the PNG as an upload and verifies it
        page = await server.http.post("/verify", files={"credential": ("certificate.png", png, "image/png")})
        assert page.status_code == 200
        assert '<h1 id="status" class="ok">This credential is genuine and valid</h1>' in page.text
        assert "Holder: Zoë Nguyễn · Achievement: Acme Languages English · Issuer: Acme Languages" in page.text

        # when a byte of what is signed changes
        tampered = json.loads(served.text)
        tampered["credentialSubject"]["identifier"][1]["identityHash"] = "Zoe Nguyen"
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(tampered))
        ours_forged, theirs_forged = await certify_verify(server, str(forged)), await node_verify(forged)

        # then both refuse it
        assert ours_forged.returncode == 1
        assert "FAIL proof   the signature does not match the credential" in ours_forged.stdout
        assert theirs_forged[0] == 1 and theirs_forged[1]["verified"] is False

        # when the organisation revokes it
        revoked = await admin_of(server, world).data(REVOKE, {"id": candidate.certificate_id})
        assert revoked["revokeCertificate"]["errors"] == []

        # then its status list bit is set at once, and both verifiers report it revoked
        entry = credential["credentialStatus"]
        status_list = await server.http.get(path_of(entry["statusListCredential"]))
        assert status_list.headers["content-type"] == "application/vc+ld+json"
        assert status_list.headers["cache-control"] == "public, max-age=60"
        encoded = status_list.json()["credentialSubject"]["encodedList"]
        assert bit_is_set(decode_list(encoded), int(entry["statusListIndex"])) is True
        ours_revoked, theirs_revoked = await certify_verify(server, facts["credentialUrl"]), await node_verify(saved)
        assert ours_revoked.returncode == 1
        assert "FAIL status  revoked" in ours_revoked.stdout
        assert theirs_revoked[0] == 1 and theirs_revoked[1]["revoked"] is True
        assert (await credential_of(server, candidate))["addToLinkedInUrl"] is None
        page = await server.http.post("/verify", files={"credential": ("c.json", served.content, "application/json")})
        assert '<h1 id="status" class="fail">This credential is revoked</h1>' in page.text
        assert '<li class="fail"><strong>status</strong>: revoked</li>' in page.text
        revoked_page = (await server.http.get(f"/verify/{facts['verificationCode']}")).text
        assert 'id="credential"' in revoked_page and 'id="add-to-linkedin"' not in revoked_page


async def test_an_expired_credential_fails_both_verifiers(tmp_path, sqlite_url):
    async with issuing_server(tmp_path, sqlite_url) as server:
        # given a claim on a sitting whose result expired yesterday, approved and issued from the backlog
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate)
        yesterday = datetime.now(UTC) - timedelta(days=1)
        await Sitting.filter(id=candidate.sitting_pk).update(expires_at=yesterday)
        await approve(server, candidate)
        await wait_for_status(server, candidate, "ISSUED")
        facts = await credential_of(server, candidate)
        saved = tmp_path / "credential.json"
        saved.write_text((await server.http.get(path_of(facts["credentialUrl"]))).text)

        # when both verifiers check it
        ours, theirs = await certify_verify(server, str(saved)), await node_verify(saved)

        # then both report it expired
        assert ours.returncode == 1
        assert "FAIL dates   expired: valid from" in ours.stdout
        assert theirs[0] == 1 and theirs[1]["expired"] is True and theirs[1]["verified"] is False


async def test_a_rotated_key_signs_new_credentials_while_the_old_one_stays_listed(tmp_path, sqlite_url):
    port = free_port()
    settings = make_settings(
        tmp_path, sqlite_url, public_url=f"http://127.0.0.1:{port}", render_enabled=True, render_poll_seconds=0.05
    )
    async with live_server(settings, port=port) as server:
        # given a certificate issued with the first key
        world, [first, second] = await certified_candidates(server, 2)
        await issue(server, first)
        old = (await server.http.get(path_of((await credential_of(server, first))["credentialUrl"]))).json()

        did_file = tmp_path / "did.json"
        did_file.write_text((await server.http.get(f"/orgs/{world.organisation_pk}/did.json")).text)
        status_text = (await server.http.get(path_of(old["credentialStatus"]["statusListCredential"]))).text
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps(old))

    # when the server is down, a verifier holding the DID document still checks the proof, but fails closed
    env = {**os.environ, "CERTIFY_DATA_DIR": str(settings.data_dir)}
    command = [
        str(Path(sys.executable).parent / "certify"),
        "verify-credential",
        str(saved),
        "--did-document",
        str(did_file),
    ]
    offline = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)
    assert offline.returncode == 1
    lines = offline.stdout.splitlines()
    assert lines[2].startswith("ok   proof   signed with did:web:")
    assert lines[4].startswith(
        f"FAIL status  the status list could not be fetched from {old['credentialStatus']['statusListCredential']}"
    )
    assert lines[5] == "NOT verified: status"
    status_file = tmp_path / "status.json"
    status_file.write_text(status_text)
    pinned = [*command, "--status-list", str(status_file)]
    fully_offline = await asyncio.to_thread(subprocess.run, pinned, env=env, capture_output=True, text=True)
    assert (fully_offline.returncode, fully_offline.stdout.splitlines()[-1]) == (0, "verified")
    elsewhere = {**env, "CERTIFY_ISSUER_KEY_FILE": str(tmp_path / "typo" / "keys.json")}
    rotate = [str(Path(sys.executable).parent / "certify"), "rotate-issuer-key"]
    missing = await asyncio.to_thread(subprocess.run, rotate, env=elsewhere, capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.startswith("certify rotate-issuer-key: no issuer key ring at ")
    assert not (tmp_path / "typo").exists()

    # when the operator rotates the issuer key and the server starts again
    command = [str(Path(sys.executable).parent / "certify"), "rotate-issuer-key"]
    rotated = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, check=True)
    assert rotated.stdout.startswith(f"issuer key ring {settings.issuer_key_path}: 2 keys; new signing key z6Mk")
    async with live_server(settings, port=port) as server:
        second.client = server.client(second.client.token)
        first.client = server.client(first.client.token)
        await issue(server, second)
        new = (await server.http.get(path_of((await credential_of(server, second))["credentialUrl"]))).json()
        did = await server.http.get(f"/orgs/{world.organisation_pk}/did.json")

        # then the new credential is signed with the new key, and the DID document lists both
        old_method, new_method = old["proof"]["verificationMethod"], new["proof"]["verificationMethod"]
        assert old_method != new_method
        assert did.headers["content-type"] == "application/did+ld+json"
        document = did.json()
        assert document["id"] == f"did:web:127.0.0.1%3A{port}:orgs:{world.organisation_pk}"
        assert document["assertionMethod"] == [old_method, new_method]
        assert [m["type"] for m in document["verificationMethod"]] == ["Multikey", "Multikey"]
        # and the old credential still verifies
        ours = await certify_verify(server, old["id"])
        assert ours.returncode == 0, ours.stdout


async def test_the_achievement_a_credential_names_resolves_to_the_same_achievement(tmp_path, sqlite_url):
    async with issuing_server(tmp_path, sqlite_url) as server:
        # given an issued credential
        world, [candidate] = await certified_candidates(server)
        await issue(server, candidate)
        facts = await credential_of(server, candidate)
        credential = (await server.http.get(path_of(facts["credentialUrl"]))).json()
        embedded = credential["credentialSubject"]["achievement"]

        # when a verifier follows the achievement's id
        answer = await server.http.get(path_of(embedded["id"]))

        # then it is the same achievement as a JSON-LD document, created by the credential's issuer
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/ld+json"
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.json() == {
            "@context": credential["@context"],
            **embedded,
            "creator": credential["issuer"],
        }
        sitting = await Sitting.get(id=candidate.sitting_pk)
        assert embedded["id"] == f"{server.url}/orgs/{world.organisation_pk}/achievements/{sitting.test_id}"

        # and another organisation, a test it has issued nothing of, or an absurd id, names nothing
        for path in [
            f"/orgs/{world.organisation_pk + 1}/achievements/{sitting.test_id}",
            f"/orgs/{world.organisation_pk}/achievements/{sitting.test_id + 1}",
            f"/orgs/{world.organisation_pk}/achievements/99999999999999999999",
        ]:
            refused = await server.http.get(path)
            assert (refused.status_code, refused.json()) == (
                404,
                {
                    "errors": [
                        {
                            "message": "the organisation has issued no credential of this achievement",
                            "extensions": {"code": "NOT_FOUND"},
                        }
                    ]
                },
            ), path


async def test_unknown_credentials_documents_and_lists_are_404_in_the_graphql_shape(tmp_path, sqlite_url):
    async with issuing_server(tmp_path, sqlite_url) as server:
        world, _ = await certified_candidates(server)
        for path, message in [
            ("/credentials/7K3M-Q9XD-2HVT-R8BN", "no issued certificate has a credential under this code"),
            ("/orgs/999/did.json", "no organisation has this identifier"),
            (f"/orgs/{world.organisation_pk}/credentials/status/999", "the organisation has no such status list"),
            ("/orgs/99999999999999999999/did.json", "no organisation has this identifier"),
            ("/orgs/1/credentials/status/9223372036854775808", "the organisation has no such status list"),
        ]:
            answer = await server.http.get(path)
            assert (answer.status_code, answer.json()) == (
                404,
                {"errors": [{"message": message, "extensions": {"code": "NOT_FOUND"}}]},
            )
        # and the DID document of an organisation that has issued nothing lists the current key only
        document = (await server.http.get(f"/orgs/{world.organisation_pk}/did.json")).json()
        assert len(document["assertionMethod"]) == 1
        assert await TestTaker.all().count() == 1


async def test_the_verify_page_refuses_what_it_cannot_read_and_never_fetches_other_issuers(tmp_path, sqlite_url):
    async with issuing_server(tmp_path, sqlite_url) as server:
        # given the form
        form = await server.http.get("/verify")
        assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text

        # when files that are not credentials are uploaded, then each is refused with the reason
        plain = io.BytesIO()
        Image.new("RGB", (8, 8)).save(plain, format="PNG")
        for files, problem in [
            ({"other": ("a.txt", b"x", "text/plain")}, "Choose a certificate PNG or a credential JSON file to verify."),
            (
                {"credential": ("a.txt", b"hello", "text/plain")},
                "The file is neither a certificate PNG nor a credential in JSON.",
            ),
            ({"credential": ("a.json", b"[1, 2]", "application/json")}, "The file is JSON but not a credential."),
            (
                {"credential": ("a.png", plain.getvalue(), "image/png")},
                "The PNG carries no credential: the PNG carries no openbadgecredential chunk.",
            ),
            (
                {"credential": ("deep.json", b"[" * 50_000 + b"]" * 50_000, "application/json")},
                "The file&#39;s JSON is nested too deeply to be a credential.",
            ),
            (
                {"credential": ("big.json", b" " * (5 * 1024 * 1024 + 1), "application/json")},
                "The file is more than 5 MB; at most 5 MB is accepted.",
            ),
        ]:
            answer = await server.http.post("/verify", files=files)
            assert answer.status_code == 400
            assert f'<p class="fail" id="problem" role="alert">{problem}</p>' in answer.text

        # when another issuer's credential is uploaded, then its proof fails without any fetch
        fixture = ROOT / "tests" / "data" / "credentials" / "js-signed-credential.json"
        answer = await server.http.post(
            "/verify", files={"credential": ("js.json", fixture.read_bytes(), "application/json")}
        )
        assert answer.status_code == 200
        assert (
            "<strong>proof</strong>: the issuer&#39;s DID document could not be fetched from "
            "https://issuer.example/orgs/demo/did.json: this page checks only credentials this service issued; "
            "use `certify verify-credential`"
        ) in answer.text


async def test_one_address_gets_thirty_checks_a_minute(tmp_path, sqlite_url):
    async with issuing_server(tmp_path, sqlite_url) as server:
        files = {"credential": ("a.json", b"[]", "application/json")}
        answers = [(await server.http.post("/verify", files=files)).status_code for _ in range(31)]

        assert answers == [400] * 30 + [429]
        refused = await server.http.post("/verify", files=files)
        assert refused.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
        # the sliding window forgets the 30 checks only as the window holding them fades out: up to the rest of
        # this minute plus the 2 s (60 s / 30) for one check to fade, never more
        assert 1 <= int(refused.headers["retry-after"]) <= 62
