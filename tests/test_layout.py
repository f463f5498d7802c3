"""The layout of docs/ARCHITECTURE.md, checked statically: import direction, no strawberry
below gql, no import circles, module and function sizes, citations inside the repository.

Pure ``ast`` reading of the source files: nothing is imported or run. Every
failure lists each offender with its file and line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "server",
    "gql",
    "resolvers",
    "workers",
    "adapters",
    "demo",
    "subscriptions",
    "renderer",
    "credentials",
    "models",
)
# The arrows of docs/ARCHITECTURE.md, "Who imports whom"; a package may import what they reach.
ARROWS: dict[str, frozenset[str]] = {
    "server": frozenset({"gql", "workers", "demo"}),
    "gql": frozenset({"resolvers"}),
    "workers": frozenset({"resolvers", "renderer", "adapters", "models"}),
    "demo": frozenset({"resolvers", "workers"}),
    "resolvers": frozenset({"adapters", "subscriptions", "credentials", "models"}),
    "adapters": frozenset({"models"}),
    "subscriptions": frozenset({"models"}),
    "renderer": frozenset(),
    "credentials": frozenset(),
    "models": frozenset(),
}
NO_STRAWBERRY = ("resolvers", "workers", "adapters", "demo", "subscriptions", "renderer", "credentials", "models")
# Cycles are allowed only among these modules, and only through lazy imports (strawberry.lazy pairs).
LAZY_TYPES_PREFIX = "gql.types."
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
SIZE_EXEMPT = ("tests", "bench")
SKIPPED_DIRS = frozenset({".venv", ".git", ".pytest_cache", "__pycache__", "node_modules", "data"})
# Spelt in two parts so that this file does not mention them itself.
OUTSIDE_MENTIONS = ("DESIGN" + ".md", "shared" + "/")
CITATION = re.compile(r"docs/(RULES|ARCHITECTURE)\.md,\s*((?:\"[^\"]+\"(?:\s*(?:,|and)\s*)?)+)")


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target: ``module`` (dotted), where, and how (module, function or TYPE_CHECKING)."""

    source: str
    path: str
    line: int
    module: str
    kind: str

    @property
    def eager(self) -> bool:
        return self.kind == "module"

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module} ({self.kind} level)"


def _files(suffixes: tuple[str, ...]) -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts[:-1]):
            continue
        if path.is_file() and path.suffix in suffixes:
            yield path


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _our_modules() -> dict[str, Path]:
    """Every module of the nine packages by dotted name (packages by their ``__init__``)."""
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _ImportCollector(ast.NodeVisitor):
    """Imports of one module, each marked module-level, function-level or TYPE_CHECKING."""

    def __init__(self, module: str, path: str, is_package: bool):
        self.module = module
        self.path = path
        self.package = module if is_package else module.rpartition(".")[0]
        self.kinds = ["module"]
        self.found: list[Import] = []

    def _add(self, node: ast.stmt, target: str) -> None:
        self.found.append(Import(self.module, self.path, node.lineno, target, self.kinds[-1]))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        modules = _our_modules()
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(node, submodule if submodule in modules else base)

    def _nested(self, node: ast.AST, kind: str) -> None:
        self.kinds.append(kind if self.kinds[-1] == "module" else self.kinds[-1])
        self.generic_visit(node)
        self.kinds.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested(node, "function")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._nested(node, "function")

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._nested(node, "function")

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.kinds.append("TYPE_CHECKING" if self.kinds[-1] == "module" else self.kinds[-1])
        for statement in node.body:
            self.visit(statement)
        self.kinds.pop()
        for statement in node.orelse:
            self.visit(statement)


