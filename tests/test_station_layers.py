"""The station's layers, read from its source with `ast`.

- Every query against the index is in the read layer (station/views/) or on the index's
  own side (station/index/, and records/stages.py and records/worker.py, the sync's
  stage side); the station's local database (station/local/) has its own SQL. web/ and
  printing/ hold none, nor do the commands.
- printing/ imports nothing from web/: what both front ends use is in views/, i18n/ and
  templates/. web/ imports printing/ only where it serves printouts: web/printouts.py (the
  PDFs of the pages' print buttons), web/binder.py (the ward binder) and
  web/rec_movements_print.py (the sheets of downtime numbers, which reserve them).
- The station folder's file names are written in folder.py alone.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

STATION = Path(__file__).resolve().parent.parent / "src" / "releve" / "station"
PACKAGE = "releve.station"

# where SQL may be written, relative to station/
SQL_ALLOWED = ("views/", "index/", "records/stages.py", "records/worker.py", "local/")
# the modules that serve printouts: the print buttons' PDFs, the ward binder's job, and
# the sheets of downtime numbers (a POST: printing them reserves the numbers)
WEB_MAY_IMPORT_PRINTING = {"web/printouts.py", "web/binder.py", "web/rec_movements_print.py"}
FOLDER_NAMES = {"station.json", "sync.json", "sync.lock", "identity.key", "vault-config.json",
                "incoming", "index", "CURRENT", "local.sqlite", ".records"}

_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|WITH|ATTACH|DETACH|"
                  r"BEGIN|COMMIT|ROLLBACK|REPLACE)\b")
_EXECUTE = {"execute", "executemany", "executescript"}


def sources() -> dict[str, ast.Module]:
    """Every module of the station, by its path relative to station/."""
    return {path.relative_to(STATION).as_posix(): ast.parse(path.read_text(), str(path))
            for path in sorted(STATION.rglob("*.py"))}


def module_name(relative: str) -> str:
    parts = relative.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def imported(relative: str, tree: ast.Module) -> set[str]:
    """The absolute names of the modules (and of the names imported from them) a module
    imports, relative imports resolved."""
    package = module_name(relative)
    if not relative.endswith("__init__.py"):
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes (prose may name a file or start with a SQL word)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def strings(tree: ast.Module) -> list[ast.Constant]:
    skip = docstrings(tree)
    return [node for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in skip]


def sql_in(tree: ast.Module) -> list[str]:
    """Where a module runs a statement or writes one: `.execute(`-like calls, and strings
    (f-strings' pieces included) that start as SQL does."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in _EXECUTE):
            found.append(f"line {node.lineno}: .{node.func.attr}(")
    for node in strings(tree):
        if _SQL.match(node.value):
            found.append(f"line {node.lineno}: {node.value[:40]!r}")
    return found


def allowed_sql(relative: str) -> bool:
    return any(relative == a or (a.endswith("/") and relative.startswith(a)) for a in SQL_ALLOWED)


# --- the checks -----------------------------------------------------------------------------------


def test_sql_is_in_the_read_layer_or_on_the_index_side_only() -> None:
    trees = sources()
    outside = {relative: found for relative, tree in trees.items()
               if not allowed_sql(relative) and (found := sql_in(tree))}
    assert outside == {}
    # the read layer is where the pages' queries are: it is not empty
    assert all(sql_in(trees[m]) for m in ("views/census.py", "views/search/names.py",
                                          "views/directory.py", "views/schedule.py",
                                          "views/summary/__init__.py", "views/summary/reader.py"))


def test_printing_imports_nothing_from_web() -> None:
    offending = {relative: sorted(n for n in imported(relative, tree)
                                  if n == f"{PACKAGE}.web" or n.startswith(f"{PACKAGE}.web."))
                 for relative, tree in sources().items() if relative.startswith("printing/")}
    assert {k: v for k, v in offending.items() if v} == {}
    assert all(node.value != "web" for relative, tree in sources().items()
               if relative.startswith("printing/") for node in strings(tree))


def test_web_imports_printing_only_to_serve_the_printouts() -> None:
    importing = {relative for relative, tree in sources().items() if relative.startswith("web/")
                 and any(n == f"{PACKAGE}.printing" or n.startswith(f"{PACKAGE}.printing.")
                         for n in imported(relative, tree))}
    assert importing == WEB_MAY_IMPORT_PRINTING


def test_the_station_folder_layout_is_named_in_folder_py_alone() -> None:
    named = {relative: sorted({n.value for n in strings(tree) if n.value in FOLDER_NAMES})
             for relative, tree in sources().items() if relative != "folder.py"}
    assert {k: v for k, v in named.items() if v} == {}


def test_the_checks_see_what_they_look_for() -> None:
    """The checks themselves, on a module that breaks each rule: they must report it."""
    tree = ast.parse('"""Select what to show."""\n'
                     "from ..web import formats\n"
                     "from .. import web\n"
                     "def f(conn, ids):\n"
                     "    marks = ','.join('?' * len(ids))\n"
                     "    return conn.execute(f'SELECT id FROM patients WHERE id IN ({marks})', ids)\n"
                     "PATH = 'sync.json'\n")
    assert len(sql_in(tree)) == 2  # the call and the f-string; not the docstring
    names = imported("printing/example.py", tree)
    assert {f"{PACKAGE}.web", f"{PACKAGE}.web.formats"} <= names
    assert {n.value for n in strings(tree)} & FOLDER_NAMES == {"sync.json"}
    assert not allowed_sql("web/pages.py") and not allowed_sql("commands.py")
    assert allowed_sql("views/summary/reader.py") and allowed_sql("index/__init__.py")
