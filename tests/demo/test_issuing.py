"""``certify seed-demo`` as an operator runs it: the approved certificates issued by real Chromium,
two revoked, the holders of expiring ones reminded, the expired ones verifying as EXPIRED, and
``certify check`` finding nothing wrong; a second run changes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tortoise import connections

from demo.issuing import REVOCATION_REASON
from models import AuditEvent, Certificate, Notification, OutboxEmail, Reminder, Sitting, TestTaker
from models.enums import CertificateStatus, CertificationStatus, NotificationKind
from resolvers.verification import VerificationStatus, verify_certificate

ROOT = Path(__file__).resolve().parents[2]
CERTIFY = str(Path(sys.executable).parent / "certify")
SITTINGS = 1500
ISSUED_LINE = re.compile(
    r"^Issued by the seed: (\d+) issued, (\d+) of them revoked, (\d+) reminded of expiry$", re.MULTILINE
)


def certify(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([CERTIFY, *args], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)


async def counts() -> dict[str, int]:
    rows = await connections.get("default").execute_query_dict(
        "SELECT (SELECT COUNT(*) FROM certificate) AS certificates, (SELECT COUNT(*) FROM outbox_email) AS emails, "
        "(SELECT COUNT(*) FROM notification) AS notifications, (SELECT COUNT(*) FROM credit_transaction) AS ledger, "
        "(SELECT COUNT(*) FROM audit_event) AS audit"
    )
    return dict(rows[0])


async def test_seed_demo_issues_revokes_reminds_and_passes_certify_check(db, tmp_path):
    # given an empty database and data directory, configured as an operator would
    env = {
        **os.environ,
        "CERTIFY_DATABASE_URL": db,
        "CERTIFY_DATA_DIR": str(tmp_path / "data"),
        "CERTIFY_PUBLIC_URL": "http://127.0.0.1:8099",
    }

    # when the demo is seeded
    seeded = certify("seed-demo", "--sittings", str(SITTINGS), env=env)
    now = datetime.now(UTC)

    # then it says what it issued, revoked and reminded of
    assert seeded.returncode == 0, seeded.stderr
    line = ISSUED_LINE.search(seeded.stdout)
    assert line, seeded.stdout
    issued_count, revoked_count, reminded = (int(n) for n in line.groups())
    assert revoked_count == 2
    # and a signed-in link for each role that has a page, the token in the fragment
    pages = re.findall(r"^  (\w+) +https?://[^/]+(/[^#\s]*)#access_token=ey", seeded.stdout, re.MULTILINE)
    assert [(role, path.split("/")[1]) for role, path in pages] == [
        ("org_admin", "dashboard"),
        ("analyst", "dashboard"),
        ("test_taker", "me"),
        ("security_reviewer", "review"),
    ]
    # and the test taker signed in has a sitting the admin can certify and a certificate to claim already,
    # so the printed links make one journey
    said = re.search(
        r"^The test taker link signs in as (.+): certify their sitting on the dashboard", seeded.stdout, re.MULTILINE
    )
    assert said, seeded.stdout
    holder = await TestTaker.get(name=said.group(1))
    assert await Sitting.filter(test_taker=holder, status=CertificationStatus.UNSELECTED).exists()
    claimable = [CertificateStatus.AWAITING_CLAIM, CertificateStatus.REJECTED]
    assert await Certificate.filter(sitting__test_taker=holder, status__in=claimable).exists()

    # then every approved certificate was issued with its files; none waits for the server
    certificates = await Certificate.all().select_related("sitting__test")
    statuses = Counter(c.status for c in certificates)
    assert statuses[CertificateStatus.APPROVED] == 0
    assert statuses[CertificateStatus.ISSUED] + statuses[CertificateStatus.REVOKED] == issued_count >= 15
    assert statuses[CertificateStatus.REVOKED] == 2 and statuses[CertificateStatus.LAPSED] > 0
    issued = [c for c in certificates if c.status in (CertificateStatus.ISSUED, CertificateStatus.REVOKED)]
    assert all(c.pdf_key and c.png_key and c.pdf_sha256 and c.issued_at for c in issued)

    # then the two revoked: the reason, the admin, the audit row, the holder told
    revoked = [c for c in issued if c.status is CertificateStatus.REVOKED]
    assert {(c.revocation_reason, c.revoked_by) for c in revoked} == {(REVOCATION_REASON, "org_admin:demo-admin")}
    assert all(c.issued_at <= c.revoked_at <= now for c in revoked)
    audited = await AuditEvent.filter(action="revoke_certificate").values_list("object_id", flat=True)
    assert sorted(audited) == sorted(str(c.id) for c in revoked)
    told = await Notification.filter(kind=NotificationKind.CERTIFICATE_REVOKED).values_list("certificate_id", flat=True)
    assert sorted(told) == sorted(c.id for c in revoked)

    # then verification says why: EXPIRED past the sitting's validity, REVOKED, else VALID
    expected = {}
    for c in issued:
        expires = c.sitting.expires_at
        if c.status is CertificateStatus.REVOKED:
            expected[c.verification_code] = VerificationStatus.REVOKED
        elif expires is not None and expires <= now:
            expected[c.verification_code] = VerificationStatus.EXPIRED
        else:
            expected[c.verification_code] = VerificationStatus.VALID
    verified = {code: (await verify_certificate(code=code, now=now)).status for code in expected}
    assert verified == expected

    # then the score reads on its scale and the level is the test's own (a pass of a B2 test is B2)
    levels = {"English B2 Academic": "B2", "Deutsch Zertifikat B1": "B1", "Español DELE A2": "A2"}
    for c in issued:
        answer = await verify_certificate(code=c.verification_code, now=now)
        assert (answer.score_max, answer.level) == (100, levels.get(c.sitting.test.name)), c.sitting.test.name
    assert Counter(verified.values())[VerificationStatus.EXPIRED] >= 1

    # then the holders of certificates expiring within 30 days were reminded, once each
    soon = sorted(
        c.id
        for c in issued
        if c.status is CertificateStatus.ISSUED
        and c.sitting.expires_at
        and now - timedelta(minutes=5) < c.sitting.expires_at <= now + timedelta(days=30)
    )
    assert reminded == len(soon) >= 1
    expiring = Notification.filter(kind=NotificationKind.CERTIFICATE_EXPIRING)
    assert sorted(await expiring.values_list("certificate_id", flat=True)) == soon
    assert sorted(await Reminder.filter(kind="EXPIRY").values_list("certificate_id", flat=True)) == soon

    # then the e-mails of these last steps wait for the server: issued, revoked, expiring
    emails = Counter(await OutboxEmail.filter(sent_at__isnull=True).values_list("template", flat=True))
    assert emails == {"CERTIFICATE_ISSUED": issued_count, "CERTIFICATE_REVOKED": 2, "CERTIFICATE_EXPIRING": len(soon)}

    # then certify check finds every invariant holding, the issued files included
    checked = certify("check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.endswith(f"{issued_count} issued certificates, {issued_count} credentials: 0 violations\n")

    # when it is run again, then nothing changes
    before = await counts()
    again = certify("seed-demo", "--sittings", str(SITTINGS), env=env)
    assert again.returncode == 0, again.stderr
    assert "Demo data created: no" in again.stdout and "Issued by the seed: as seeded before" in again.stdout
    assert await counts() == before
