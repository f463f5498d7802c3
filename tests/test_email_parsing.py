"""Every e-mail of the journey, as a standard parser reads it, and every link in it, as a person follows it.

Certify → ready-to-claim e-mail → claim (as a registered name with commas
and quotes, then in Arabic) → reject → claim again through the claim page in
Chromium → approve → issued e-mail → downloads through the downloads page in
Chromium → revoke → revoked e-mail. Each message the real SMTP server received
is parsed with ``email.policy.default``: subject and addresses exactly, a
plain-text then an HTML part with the same words and the same links, and each
link of ours answering over HTTP (LinkedIn's is the API's ``addToLinkedInUrl``). The test's long name mixes scripts, so subjects fold
and are encoded.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.headerregistry import Address
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from builders import CREATE_ORGANISATION, CREATE_VALID_TEST, PURCHASE_CREDITS, RECORD_SITTINGS, sitting_row
from certificate_flow import (
    REJECT,
    approve,
    certify_all,
    path_of,
    portrait,
    rendering_server,
    reviewer,
    send_claim,
    wait_for,
    wait_for_status,
)
from harness import PORTRAIT, free_port
from playwright.async_api import async_playwright
from smtp_server import SmtpServer

from gql.ids import decode_id
from models import Certificate
from models.enums import Role
from renderer.chromium import find_chromium

SENDER_NAME = 'Certify, on behalf of "Acme"'
SENDER = '"Certify, on behalf of \\"Acme\\"" <no-reply@certify.example.test>'
ORGANISATION = "Acme & <Partners> Languages"
TEST = "日本語能力試験 上級 — English for Academic Purposes (Advanced, Listening & Speaking) 🎓"
REGISTERED = 'Smith, Anne-Marie "Annie" O\'Neil'
FIRST_CLAIM = "سارا احمدی"
SECOND_CLAIM = "Zoë Nguyễn-Ångström"
ADDRESS = "annie@example.com"
REJECTION = "The photo is blurred <b>& too dark</b>."
REVOCATION = "Issued by mistake."
REVOKE = """
mutation($id: ID!, $reason: String!) {
  revokeCertificate(input: {certificateId: $id, reason: $reason}) { certificate { status } errors { code } }
}
"""
URL = re.compile(r"https?://\S+")
LINKEDIN = "query($id: ID!) { node(id: $id) { ... on Certificate { addToLinkedInUrl } } }"


@pytest.fixture
def smtp_server():
    server = SmtpServer(port=free_port())
    server.start()
    yield server
    server.stop()


class _Html(HTMLParser):
    """The hrefs of an HTML part and its text, white space collapsed."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.texts: list[str] = []
        self._in_head = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self._in_head = True
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])

    def handle_endtag(self, tag):
        if tag == "head":
            self._in_head = False

    def handle_data(self, data):
        if not self._in_head:
            self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())


async def one_candidate(server):
    """An organisation with one certifiable sitting of ``REGISTERED``, certified: (its pk, the candidate)."""
    platform = server.platform()
    org = (await platform.data(CREATE_ORGANISATION, {"name": ORGANISATION}))["createOrganisation"]["organisation"]["id"]
    test = (await platform.data(CREATE_VALID_TEST, {"name": TEST, "months": 24}))["createTest"]["test"]["id"]
    await platform.data(PURCHASE_CREDITS, {"org": org, "credits": 1, "ref": "mail-initial"})
    row = sitting_row(org, test, 1, email=ADDRESS, name=REGISTERED)
    assert (await platform.data(RECORD_SITTINGS, {"rows": [row]}))["recordSittings"]["errors"] == []
    [candidate] = await certify_all(server, decode_id(org, "Organisation"), key="mail")
    return decode_id(org, "Organisation"), candidate


def received(smtp: SmtpServer) -> list[email.message.EmailMessage]:
    """Every message the SMTP server accepted, in order, as ``email.policy.default`` parses its bytes."""
    return [email.message_from_bytes(e.original_content, policy=email.policy.default) for e in list(smtp.messages)]


def parts_of(message: email.message.EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a multipart/alternative message whose parts are exactly text/plain, then text/html."""
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    return parts[0].get_content().replace("\r\n", "\n"), parts[1].get_content()


def links_of(message: email.message.EmailMessage) -> list[str]:
    """The links of the message, the same in its plain text and its HTML (hrefs and the words shown)."""
    plain, html = parts_of(message)
    page = _Html(html)
    assert page.text == " ".join(plain.split())
    assert URL.findall(plain) == page.hrefs == URL.findall(page.text)
    return page.hrefs


async def in_chromium(server, path: str, token: str, act):
    """Open ``path`` on the server in real Chromium, signed in with ``token`` by the URL fragment; ``act(page)``."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=find_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{server.url}{path}#access_token={token}")
            return await act(page)
        finally:
            await browser.close()


async def claim_in_page(page) -> str:
    await page.wait_for_selector("#claim-form", state="visible")
    assert await page.text_content("#test-name") == TEST
    await page.fill("#holder-name", SECOND_CLAIM)
    await page.set_input_files("#photo", str(PORTRAIT))
    await page.click("#claim-form button")
    await page.locator("#message", has_text="reviewing").wait_for()
    return await page.text_content("#message")


async def download_links(page) -> dict:
    await page.wait_for_selector("#downloads", state="visible")
    return {
        "test": await page.text_content("#test-name"),
        "holder": await page.text_content("#holder-name"),
        "pdf": await page.get_attribute("#pdf-link", "href"),
        "png": await page.get_attribute("#png-link", "href"),
        "fragment": await page.evaluate("location.hash"),
    }


