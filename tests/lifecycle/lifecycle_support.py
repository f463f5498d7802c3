"""Helpers of the lifecycle tests: the short durations they run with, and what a test taker received."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import httpx
from harness import live_server, make_settings
from prometheus_client.parser import text_string_to_metric_families
from smtp_server import SmtpServer

from models import Notification

WINDOW, LEAD = timedelta(seconds=4), timedelta(seconds=2)
"""The claim window and the one reminder lead of ``lifecycle_server`` (CERTIFY_CLAIM_WINDOW=PT4S, …=PT2S)."""


def subjects(smtp: SmtpServer, to: str) -> list[str]:
    """The subjects of the messages to ``to``, in the order the server accepted them."""
    return [
        str(email.message_from_bytes(envelope.content, policy=email.policy.default)["Subject"])
        for envelope in list(smtp.messages)
        if to in envelope.rcpt_tos
    ]


def links_in(message: email.message.EmailMessage) -> tuple[list[str], list[str]]:
    """(the URLs of the plain-text part, the hrefs of the HTML part) of a multipart/alternative e-mail."""
    plain, html = (part.get_content() for part in message.iter_parts())
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    return re.findall(r"https?://\S+", plain), re.findall(r'<a href="([^"]+)">', html)


async def kinds_of(test_taker_pk: int) -> list[str]:
    """The kinds of the test taker's notifications, oldest first."""
    return [str(n.kind) for n in await Notification.filter(test_taker_id=test_taker_pk).order_by("id")]


async def lifecycle_runs(http: httpx.AsyncClient) -> float:
    """How many lifecycle job runs succeeded in this process, as the server's ``/metrics`` counts them."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "certify_scheduled_job_runs_total" and sample.labels == {"job": "lifecycle", "result": "ok"}
    )


def lifecycle_app(tmp_path, database_url, smtp_server, *, window=WINDOW, lead=LEAD):
    """A live server (context manager): claims have ``window``, one reminder ``lead`` before, the job every
    second, e-mail to ``smtp_server``."""
    settings = make_settings(
        tmp_path,
        database_url,
        claim_window=window,
        claim_reminders=(lead,),
        scheduler_seconds=1.0,
        smtp_url=smtp_server.url,
    )
    return live_server(settings)
