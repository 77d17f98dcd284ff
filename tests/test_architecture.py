"""The dependency rules of docs/architecture.md, checked on the source.

Every module under src/releve is parsed (not imported) and its imports of Relève modules
collected: absolute and relative, at the top or inside functions, and the
`importlib.import_module("releve....")` of a literal name. Each import must be allowed by
the layer of the importing module:

- leaves (the error root, the clock, the FHIR helpers, and the small shared utilities
  listed in LEAVES) import nothing of Relève outside themselves but the error root;
- the vault imports only itself and leaves;
- capture imports only itself, the vault and leaves;
- the station imports only itself, the vault, the journal and leaves, never capture;
- the journal imports only itself, the vault (its signatures) and leaves: the station
  writes into it, it knows the station's folder only by path;
- the way back imports only itself, the journal, the vault and leaves: it reads the
  journal and the vault and talks to the HIS; nothing but the command line imports it;
- nothing outside releve.demo imports releve.demo, and nothing imports releve.cli.
- the demo is hospital/, his/ and system/; across them only the HIS's loader imports
  the hospital's generator.

What today's code does against these rules is listed in ALLOWED, each edge with why it is
there: the list is what is left to move, and only shrinks. An edge that is in ALLOWED but
no longer in the code fails too, so that the list is kept true.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "releve"

# Modules every layer may lean on, that lean on nothing else of Relève. A package ends
# with "." and stands for itself and everything below it.
ERRORS = "releve.errors"
LEAVES = (
    ERRORS,            # the root of Relève's errors
    "releve.clock",    # the one clock (RELEVE_NOW)
    "releve.files",    # not there yet: where reading input files goes once it leaves capture
    "releve.fhir",     # FHIR knowledge shared by capture and station: bundles, refs, client
    "releve.fhir.",
    "releve.children",   # child processes that die with their parent (PR_SET_PDEATHSIG)
    "releve.memory",     # the process's memory use, for bounded batches
    "releve.collector",  # a garbage-collector pause around bulk work
    "releve.deletions",  # the mass-deletion rule capture and stations share
    "releve.serving",    # uvicorn with slow clients cut, for the vault's and the station's servers
    "releve.logs",       # the one form of the long-running processes' log lines
    "releve",          # the package itself: its docstring and __version__
)
VAULT = ("releve.vault", "releve.vault.")
CAPTURE = ("releve.capture", "releve.capture.")
STATION = ("releve.station", "releve.station.")
JOURNAL = ("releve.journal", "releve.journal.")
WAYBACK = ("releve.wayback", "releve.wayback.")
DEMO = ("releve.demo", "releve.demo.")
CLI = ("releve.cli", "releve.cli.")
MAIN = "releve.__main__"  # `python -m releve`, should it come: the one module that may import the CLI

# Imports today's code makes against the rules, (importer, imported): each is a debt,
# named here so that it stays visible and no new one joins it unnoticed.
ALLOWED: set[tuple[str, str]] = set()  # nothing left: the last two edges went with cli/


def _matches(module: str, patterns: tuple[str, ...] | str) -> bool:
    patterns = (patterns,) if isinstance(patterns, str) else patterns
    return any(module.startswith(p) if p.endswith(".") else module == p for p in patterns)


def _modules() -> dict[str, Path]:
    """Every module of the package by its dotted name."""
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(base: str, names: list[str]) -> Iterator[str]:
    """`from base import a, b`: the submodules a and b when they are modules, else base."""
    for name in names:
        yield f"{base}.{name}" if f"{base}.{name}" in MODULES else base


def imports_of(module: str, path: Path) -> set[str]:
    """The Relève modules `module` imports, wherever in the file and however spelled."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.update(_resolve(base, [alias.name for alias in node.names]))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return {name for name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def _lazy_names(path: Path) -> set[str]:
    """In a module that calls `import_module` with a name it looked up (a table of modules
    loaded when first needed), every string literal that names a module of the package."""
    tree = ast.parse(path.read_text())
    if not any(isinstance(node, ast.Attribute) and node.attr == "import_module"
               for node in ast.walk(tree)):
        return set()
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value in MODULES and node.value != PACKAGE}


