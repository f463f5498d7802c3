"""Verification codes: made from Crockford's base32, read back as forgivingly (resolvers/verification.py)."""

from __future__ import annotations

import re

import pytest

from resolvers.review import new_verification_code
from resolvers.verification import normalise_code


def test_a_new_code_is_four_groups_of_four_unambiguous_symbols():
    codes = {new_verification_code() for _ in range(2_000)}

    assert len(codes) == 2_000
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", code) for code in codes)


@pytest.mark.parametrize(
    "typed",
    [
        "7K3M-Q9XD-20VT-R1BN",
        " 7k3m-q9xd-20vt-r1bn ",
        "7K3MQ9XD20VTR1BN",
        "7K3M Q9XD 20VT R1BN",
        "7K3M–Q9XD–20VT–R1BN",  # en dashes, as word processors make them
        "7K3M-Q9XD-2OVT-RIBN",  # O for 0, I for 1
        "7k3m-q9xd-2ovt-rlbn",  # o for 0, l for 1
    ],
)
def test_a_code_typed_loosely_is_read_as_the_code(typed):
    assert normalise_code(typed) == "7K3M-Q9XD-20VT-R1BN"


@pytest.mark.parametrize(("typed", "read"), [("", None), ("nope!", None), ("abc", "ABC"), ("7K3M-Q9XD", "7K3M-Q9XD")])
def test_anything_else_is_only_trimmed_and_upper_cased(typed, read):
    assert normalise_code(typed) == read
