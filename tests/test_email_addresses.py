"""Test takers' addresses (resolvers/text.py, ``normalized_email``): its answers remembered per domain are
email-validator's own answers for the whole address, accepted or refused, for any address."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resolvers import text
from resolvers.text import normalized_email

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
LOCAL_PARTS = st.one_of(
    st.lists(st.text(ATEXT, min_size=1, max_size=24), min_size=1, max_size=4).map(".".join),
    st.text(ATEXT + '."\\ @()ü', min_size=0, max_size=70),
)
SAMPLE_DOMAINS = [
    "example.com", "EXAMPLE.com", "mail.example.org", "example.test", "localhost", "invalid", "a.onion",
    "xn--bcher-kva.de", "bücher.de", "exa_mple.com", "-example.com", "example..com", "example.com.",
    "[127.0.0.1]", "123.456", "x" * 64 + ".com", ".".join(["label" * 12] * 5), "例え.jp", "",
]  # fmt: skip
DOMAINS = st.one_of(st.sampled_from(SAMPLE_DOMAINS), st.text("abcXYZ019-._", min_size=0, max_size=30))


def validator_answer(address: str) -> tuple[str, str]:
    """("ok", the normalized address) or ("refused", email-validator's message) for ``address``."""
    try:
        return "ok", validate_email(address, check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError as exc:
        return "refused", str(exc)


def our_answer(address: str) -> tuple[str, str]:
    try:
        return "ok", normalized_email(address)
    except EmailNotValidError as exc:
        return "refused", str(exc)


@settings(max_examples=600, deadline=None)
@given(local=LOCAL_PARTS, domain=DOMAINS)
@example(local="a" * 64, domain="example.com")
@example(local="a" * 65, domain="example.com")
@example(local="first.last", domain="x" * 63 + "." + "y" * 63 + "." + "z" * 63 + ".com")
@example(local="a..b", domain="example.com")
@example(local="Zoë", domain="example.com")
def test_an_address_gets_email_validators_answer_whether_or_not_its_domain_was_seen(local, domain):
    address = f"{local}@{domain}"
    # when the address is checked with nothing remembered, then again once its domain (lowercased) and it were seen
    text._checked_domain.cache_clear()
    text._checked_email.cache_clear()
    first = our_answer(address)
    our_answer(f"someone@{domain.lower()}")
    second = our_answer(address)
    # then both are email-validator's answer for the whole address
    assert first == second == validator_answer(address)


def test_an_address_at_a_remembered_domain_is_normalized_as_email_validator_does():
    text._checked_domain.cache_clear()
    # given the domain seen once, in capitals
    assert normalized_email("First.Last@Example.COM") == "First.Last@example.com"
    # then another address at it is answered from the remembered domain, as email-validator answers it
    assert normalized_email("o'neil+cert@EXAMPLE.com") == "o'neil+cert@example.com"
    assert text._checked_domain.cache_info().hits == 1
    # and a refused domain is refused with email-validator's message for the whole address
    with pytest.raises(EmailNotValidError) as refused:
        normalized_email("someone@example.test")
    assert str(refused.value) == validator_answer("someone@example.test")[1]
