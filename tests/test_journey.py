"""The whole journey of docs/ARCHITECTURE.md over the real app, real Chromium and each database.

Certify → claim with a real photo → reject → claim again → approve → ISSUED →
the admin downloads the PDF through its signed URL → its text has the name
and the verification code → anyone verifies it publicly.
"""

from __future__ import annotations

import hashlib
import io

from certificate_flow import (
    REJECT,
    VERIFY,
    approve,
    certificate_as,
    certified_candidates,
    claim_ok,
    path_of,
    pdf_pages,
    pdf_text,
    portrait,
    rendering_server,
    reviewer,
    send_claim,
    wait_for_status,
)
from PIL import Image

from models import Certificate, Notification, OutboxEmail
from models.enums import Role

NOTIFICATIONS = "{ notifications(first: 10) { edges { node { kind title certificate { id status } } } } }"


async def test_claim_reject_claim_again_approve_issue_download_and_verify(tmp_path, database_url):
    async with rendering_server(tmp_path, database_url) as server:
        # given a certified sitting of Acme Languages
        world, [candidate] = await certified_candidates(server)
        admin = server.client(server.token(Role.ORG_ADMIN, org=world.organisation_pk))

        # when the test taker claims with a real photo and the reviewer rejects it
        claimed = await claim_ok(server, candidate, "Zoe Nguyen")
        assert claimed["status"] == "UNDER_REVIEW"
        rejected = (
            await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": "The photo is blurred."})
        )["rejectCertificate"]
        assert rejected["errors"] == []
        assert (rejected["certificate"]["status"], rejected["certificate"]["rejectionReason"]) == (
            "REJECTED",
            "The photo is blurred.",
        )

        # then the test taker is told, and claims again with a corrected name
        kinds = [e["node"]["kind"] for e in (await candidate.client.data(NOTIFICATIONS))["notifications"]["edges"]]
        assert kinds == ["CERTIFICATE_REJECTED", "CERTIFICATE_READY_TO_CLAIM"]
        again = await send_claim(server, candidate, name="Zoë Nguyễn", photo=portrait())
        assert again["errors"] == []
        assert (again["certificate"]["status"], again["certificate"]["rejectionReason"]) == ("UNDER_REVIEW", None)

        # when the reviewer approves
        approved = await approve(server, candidate)
        assert approved["status"] in ("APPROVED", "ISSUED")
        code = approved["verificationCode"]

        # then Chromium renders it and it is ISSUED; the sitting is CERTIFIED
        issued = await wait_for_status(server, candidate, "ISSUED")
        assert issued["verificationCode"] == code
        assert issued["renderError"] is None
        assert issued["sitting"]["status"] == "CERTIFIED"

        # and the admin downloads the PDF and the PNG through their signed URLs
        as_admin = await certificate_as(admin, candidate)
        pdf = await server.http.get(path_of(as_admin["pdfUrl"]))
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"] == f'inline; filename="certificate-{code}.pdf"'
        assert pdf_pages(pdf.content) == 1
        text = pdf_text(pdf.content)
        assert "Zoë Nguyễn" in text
        assert code in text
        assert (
            hashlib.sha256(pdf.content).hexdigest() == (await Certificate.get(id=candidate.certificate_pk)).pdf_sha256
        )
        png = await server.http.get(path_of(as_admin["pngUrl"]))
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(png.content)).size == (1123, 794)

        # and anyone verifies it, without a token
        verification = (await server.client().data(VERIFY, {"code": code}))["verifyCertificate"]
        assert verification == {
            "valid": True,
            "holderName": "Zoë Nguyễn",
            "testName": "Acme Languages English",
            "score": 80,
            "organisationName": "Acme Languages",
            "issuedAt": issued["issuedAt"],
        }
        page = await server.http.get(f"/verify/{code}")
        assert page.status_code == 200
        assert "Zoë Nguyễn" in page.text and "Acme Languages English" in page.text

        # and the test taker was told in-app at each step, and by e-mail at each but the approval
        kinds = [e["node"]["kind"] for e in (await candidate.client.data(NOTIFICATIONS))["notifications"]["edges"]]
        assert kinds == [
            "CERTIFICATE_ISSUED",
            "CERTIFICATE_APPROVED",
            "CERTIFICATE_REJECTED",
            "CERTIFICATE_READY_TO_CLAIM",
        ]
        templates = sorted(
            await OutboxEmail.filter(certificate_id=candidate.certificate_pk).values_list("template", flat=True)
        )
        assert templates == ["CERTIFICATE_ISSUED", "CERTIFICATE_READY_TO_CLAIM", "CERTIFICATE_REJECTED"]
        assert await Notification.filter(test_taker_id=candidate.test_taker_pk).count() == 4
