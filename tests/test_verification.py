"""Public verification: verifyCertificate and GET /verify/{code} (resolvers/verification.py, server/verify_page.py)."""

from __future__ import annotations

from certificate_flow import (
    VERIFY,
    approve,
    certified_candidates,
    claim_ok,
    rendering_server,
    wait_for_status,
)

from models import Sitting, Test, TestTaker
from models.enums import Role

SCALE = "query($code: String!) { verifyCertificate(code: $code) { score scoreMax level } }"
SITTING_LEVEL = "query($id: ID!) { node(id: $id) { ... on Sitting { score level test { scoreMax } } } }"
INVALID = {
    "valid": False,
    "holderName": None,
    "testName": None,
    "score": None,
    "organisationName": None,
    "issuedAt": None,
}


async def test_an_issued_certificate_is_verified_by_anyone_without_private_data(tmp_path, sqlite_url):
    async with rendering_server(tmp_path, sqlite_url) as server:
        # given an issued certificate of a holder whose name has an apostrophe
        _, [candidate] = await certified_candidates(server)
        await claim_ok(server, candidate, "Siobhán O'Neill")
        await approve(server, candidate)
        issued = await wait_for_status(server, candidate, "ISSUED")
        code = issued["verificationCode"]
        email = (await TestTaker.get(id=candidate.test_taker_pk)).email

        # when anyone verifies its code, without a token, with a bad token, typed in lower case or with spaces
        answers = [
            (await server.client().data(VERIFY, {"code": code}))["verifyCertificate"],
            (await server.client("not-a-jwt").data(VERIFY, {"code": code}))["verifyCertificate"],
            (await server.client().data(VERIFY, {"code": f" {code.lower()} "}))["verifyCertificate"],
            (await server.client().data(VERIFY, {"code": code.replace("-", " ")}))["verifyCertificate"],
        ]

        # then they learn the public facts, the score on its scale, and no level (the test maps none)
        scale = (await server.client().data(SCALE, {"code": code}))["verifyCertificate"]
        assert scale == {"score": 80, "scoreMax": 100, "level": None}
        expected = {
            "valid": True,
            "holderName": "Siobhán O'Neill",
            "testName": "Acme Languages English",
            "score": 80,
            "organisationName": "Acme Languages",
            "issuedAt": issued["issuedAt"],
        }
        assert answers == [expected] * 4

        # and the HTML page shows the same, escaped, with no photo and no e-mail
        page = await server.http.get(f"/verify/{code}")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert '<bdi id="holder-name">Siobhán O&#39;Neill</bdi>' in page.text
        assert '<dd id="test-name">Acme Languages English</dd>' in page.text
        assert '<dd id="score">80 / 100</dd>' in page.text
        assert 'id="level"' not in page.text  # the test maps no levels

        # when the test maps scores to levels, then the level is the one its mapping gives, everywhere
        sitting = await Sitting.get(id=candidate.sitting_pk)
        await Test.filter(id=sitting.test_id).update(cefr_mapping={"B1": 60, "B2": 75, "C1": 90})
        scale = (await server.client().data(SCALE, {"code": code}))["verifyCertificate"]
        assert scale == {"score": 80, "scoreMax": 100, "level": "B2"}
        admin = server.client(server.token(Role.ORG_ADMIN, org=sitting.organisation_id))
        node = (await admin.data(SITTING_LEVEL, {"id": candidate.sitting_id}))["node"]
        assert node == {"score": 80, "level": "B2", "test": {"scoreMax": 100}}
        page = await server.http.get(f"/verify/{code}")
        assert '<dt>Level</dt><dd id="level"><bdi dir="auto">B2</bdi></dd>' in page.text
        assert '<dd id="organisation-name">Acme Languages</dd>' in page.text
        assert f'<dd id="verification-code">{code}</dd>' in page.text
        assert "<img" not in page.text and "data:image" not in page.text
        assert email not in page.text and "@" not in page.text


async def test_any_other_code_is_not_valid(server):
    # given a certificate that is approved (it has a code) but not issued: this server does not render
    _, [candidate] = await certified_candidates(server)
    await claim_ok(server, candidate)
    approved_code = (await approve(server, candidate))["verificationCode"]

    # when unknown, malformed or not-yet-issued codes are verified
    for code in (approved_code, "AAAA-BBBB-CCCC-DDDD", "", "x" * 5000, "' OR 1=1 --", "名前"):
        answer = (await server.client().data(VERIFY, {"code": code}))["verifyCertificate"]

        # then nothing is revealed
        assert (code[:20], answer) == (code[:20], INVALID)
    page = await server.http.get(f"/verify/{approved_code}")
    assert page.status_code == 404
    assert "No valid certificate has this code" in page.text
    assert "Zoë" not in page.text


async def test_the_page_escapes_whatever_is_in_the_url(server):
    # when the code in the URL is markup
    page = await server.http.get("/verify/%3Cscript%3Ealert(1)%3Cb%20x=%22y%22%3E")

    # then it is shown as text, never as markup
    assert page.status_code == 404
    assert "<script>" not in page.text and "<b " not in page.text
    assert "<code>&lt;script&gt;alert(1)&lt;b x=&#34;y&#34;&gt;</code>" in page.text
