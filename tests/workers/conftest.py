"""Fixtures for worker tests: a real SMTP server (aiosmtpd) and outbox rows to deliver.

``make_email`` needs the ``db`` fixture of tests/conftest.py (every database backend).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import pytest
from harness import free_port
from smtp_server import SmtpServer

from models import Certificate, Organisation, OutboxEmail, Sitting, Test, TestTaker
from models.enums import CertificateStatus, CertificationStatus, EmailTemplate, PhotoCheck


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server collecting messages."""
    server = SmtpServer(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server_down() -> Iterator[SmtpServer]:
    """An SMTP server on a free port that is not started yet (call ``start()``)."""
    server = SmtpServer(port=free_port())
    yield server
    server.stop()


MakeEmail = Callable[..., Awaitable[OutboxEmail]]


@pytest.fixture
def make_email(db) -> MakeEmail:
    """Factory: a certified sitting with its certificate and one due outbox row for it.

    Keyword arguments: ``name`` (registered name), ``email``, ``template``,
    ``holder_name``, ``rejection_reason``, ``verification_code``,
    ``to_address`` (defaults to ``email``), ``score``.
    """
    counter = iter(range(1, 1_000_000))

    async def make(
        *,
        name: str = "Ada Lovelace",
        email: str | None = None,
        template: EmailTemplate = EmailTemplate.CERTIFICATE_READY_TO_CLAIM,
        holder_name: str | None = None,
        rejection_reason: str | None = None,
        verification_code: str | None = None,
        to_address: str | None = None,
        score: int = 82,
    ) -> OutboxEmail:
        n = next(counter)
        email = email or f"candidate{n}@example.test"
        organisation = await Organisation.get_or_create(name="Northwind Language Centre")
        test = await Test.get_or_create(name="English B2 Academic", defaults={"min_certifiable_score": 60, "score_max": 100})
        taker = await TestTaker.create(name=name, email=email, email_key=email.casefold())
        sitting = await Sitting.create(
            external_id=f"ext-{uuid.uuid4().hex}",
            organisation=organisation[0],
            test_taker=taker,
            test=test[0],
            taken_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
            score=score,
            photo_check=PhotoCheck.PASSED,
            status=CertificationStatus.IN_PROGRESS,
        )
        status = {
            EmailTemplate.CERTIFICATE_READY_TO_CLAIM: CertificateStatus.AWAITING_CLAIM,
            EmailTemplate.CERTIFICATE_ISSUED: CertificateStatus.ISSUED,
            EmailTemplate.CERTIFICATE_REJECTED: CertificateStatus.REJECTED,
        }[template]
        certificate = await Certificate.create(
            sitting=sitting,
            status=status,
            holder_name=holder_name,
            rejection_reason=rejection_reason,
            verification_code=verification_code,
        )
        return await OutboxEmail.create(
            to_address=to_address or email,
            template=template,
            certificate=certificate,
            next_attempt_at=datetime.now(UTC),
        )

    return make
