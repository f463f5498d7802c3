"""The holder's claim page (``GET /claim/{Sitting ID}``) in real Chromium against the real, rendering server:
the sitting named by its test, organisation, date and score (never its ID), the name previewed right to left,
the photo previewed and refused in the server's words beside its field, the claim followed live through
rejection, approval ("being issued") and a resubmission from the keyboard, and the downloads once issued; the
notifications marked read once shown, those arriving live shown as new; accessibility (axe-core) and the page's
Content-Security-Policy at 1280×800 and 390×844.

Every page load listens to the browser's console: an error there (a script failure, a resource refused, a
CSP violation) fails the test. Screenshots are written to ``docs/screenshots/claim-desktop.png`` and
``claim-phone.png`` when ``CERTIFY_SCREENSHOTS=1``.
"""

from __future__ import annotations

import pytest
from builders import RECORD_SITTINGS, build_world, sitting_row
from certificate_flow import (
    REJECT,
    approve,
    certified_candidates,
    claim_ok,
    png_bytes,
    rendering_server,
    reviewer,
    wait_for,
)
from harness import PORTRAIT, live_server, make_settings
from playwright.async_api import Page
from test_review_desk import DESKTOP, PHONE, axe_violations, browser_page, policy_violations, screenshot

from gql.ids import to_global_id
from models import Certificate, Notification, Sitting
from models.enums import CertificateStatus, Role

ARABIC = "ليلى حداد"
HEBREW = "יעל כהן"
EMAIL = "yael@example.com"
TEST = "Acme Languages English"
REASON = "The photo does not show the face clearly."
TINY = {"name": "tiny.png", "mimeType": "image/png", "buffer": png_bytes(40, 30)}
SENT = "Your claim has been sent: our security team is reviewing it."
APPROVED = "Your claim has been approved: your certificate is being issued. Its downloads show here when it is ready."
READY = "Your certificate is ready to claim"

pytestmark = pytest.mark.chromium


@pytest.fixture
async def server(tmp_path, sqlite_url):
    async with rendering_server(tmp_path, sqlite_url) as srv:
        yield srv


async def open_claim(page: Page, server, candidate) -> None:
    await page.goto(f"{server.url}/claim/{candidate.sitting_id}#access_token={candidate.client.token}")
    await page.locator("#live-status", has_text="Live").wait_for()
    await page.locator("#claim-form").wait_for()


async def direction(page: Page, selector: str) -> str:
    return await page.locator(selector).evaluate("element => getComputedStyle(element).direction")


async def unread(candidate) -> int:
    return await Notification.filter(test_taker_id=candidate.test_taker_pk, read_at=None).count()


async def notification_states(page: Page) -> list[tuple[str, str, str]]:
    """Each notification shown, newest first: (title, "read" or "unread", its last line)."""
    shown = await page.locator("#notifications li").evaluate_all(
        """items => items.map(item => [item.querySelector('.notification-title').textContent, item.className,
            item.querySelector('.hint').textContent.replace(/^.* UTC/, '')])"""
    )
    return [tuple(item) for item in shown]


async def saved(page: Page, selector: str) -> tuple[str, bytes]:
    """Click the link: the file name the browser saves it under, and the file's first bytes."""
    async with page.expect_download() as started:
        await page.click(selector)
    download = await started.value
    assert await download.failure() is None
    head = (await download.path()).read_bytes()[:8]
    return download.suggested_filename, head[:5] if head.startswith(b"%PDF") else head