@pytest.mark.chromium
async def test_every_email_of_the_journey_parses_exactly_and_its_links_answer(tmp_path, database_url, smtp_server):
    async with rendering_server(tmp_path, database_url, smtp_url=smtp_server.url, smtp_from=SENDER) as server:
        public_url = server.settings.public_url
        # given a certified sitting: the ready-to-claim e-mail
        organisation_pk, candidate = await one_candidate(server)
        token = candidate.client.token
        claim_link = f"{public_url}/claim/{candidate.sitting_id}"
        downloads_link = f"{public_url}/certificates/{candidate.certificate_id}"
        await wait_for(lambda: _count(smtp_server, 1))

        # when the test taker claims in Arabic and the reviewer rejects it
        first = await send_claim(server, candidate, name=FIRST_CLAIM, photo=portrait())
        assert first["errors"] == []
        rejected = await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": REJECTION})
        assert rejected["rejectCertificate"]["errors"] == []
        await wait_for(lambda: _count(smtp_server, 2))

        # then the rejection's claim link opens the claim page with the sitting's ID, which claims again
        [ready, rejection] = received(smtp_server)
        assert links_of(ready) == links_of(rejection) == [claim_link]
        page = await server.http.get(urlsplit(claim_link).path)
        assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
        assert f'data-id="{candidate.sitting_id}"' in page.text  # for the page's module, never shown
        assert page.text.count(candidate.sitting_id) == 1
        said = await in_chromium(server, urlsplit(claim_link).path, token, claim_in_page)
        assert said == "Your claim has been sent: our security team is reviewing it."
        assert (await Certificate.get(id=candidate.certificate_pk)).holder_name == SECOND_CLAIM

        # when the reviewer approves and the certificate is rendered
        await approve(server, candidate)
        issued = await wait_for_status(server, candidate, "ISSUED")
        verify_link = f"{public_url}/verify/{issued['verificationCode']}"
        await wait_for(lambda: _count(smtp_server, 3))

        # then the issued e-mail links to the downloads page, the verification page, the signed credential
        # and LinkedIn's add-to-profile link (external: the API's addToLinkedInUrl)
        issued_email = received(smtp_server)[2]
        credential_link = f"{public_url}/credentials/{issued['verificationCode']}"
        linkedin = (await candidate.client.data(LINKEDIN, {"id": candidate.certificate_id}))["node"]["addToLinkedInUrl"]
        assert links_of(issued_email) == [downloads_link, verify_link, credential_link, linkedin]
        credential = await server.http.get(urlsplit(credential_link).path)
        assert (credential.status_code, credential.headers["content-type"]) == (200, "application/vc+ld+json")
        shown = await in_chromium(server, urlsplit(downloads_link).path, token, download_links)
        assert (shown["test"], shown["holder"], shown["fragment"]) == (TEST, SECOND_CLAIM, "")
        pdf = await server.http.get(path_of(shown["pdf"]))
        png = await server.http.get(path_of(shown["png"]))
        assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
        assert (png.status_code, png.headers["content-type"]) == (200, "image/png")
        page = await server.http.get(urlsplit(downloads_link).path)
        assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
        assert "/files/" not in page.text  # the page holds no signed URL: it asks for fresh ones
        verify = await server.http.get(urlsplit(verify_link).path)
        assert verify.status_code == 200 and SECOND_CLAIM in verify.text

        # when the organisation revokes it
        admin = server.client(server.token(Role.ORG_ADMIN, org=organisation_pk))
        revoked = await admin.data(REVOKE, {"id": candidate.certificate_id, "reason": REVOCATION})
        assert revoked["revokeCertificate"] == {"certificate": {"status": "REVOKED"}, "errors": []}
        await wait_for(lambda: _count(smtp_server, 4))

        # then every e-mail reads exactly, from the sender to the holder by the name it greets
        messages = received(smtp_server)
        assert [str(m["Subject"]) for m in messages] == [
            f"{REGISTERED}, your {TEST} certificate is ready to claim",
            f"{FIRST_CLAIM}, your {TEST} certificate claim needs changes",
            f"{SECOND_CLAIM}, your {TEST} certificate has been issued",
            f"{SECOND_CLAIM}, your {TEST} certificate has been revoked",
        ]
        sender = (Address(display_name=SENDER_NAME, addr_spec="no-reply@certify.example.test"),)
        assert [m["From"].addresses for m in messages] == [sender] * 4
        assert [m["To"].addresses for m in messages] == [
            (Address(display_name=name, addr_spec=ADDRESS),)
            for name in (REGISTERED, FIRST_CLAIM, SECOND_CLAIM, SECOND_CLAIM)
        ]
        assert [envelope.rcpt_tos for envelope in smtp_server.messages] == [[ADDRESS]] * 4
        assert links_of(messages[3]) == [verify_link]
        for message in messages:
            head = message.as_bytes().split(b"\n\n", 1)[0]
            assert head.isascii()
            plain, html = parts_of(message)
            assert ORGANISATION in plain and "Acme &amp; &lt;Partners&gt; Languages" in html
        assert f"\n{REJECTION}\n" in parts_of(messages[1])[0]
        assert "The photo is blurred &lt;b&gt;&amp; too dark&lt;/b&gt;." in parts_of(messages[1])[1]


async def _count(smtp: SmtpServer, n: int) -> bool:
    assert len(smtp.messages) <= n, [e.rcpt_tos for e in smtp.messages]
    return len(smtp.messages) == n