def broken_rule(importer: str, imported: str) -> str | None:
    """The rule an import breaks, in words, or None when it is allowed."""
    if imported == importer or imported == ERRORS:
        return None
    if _matches(importer, CLI):
        return None  # the command line sits on top: it runs every part, the demo included
    if _matches(imported, CLI):
        return None if importer == MAIN else "nothing imports the command line"
    if _matches(imported, DEMO) and not _matches(importer, DEMO):
        return "nothing outside the demo imports the demo"
    if _matches(imported, WAYBACK) and not _matches(importer, WAYBACK + DEMO):
        return "nothing but the command line and the demo imports the way back"
    if _matches(importer, WAYBACK):
        ok = _matches(imported, WAYBACK + JOURNAL + VAULT + LEAVES)
        return None if ok else "the way back imports only itself, the journal, the vault and leaves"
    if _matches(importer, LEAVES):
        same_package = importer.startswith("releve.fhir") and imported.startswith("releve.fhir")
        return None if same_package else "a leaf imports nothing of Relève but the error root"
    if _matches(importer, VAULT):
        ok = _matches(imported, VAULT + LEAVES)
        return None if ok else "the vault imports only itself and leaves"
    if _matches(importer, CAPTURE):
        ok = _matches(imported, CAPTURE + VAULT + LEAVES)
        return None if ok else "capture imports only itself, the vault and leaves"
    if _matches(importer, STATION):
        if _matches(imported, CAPTURE):
            return "the station never imports capture"
        ok = _matches(imported, STATION + VAULT + JOURNAL + LEAVES)
        return None if ok else "the station imports only itself, the vault, the journal and leaves"
    if _matches(importer, JOURNAL):
        ok = _matches(imported, JOURNAL + VAULT + LEAVES)
        return None if ok else "the journal imports only itself, the vault and leaves"
    return None  # the demo and the command line compose the rest


def edges() -> set[tuple[str, str]]:
    """Every (importer, imported) pair of Relève modules in the source."""
    found = set()
    for module, path in MODULES.items():
        for imported in imports_of(module, path) | _lazy_names(path):
            if imported != module:
                found.add((module, imported))
    return found


def violations(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    return {pair: rule for pair in pairs if (rule := broken_rule(*pair)) is not None}


def test_the_source_is_where_the_test_looks():
    assert len(MODULES) > 50 and "releve.vault.store" in MODULES and "releve.errors" in MODULES
    assert ("releve.vault.verify", "releve.vault.chain") in edges()  # a relative import, found


def test_every_import_follows_the_dependency_rules():
    found = violations(edges())
    new = {pair: rule for pair, rule in found.items() if pair not in ALLOWED}
    assert not new, "imports against docs/architecture.md's rules:\n" + "\n".join(
        f"  {a} imports {b}: {rule}" for (a, b), rule in sorted(new.items()))


def test_the_allowed_list_holds_only_what_is_still_there():
    gone = ALLOWED - set(violations(edges()))
    assert not gone, ("no longer in the code (or no longer against a rule), remove from "
                      f"ALLOWED: {sorted(gone)}")


@pytest.mark.parametrize(("importer", "imported", "rule"), [
    ("releve.station.sync", "releve.capture.writer", "the station never imports capture"),
    ("releve.vault.store", "releve.station.index", "the vault imports only itself and leaves"),
    ("releve.vault.store", "releve.capture.files", "the vault imports only itself and leaves"),
    ("releve.fhir.client", "releve.vault.format", "a leaf imports nothing of Relève but the error root"),
    ("releve.errors", "releve.clock", "a leaf imports nothing of Relève but the error root"),
    ("releve.capture.scan", "releve.station.text", "capture imports only itself, the vault and leaves"),
    ("releve.station.index", "releve.demo.hospital.generate", "nothing outside the demo imports the demo"),
    ("releve.demo.system.run", "releve.cli", "nothing imports the command line"),
    ("releve.__main__", "releve.cli", None),
    ("releve.wayback.plan", "releve.station.views",
     "the way back imports only itself, the journal, the vault and leaves"),
    ("releve.station.web.app", "releve.wayback.plan", "nothing but the command line and the demo imports the way back"),
    ("releve.wayback.plan", "releve.journal.fates", None),
    ("releve.clock", "releve.errors", None),
    ("releve.fhir.client", "releve.fhir.bundle", None),
    ("releve.capture.writer", "releve.vault.store", None),
    ("releve.station.views.summary", "releve.fhir.refs", None),
    ("releve.cli.demo", "releve.demo.system.run", None),
    ("releve.cli.__main__", "releve.cli", None),
    ("releve.demo.system.run", "releve.station.sync", None),
])
def test_the_rules_themselves(importer, imported, rule):
    """The rules name what they must, so that a new import against them fails."""
    assert broken_rule(importer, imported) == rule


DEMO_PARTS = ("hospital", "his", "system")


def _demo_part(module: str) -> str:
    """hospital, his or system for a module of the demo; "" for any other."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and _matches(module, DEMO) else ""


def test_the_demo_is_its_three_parts():
    """demo/ holds hospital/, his/ and system/ and nothing beside them. The generated
    hospital knows neither the server nor the system; the system runs the HIS as a
    `releve demo his` process and imports neither; only the HIS's loader reads the
    hospital, to serve it."""
    assert {_demo_part(m) for m in MODULES} - {""} == set(DEMO_PARTS)
    across = {(a, b) for a, b in edges() if _demo_part(a) and _demo_part(b)
              and _demo_part(a) != _demo_part(b)}
    assert across == {("releve.demo.his.load", "releve.demo.hospital.generate")}
