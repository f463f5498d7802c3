"""schema.graphql is generated from the code; this fails when it is stale."""

from pathlib import Path

import pytest

from gql.schema import export_sdl
from gql.types import certificate, common
from models import enums
from resolvers import verification

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_schema_file_is_the_exported_sdl():
    # given the committed schema file
    committed = SCHEMA_FILE.read_text()

    # when the code exports its SDL
    exported = export_sdl()

    # then they are identical (regenerate with `certify export-schema > schema.graphql`)
    assert exported == committed


@pytest.mark.parametrize(
    ("graphql_enum", "values"),
    [
        (common.CertificateStatus, enums.CertificateStatus),
        (common.IneligibilityReason, enums.IneligibilityReason),
        (common.CreditTransactionKind, enums.CreditTransactionKind),
        (certificate.VerificationStatus, verification.VerificationStatus),
    ],
)
def test_the_graphql_enums_written_out_for_their_descriptions_have_every_value(graphql_enum, values):
    # given a GraphQL enum spelt out value by value (to describe some of them) over the values it stands for
    # then it has each of them, by the same name and in the same order, and nothing else
    assert [(member.name, str(member.value)) for member in graphql_enum] == [(v.name, str(v.value)) for v in values]