async def no_sideways_scroll(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


async def test_a_holder_claims_in_arabic_and_follows_the_claim_live_to_the_downloads(server):
    _, (candidate,) = await certified_candidates(server, 1)
    async with browser_page(DESKTOP) as (page, problems):
        # given the claim page opened from the e-mail's link, signed in by the fragment
        await open_claim(page, server, candidate)
        assert await page.evaluate("location.hash") == ""
        assert await page.text_content("#test-name") == TEST
        # the sitting as its test taker knows it, never its opaque ID
        facts = await page.locator("#sitting-facts").evaluate(
            "dl => [...dl.children].map(child => child.textContent.trim())"
        )
        assert facts == ["Organisation", "Acme Languages", "Taken", "1 October 2026, 09:00 UTC", "Score", "80 / 100"]
        assert candidate.sitting_id not in await page.inner_text("body")
        # and the way to all of their certificates
        assert (
            await page.text_content("#to-my-certificates"),
            await page.get_attribute("#to-my-certificates", "href"),
        ) == (
            "My certificates",
            "/me",
        )
        # the "ready to claim" notification, unread until now, has been seen: marked read, and shown so
        await wait_for(lambda: unread_is(candidate, 0))
        await page.locator("#notifications li.read").wait_for()
        assert await notification_states(page) == [(READY, "read", "")]
        assert await page.text_content("#notifications-title") == "Your notifications"

        # when the holder types an Arabic name
        await page.fill("#holder-name", ARABIC)
        # then the preview prints it right to left, as the certificate's name line does
        assert await page.text_content("#preview-name") == ARABIC
        assert await direction(page, "#preview-name") == "rtl"
        assert await direction(page, "#holder-name") == "rtl"
        font = await page.locator("#name-preview").evaluate("element => getComputedStyle(element).fontFamily")
        assert font.startswith('"Noto Serif"')

        # when they choose a photo the server refuses (too small) and send the claim
        await page.set_input_files("#photo", TINY)
        assert "under 300 pixels on a side" in await page.text_content("#photo-size")
        await page.wait_for_function("() => document.getElementById('photo-preview-image')?.naturalWidth === 40")
        assert "40 × 30 pixels" in await page.text_content("#photo-size")
        await page.click("#claim-form button[type=submit]")
        # then the server's words are shown next to the photo field, which is marked invalid and focused
        error = page.locator("#photo-error")
        await error.wait_for()
        assert await error.text_content() == "The photo is 40×30 pixels; each side must be at least 300 pixels."
        assert await page.evaluate("document.getElementById('photo').nextElementSibling.id") == "photo-error"
        assert await page.get_attribute("#photo", "aria-invalid") == "true"
        assert "photo-error" in await page.get_attribute("#photo", "aria-describedby")
        assert await page.evaluate("document.activeElement.id") == "photo"
        assert await page.locator("#holderName-error").count() == 0
        assert (await Certificate.get(id=candidate.certificate_pk)).status == CertificateStatus.AWAITING_CLAIM

        # when they choose their real portrait
        await page.set_input_files("#photo", str(PORTRAIT))
        await page.wait_for_function("() => document.getElementById('photo-preview-image')?.naturalWidth >= 300")
        assert await page.get_attribute("#photo-preview-image", "src") != ""
        assert (await page.get_attribute("#photo-preview-image", "src")).startswith("blob:")
        assert await page.locator("#photo-error").count() == 0  # a new photo clears the refusal of the last
        assert await page.locator("#message").count() == 1  # the shell's loading words are gone
        # then the page reads well to axe, at both sizes, and fits a phone without sideways scrolling
        assert await axe_violations(page) == []
        await page.evaluate("window.scrollTo(0, 0)")
        await screenshot(page, "claim-desktop.png")
        await page.set_viewport_size(PHONE)
        assert await no_sideways_scroll(page)
        assert await axe_violations(page) == []
        await page.set_viewport_size(DESKTOP)

        # when they send the claim
        await page.click("#claim-form button[type=submit]")
        # then the page says it is under review, and the server has the Arabic name
        await page.locator("#message", has_text=SENT).wait_for()
        assert await page.locator("#claim-form").count() == 0
        assert await page.text_content("#sent-name bdi") == ARABIC
        claimed = await Certificate.get(id=candidate.certificate_pk)
        assert (claimed.status, claimed.holder_name) == (CertificateStatus.UNDER_REVIEW, ARABIC)

        # when the security team rejects it over the API
        rejected = await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": REASON})
        assert rejected["rejectCertificate"]["errors"] == []
        # then, without a reload, the page shows the reason, the notification, and the form again with the name
        await page.locator("#rejection-reason", has_text=REASON).wait_for()
        assert "needs changes" in await page.text_content("#message")
        await page.locator("#notifications li.unread").first.wait_for()
        # (the new one shows as new while the page is open, though it is marked read as soon as it is shown)
        assert await notification_states(page) == [
            ("Your certificate claim needs changes", "unread", " · new"),
            (READY, "read", ""),
        ]
        assert await page.text_content("#notifications-title") == "Your notifications 1 new"
        await wait_for(lambda: unread_is(candidate, 0))
        assert await page.input_value("#holder-name") == ARABIC
        assert await page.text_content("#claim-form h2") == "Send your claim again"
        await page.evaluate("window.scrollTo(0, 0)")
        await screenshot(page, "claim-rejected-desktop.png")

        # when they send it again from the keyboard alone (the file chooser aside)
        await page.set_input_files("#photo", str(PORTRAIT))
        await page.focus("#holder-name")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id") == "photo"
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.type") == "submit"
        await page.keyboard.press("Enter")
        # then it is under review again
        await page.locator("#message", has_text=SENT).wait_for()
        assert await page.locator("#rejection").count() == 0

        # when it is approved and rendered
        await approve(server, candidate)
        # then, without a reload, the page shows the downloads, whose fresh signed URLs answer
        await page.locator("#downloads").wait_for(timeout=60_000)
        assert await page.text_content("#message") == "Your certificate has been issued."
        # and each download button saves its file under the certificate's name, the page staying where it is
        code = (await Certificate.get(id=candidate.certificate_pk)).verification_code
        assert await saved(page, "#pdf-link") == (f"certificate-{code}.pdf", b"%PDF-")
        assert await saved(page, "#png-link") == (f"certificate-{code}.png", b"\x89PNG\r\n\x1a\n")
        assert page.url == f"{server.url}/claim/{candidate.sitting_id}"
        assert await page.text_content("#message") == "Your certificate has been issued."
        # while "view" opens them in a new tab
        assert await page.locator(".view-links").inner_text() == "Or view them in a new tab: the PDF, the image."
        assert await page.get_attribute("#pdf-view", "target") == "_blank"
        await page.locator("#notifications li", has_text="Your certificate has been issued").wait_for()
        titles = await page.locator("#notifications .notification-title").all_text_contents()
        assert titles[1:] == ["Your certificate claim has been approved", "Your certificate claim needs changes", READY]
        await page.evaluate("window.scrollTo(0, 0)")
        await page.mouse.move(0, 0)
        await screenshot(page, "claim-issued-desktop.png")
        # and every one of them has been seen; opened again, the page shows them all as read
        await wait_for(lambda: unread_is(candidate, 0))
        await page.reload()
        await page.locator("#downloads").wait_for()
        await page.locator("#notifications li.read").nth(3).wait_for()
        assert await page.locator("#notifications li.unread").count() == 0
        assert await axe_violations(page) == []
        assert await page.context.cookies() == []
        assert await policy_violations(page) == []

        # when the holder opens the issued e-mail's downloads page
        await page.goto(f"{server.url}/certificates/{candidate.certificate_id}")
        # then it shows the same certificate with fresh links, still signed in from this tab
        await page.locator("#downloads").wait_for()
        assert (await page.text_content("#holder-name"), await page.text_content("#test-name")) == (ARABIC, TEST)
        assert await direction(page, "#holder-name") == "rtl"
        assert await saved(page, "#pdf-link") == (f"certificate-{code}.pdf", b"%PDF-")
        assert page.url == f"{server.url}/certificates/{candidate.certificate_id}"
        assert "These download links work for 15 minutes" in await page.text_content("#downloads")
        assert await page.get_attribute("#to-my-certificates", "href") == "/me"
        assert await axe_violations(page) == []
        assert await policy_violations(page) == []
        assert problems == []


async def test_on_a_phone_a_hebrew_name_previews_right_to_left_and_the_page_fits(server):
    _, (candidate,) = await certified_candidates(server, 1)
    async with browser_page(PHONE) as (page, problems):
        await open_claim(page, server, candidate)
        await page.fill("#holder-name", HEBREW)
        await page.set_input_files("#photo", str(PORTRAIT))
        await page.wait_for_function("() => document.getElementById('photo-preview-image')?.naturalWidth >= 300")
        assert await direction(page, "#preview-name") == "rtl"
        assert await no_sideways_scroll(page)
        assert await axe_violations(page) == []
        await screenshot(page, "claim-phone.png")
        assert await policy_violations(page) == []
        assert problems == []


async def unread_is(candidate, count: int) -> bool:
    return await unread(candidate) == count


async def test_an_approval_shows_live_as_being_issued(tmp_path, sqlite_url):
    # given a claim under review, on a server that does not render (so the approval stays in sight)
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        _, (candidate,) = await certified_candidates(server, 1)
        await claim_ok(server, candidate, ARABIC)
        async with browser_page(PHONE) as (page, problems):
            await page.goto(f"{server.url}/claim/{candidate.sitting_id}#access_token={candidate.client.token}")
            await page.locator("#live-status", has_text="Live").wait_for()
            await page.locator("#message", has_text=SENT).wait_for()
            # when a reviewer approves it
            await approve(server, candidate)
            # then, without a reload, the page says it is approved and being issued, and the notification is new
            await page.locator("#message", has_text=APPROVED).wait_for()
            assert await page.text_content("#message") == APPROVED
            assert await page.text_content("#progress [aria-current=step]") == "Approved, being issued"
            assert await page.text_content("#sent-name bdi") == ARABIC
            assert (await notification_states(page))[0] == (
                "Your certificate claim has been approved",
                "unread",
                " · new",
            )
            assert await axe_violations(page) == []
            assert problems == []


async def test_a_token_that_is_not_a_test_takers_is_told_so(server):
    _, (candidate,) = await certified_candidates(server, 1)
    async with browser_page(DESKTOP) as (page, problems):
        token = server.token(Role.SECURITY_REVIEWER, subject="reviewer")
        await page.goto(f"{server.url}/claim/{candidate.sitting_id}#access_token={token}")
        message = page.locator("#message", has_text="You are signed in as a security reviewer.")
        await message.wait_for()
        assert await message.text_content() == (
            "You are signed in as a security reviewer. This page is for the person who took the test: "
            "sign in with the account you took it with."
        )
        assert await page.locator("#claim-form").count() == 0
        assert await page.text_content("#own-page") == "Go to the review desk"
        assert await axe_violations(page) == []
        # when they choose to sign in with another token, the form asks for it
        await page.click("#sign-in-again")
        await page.locator("#sign-in-message", has_text="Sign in with the token for this page.").wait_for()
        assert await page.evaluate("sessionStorage.getItem('certify.token')") is None
        assert problems == []


NOT_AN_IMAGE = "This file is not an image the service accepts (JPEG or PNG)."
MB = 1024 * 1024


def multipart_posts(page: Page) -> list[str]:
    """The URLs of the multipart requests (claims) the page sends, as it sends them."""
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            "multipart/form-data" in (request.headers.get("content-type") or "") and sent.append(request.url)
        ),
    )
    return sent


