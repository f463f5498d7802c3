"""The README keeps its promises: every test its "Guarantees" table names exists, every setting is in its table.

Read statically with ``ast``: a cited file must exist under ``tests/`` and a
cited ``::name`` must be a test function defined in it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"`(tests/[\w/]+\.py)((?:::\w+)?)`|`::(\w+)`")


def guarantees_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Guarantees\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def cited_tests() -> list[tuple[str, str | None]]:
    """(path, test name or None) for every citation; a bare ``::name`` belongs to the row's previous path."""
    cited = []
    for row in guarantees_section().splitlines():
        path = None
        for match in CITED.finditer(row):
            if match.group(1):
                path = match.group(1)
                cited.append((path, match.group(2)[2:] or None))
            else:
                cited.append((path, match.group(3)))
    return cited


def test_every_guarantee_names_tests_that_exist():
    cited = cited_tests()
    missing = []
    for path, name in cited:
        file = ROOT / path if path else None
        if file is None or not file.is_file():
            missing.append(f"{path}: no such file")
            continue
        if name is None:
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if name not in defined:
            missing.append(f"{path}::{name}: no such test")
    assert len(cited) >= 25
    assert missing == []


def test_every_setting_is_in_the_readmes_table():
    from server.settings import Settings

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("### Settings\n") : text.index("### Metrics and logs\n")]
    rows = [line for line in table.splitlines() if line.startswith("| `CERTIFY_")]
    assert [name for name in Settings.model_fields if f"`CERTIFY_{name.upper()}`" not in table] == []
    assert len(rows) >= 40