@cache
def _imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for module, path in _our_modules().items():
        collector = _ImportCollector(module, str(path.relative_to(ROOT)), path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        found.extend(collector.found)
    return tuple(dict.fromkeys(found))  # one entry per statement and target, not per imported name


def _package_of(module: str) -> str:
    return module.partition(".")[0]


def _reachable(package: str) -> frozenset[str]:
    seen: set[str] = set()
    todo = list(ARROWS[package])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(ARROWS[current])
    return frozenset(seen)


def _our_edges() -> list[Import]:
    modules = _our_modules()
    return [item for item in _imports() if item.module in modules and item.module != item.source]


def _strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (or with a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                components.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return components


def _allowed_cycle(component: list[str], imports: list[Import]) -> bool:
    """A circle of gql/types modules that only their lazy (TYPE_CHECKING / in-function) imports close."""
    if not all(member.startswith(LAZY_TYPES_PREFIX) for member in component):
        return False
    members = set(component)
    eager: dict[str, set[str]] = {}
    for item in imports:
        if item.eager and item.source in members and item.module in members:
            eager.setdefault(item.source, set()).add(item.module)
    return not _strongly_connected(sorted(members), eager)


def test_imports_flow_one_way():
    # given every import of the nine packages, at module level, in functions and under TYPE_CHECKING
    imports = _our_edges()

    # when each is compared with the arrows of docs/ARCHITECTURE.md, "Who imports whom"
    upward = [
        str(item)
        for item in imports
        if _package_of(item.module) != _package_of(item.source)
        and _package_of(item.module) not in _reachable(_package_of(item.source))
    ]

    # then none goes against them
    assert not upward, "imports against the layering (docs/ARCHITECTURE.md):\n" + "\n".join(upward)


def test_nothing_below_gql_imports_strawberry():
    # given the imports of the packages below gql
    imports = [item for item in _imports() if _package_of(item.source) in NO_STRAWBERRY]

    # then none of them is strawberry
    offenders = [str(item) for item in imports if _package_of(item.module) == "strawberry"]
    assert not offenders, "strawberry imported below gql/:\n" + "\n".join(offenders)


def test_no_import_circles():
    # given the module graph, lazy imports included
    imports = _our_edges()
    edges: dict[str, set[str]] = {}
    for item in imports:
        edges.setdefault(item.source, set()).add(item.module)

    # when its strongly connected components are found
    components = _strongly_connected(sorted(_our_modules()), edges)

    # then the only circles are gql/types pairs closed by strawberry.lazy imports
    report = []
    for component in components:
        if _allowed_cycle(component, imports):
            continue
        members = set(component)
        inside = [f"    {item}" for item in imports if item.source in members and item.module in members]
        report.append(f"circle of {len(component)} modules: {', '.join(component)}\n" + "\n".join(inside))
    assert not report, "import circles:\n" + "\n".join(report)


def _sized_files() -> Iterator[Path]:
    for path in _files((".py",)):
        if path.relative_to(ROOT).parts[0] not in SIZE_EXEMPT:
            yield path


def test_modules_are_short():
    # given every source module outside tests and benchmarks
    lengths = {path.relative_to(ROOT): len(path.read_text().splitlines()) for path in _sized_files()}

    # then none is over 400 lines
    offenders = [f"{path}: {lines} lines" for path, lines in lengths.items() if lines > MAX_MODULE_LINES]
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(offenders)


def test_functions_are_short():
    # given every function and method outside tests and benchmarks (from its def line, decorators excluded)
    offenders = []
    for path in _sized_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {lines} lines")

    # then none is over 60 lines
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)


def test_nothing_cites_files_outside_the_repository():
    # given every Python and Markdown file of the repository
    offenders = []
    for path in _files((".py", ".md")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for mention in OUTSIDE_MENTIONS:
                if mention in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {mention!r}: {line.strip()}")

    # then none mentions the design notes or the shared folder outside it (cite docs/ instead)
    assert not offenders, "mentions of files outside the repository:\n" + "\n".join(offenders)


def _headings(name: str) -> set[str]:
    text = (ROOT / "docs" / f"{name}.md").read_text()
    return {match.group(1).strip() for match in re.finditer(r"^#{1,4} (.+)$", text, re.MULTILINE)}


def test_citations_of_docs_name_existing_sections():
    # given every citation such as (docs/RULES.md, "Who sees what") in Python and Markdown files
    headings = {name: _headings(name) for name in ("RULES", "ARCHITECTURE")}
    offenders = []
    for path in _files((".py", ".md")):
        text = path.read_text()
        for match in CITATION.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            for section in re.findall(r"\"([^\"]+)\"", match.group(2)):
                if " ".join(section.split()) not in headings[match.group(1)]:
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: docs/{match.group(1)}.md has no {section!r}")

    # then each names a heading of that file
    assert not offenders, "citations of missing sections:\n" + "\n".join(offenders)


PUBLIC_STRAWBERRY = frozenset(
    {
        "strawberry",
        "strawberry.asgi",
        "strawberry.dataloader",
        "strawberry.exceptions",
        "strawberry.extensions",
        "strawberry.file_uploads",
        "strawberry.schema.config",
        "strawberry.tools",
        "strawberry.types",
    }
)
"""strawberry's documented modules; anything else of it is reached through server/strawberry_internals.py."""
STRAWBERRY_INTERNALS = "server.strawberry_internals"
TRANSPORT = frozenset({"starlette", "uvicorn", "cross_web", "websockets", "server"})


def test_every_top_level_package_has_a_place_in_the_layout():
    # given the top-level packages of the repository
    found = {
        path.parent.name
        for path in ROOT.glob("*/*.py")
        if path.parent.name not in SIZE_EXEMPT and path.parent.name not in SKIPPED_DIRS
    }
    # then each is one of the rooms of docs/ARCHITECTURE.md, so the import rules cover it
    assert found == set(PACKAGES), f"packages outside docs/ARCHITECTURE.md, \"The rooms\": {sorted(found - set(PACKAGES))}"


def test_gql_knows_no_transport():
    # given the imports of gql/
    imports = [item for item in _imports() if _package_of(item.source) == "gql"]
    # then none reaches the HTTP or websocket server
    offenders = [str(item) for item in imports if _package_of(item.module) in TRANSPORT]
    assert not offenders, "transport imported in gql/:\n" + "\n".join(offenders)


def test_strawberry_internals_are_used_in_one_module():
    # given every strawberry import outside server/strawberry_internals.py, with the names it imports
    offenders = []
    for module, path in _our_modules().items():
        if module == STRAWBERRY_INTERNALS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and _package_of(node.module or "") == "strawberry":
                names, source = [alias.name for alias in node.names], node.module
            elif isinstance(node, ast.Import):
                names, source = [], next((a.name for a in node.names if _package_of(a.name) == "strawberry"), None)
            else:
                continue
            if source is not None and (source not in PUBLIC_STRAWBERRY or any(n.startswith("_") for n in names)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {source} {names}")
    # then each is of strawberry's public modules and names
    assert not offenders, f"strawberry internals outside {STRAWBERRY_INTERNALS}:\n" + "\n".join(offenders)


def test_no_module_is_imported_by_name_at_run_time():
    # importlib.import_module and __import__ would hide an import from the checks above
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in _our_modules().values()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Attribute | ast.Name) and getattr(node, "attr", getattr(node, "id", None)) in {"import_module", "__import__"}
    ]
    assert not offenders, "dynamic imports:\n" + "\n".join(offenders)