async def photo_refused_beside_its_field(page: Page, message: str) -> None:
    error = page.locator("#photo-error")
    await error.wait_for()
    assert await error.text_content() == message
    assert await page.get_attribute("#photo", "aria-invalid") == "true"
    assert "photo-error" in await page.get_attribute("#photo", "aria-describedby")
    assert await page.locator("#claim-error").count() == 0


async def test_a_photo_the_server_would_refuse_is_said_beside_its_field_and_never_sent(tmp_path, sqlite_url):
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        _, (candidate,) = await certified_candidates(server, 1)
        async with browser_page(DESKTOP) as (page, problems):
            sent = multipart_posts(page)
            await open_claim(page, server, candidate)
            await page.fill("#holder-name", "Yael Cohen")
            # the hint states the server's own limit
            assert "up to 10 MB" in await page.text_content("#photo-hint")

            # when they choose a text file named like a PNG
            fake = {"name": "fake.png", "mimeType": "image/png", "buffer": b"these are words, not pixels\n"}
            await page.set_input_files("#photo", fake)
            # then the field says it is not an image the service takes, with no broken preview
            await photo_refused_beside_its_field(page, NOT_AN_IMAGE)
            assert await page.locator("#photo-preview-image").count() == 0
            assert await page.text_content("#photo-preview") == "Your photo will show here."
            # and sending does nothing but put the focus on the photo
            await page.click("#claim-form button[type=submit]")
            assert await page.evaluate("document.activeElement.id") == "photo"
            assert await axe_violations(page) == []
            await page.screenshot(path=str(tmp_path / "not-an-image.png"))

            # when they choose a 30 MB photo
            big = tmp_path / "big.jpg"
            big.write_bytes(b"\xff\xd8\xff\xe0" + bytes(30 * MB - 4))
            await page.set_input_files("#photo", str(big))
            # then the field says how large it is and what is allowed, and sending sends nothing
            await photo_refused_beside_its_field(page, "The photo is 30 MB; at most 10 MB is allowed.")
            assert await page.locator("#photo-preview-image").count() == 0
            await page.click("#claim-form button[type=submit]")
            assert await page.evaluate("document.activeElement.id") == "photo"
            await page.screenshot(path=str(tmp_path / "too-large.png"))
            assert sent == []
            assert (await Certificate.get(id=candidate.certificate_pk)).status == CertificateStatus.AWAITING_CLAIM

            # when a good photo is chosen, the refusal goes and the preview shows
            await page.set_input_files("#photo", str(PORTRAIT))
            await page.wait_for_function("() => document.getElementById('photo-preview-image')?.naturalWidth >= 300")
            assert await page.locator("#photo-error").count() == 0
            assert await page.get_attribute("#photo", "aria-invalid") is None
            assert problems == []


