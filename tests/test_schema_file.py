"""schema.graphql is generated from the code; this fails when it is stale."""

from pathlib import Path

from gql.schema import export_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_schema_file_is_the_exported_sdl():
    # given the committed schema file
    committed = SCHEMA_FILE.read_text()

    # when the code exports its SDL
    exported = export_sdl()

    # then they are identical (regenerate with `certify export-schema > schema.graphql`)
    assert exported == committed