async def test_a_photo_too_small_or_with_too_many_pixels_is_said_beside_its_field_and_never_sent(tmp_path, sqlite_url):
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        _, (candidate,) = await certified_candidates(server, 1)
        async with browser_page(DESKTOP) as (page, problems):
            sent = multipart_posts(page)
            await open_claim(page, server, candidate)
            await page.fill("#holder-name", "Yael Cohen")
            # the hint states every limit the server applies, the megapixels too
            assert await page.inner_text("#photo-hint") == (
                "Head and shoulders, facing the camera, on a plain background; at least 300 pixels on each side and "
                "at most 40 megapixels, up to 10 MB. Crop it so that your face fills the middle of the frame."
            )
            for photo, message in (
                (png_bytes(120, 120), "The photo is 120×120 pixels; each side must be at least 300 pixels."),
                (
                    png_bytes(8000, 6000),
                    "The photo has too many pixels (48 megapixels); at most 40 megapixels are allowed.",
                ),
            ):
                # when they choose a photo under the smallest side, or over the most pixels, and send the claim
                await page.set_input_files("#photo", {"name": "photo.png", "mimeType": "image/png", "buffer": photo})
                # then the field says so in the server's words, and sending only puts the focus on the photo
                await page.locator("#photo-error", has_text=message).wait_for()
                await photo_refused_beside_its_field(page, message)
                await page.click("#claim-form button[type=submit]")
                assert await page.evaluate("document.activeElement.id") == "photo"
            assert sent == []
            assert (await Certificate.get(id=candidate.certificate_pk)).status == CertificateStatus.AWAITING_CLAIM
            assert problems == []


async def test_a_name_cut_to_the_fields_limit_is_said_beside_it(tmp_path, sqlite_url):
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        _, (candidate,) = await certified_candidates(server, 1)
        async with browser_page(DESKTOP) as (page, problems):
            await open_claim(page, server, candidate)
            assert await page.locator("#holder-name-limit").count() == 0
            # when a 305-character name is pasted into the field
            await page.click("#holder-name")
            await page.keyboard.insert_text("Yael Cohen " * 27 + "Abcdefgh")  # 305 characters
            # then 100 characters are kept, and the field says the rest was not
            said = page.locator("#holder-name-limit")
            await said.wait_for()
            assert len(await page.input_value("#holder-name")) == 100
            assert await said.text_content() == "Names are at most 100 characters; the rest was not kept."
            assert "holder-name-limit" in await page.get_attribute("#holder-name", "aria-describedby")
            # and when the name is made shorter, the words go
            await page.keyboard.press("Backspace")
            await said.wait_for(state="detached")
            assert problems == []


async def test_the_servers_refusal_of_the_whole_upload_is_said_beside_the_photo(tmp_path, sqlite_url):
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        _, (candidate,) = await certified_candidates(server, 1)
        async with browser_page(DESKTOP) as (page, problems):
            await open_claim(page, server, candidate)
            await page.fill("#holder-name", "Yael Cohen")
            await page.set_input_files("#photo", str(PORTRAIT))
            await page.wait_for_function("() => document.getElementById('photo-preview-image')?.naturalWidth >= 300")
            # given a claim whose request reaches the server larger than it takes (the epilogue padded to 26 MB)
            padding = b"\r\n" + b"x" * (26 * MB)

            async def pad(route):
                await route.continue_(post_data=route.request.post_data_buffer + padding)

            await page.route("**/graphql", pad)
            # when it is sent, then the server's 413 is said beside the photo, as a sentence
            await page.click("#claim-form button[type=submit]")
            await page.locator("#photo-error").wait_for()
            said = await page.text_content("#photo-error")
            assert said.startswith("The photo could not be sent: the request body is ")
            assert said.endswith("; at most 25 MB is allowed.")
            await photo_refused_beside_its_field(page, said)
            assert await page.evaluate("document.activeElement.id") == "photo"
            assert (await Certificate.get(id=candidate.certificate_pk)).status == CertificateStatus.AWAITING_CLAIM
            assert problems == [] or all("413" in problem for problem in problems)


async def test_a_reason_without_a_full_stop_is_ended_on_the_page_and_in_the_notification(tmp_path, sqlite_url):
    reason = "Photo is of someone else — שלום"
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        _, (candidate,) = await certified_candidates(server, 1)
        await claim_ok(server, candidate, HEBREW)
        rejected = await reviewer(server).data(REJECT, {"id": candidate.certificate_id, "reason": reason})
        assert rejected["rejectCertificate"]["errors"] == []
        async with browser_page(DESKTOP) as (page, problems):
            await open_claim(page, server, candidate)
            # then the reason is a sentence of its own, on the page and in the notification
            assert await page.text_content("#rejection-reason") == f"{reason}."
            body = page.locator("#notifications li", has_text="needs changes").locator(".notification-body")
            assert await body.text_content() == (
                "Your claim for the Acme Languages English certificate was not approved. The reason given: "
                f"“{reason}.” You can correct your name or photo and submit it again."
            )
            assert await axe_violations(page) == []
            assert problems == []


async def test_a_sitting_without_a_certificate_says_why_as_my_certificates_does(tmp_path, sqlite_url):
    async with live_server(make_settings(tmp_path, sqlite_url)) as server:
        platform = server.platform()
        world = await build_world(platform, sittings=0, credits=0)
        rows = [
            sitting_row(world.organisation_id, world.test_id, 0, score=40, email=EMAIL),
            sitting_row(world.organisation_id, world.test_id, 1, photo="FAILED", email=EMAIL),
            sitting_row(world.organisation_id, world.test_id, 2, email=EMAIL),
            sitting_row(world.organisation_id, world.test_id, 3, email=EMAIL),
        ]
        assert (await platform.data(RECORD_SITTINGS, {"rows": rows}))["recordSittings"]["errors"] == []
        sittings = [await Sitting.get(external_id=row["externalId"]) for row in rows]
        # (the third's validity has ended, as the lifecycle job marks it)
        await Sitting.filter(id=sittings[2].id).update(status="INELIGIBLE", ineligibility_reason="EXPIRED")
        token = server.token(Role.TEST_TAKER, test_taker=sittings[0].test_taker_id, subject="yael")
        said = [
            "No certificate: the score is below what this test certifies.",
            "No certificate: the photo check at the test did not pass. Ask your test centre about it.",
            "No certificate: the time this result counts for has ended.",
            "No certificate yet: your test centre has not certified this result.",
        ]
        async with browser_page(DESKTOP) as (page, problems):
            for sitting, words in zip(sittings, said, strict=True):
                # when the test taker opens the claim page of a sitting that has no certificate
                await page.goto(f"{server.url}/claim/{to_global_id('Sitting', sitting.id)}#access_token={token}")
                await page.locator("#message", has_text="No certificate").wait_for()
                # then it says why, in the words of My certificates, and links there, under a heading that fits
                assert await page.text_content("#message") == words
                assert await page.inner_text("h1") == "Your result"
                assert await page.inner_text(".claim-intro") == f"Your result for {TEST}."
                link = page.locator("#message-link")
                assert (await link.text_content(), await link.get_attribute("href")) == (
                    "See all your results in My certificates",
                    "/me",
                )
                assert await page.locator("#claim-form").count() == 0
                assert await axe_violations(page) == []
            await page.screenshot(path=str(tmp_path / "no-certificate.png"))
            # and My certificates says the same of each
            await page.goto(f"{server.url}/me")
            await page.locator(".my-sitting").nth(3).wait_for()
            statuses = await page.locator(".my-status").all_text_contents()
            assert sorted(statuses) == sorted(said)
            assert problems == []
