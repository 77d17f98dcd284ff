"""The command line lives in releve/cli alone, and every error Relève raises on purpose
derives from one root, so `clear_errors` can print any of them as one line."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

from releve.errors import ReleveError

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "releve"
NOT_ERRORS = {"releve.station.web.pages.NoData",  # Starlette's HTTP answer, not a failure
              "releve.capture.writer._Duplicates"}  # the writer's signal to itself to write again


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_typer(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in ("typer", "click")
                                                for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and not node.level and \
                (node.module or "").split(".")[0] in ("typer", "click"):
            return True
    return False


def test_the_checker_sees_typer():
    assert imports_typer("import typer\n")
    assert imports_typer("def f():\n    from typer.core import TyperGroup\n")
    assert imports_typer("import click\n")
    assert not imports_typer("from .typer import x\nimport typing\n")


def test_only_the_cli_package_imports_typer():
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    assert len(modules) > 50
    outside = sorted(name for name, path in modules.items()
                     if not name.startswith("releve.cli") and imports_typer(path.read_text()))
    assert outside == []
    assert imports_typer((PACKAGE / "cli" / "__init__.py").read_text())


def error_classes() -> dict[str, type]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) \
                    and value.__module__ == name:
                found[f"{name}.{attribute}"] = value
    return found


def test_every_error_is_a_releve_error_with_an_honest_name():
    classes = error_classes()
    assert "releve.vault.keys.KeyFileError" in classes  # the walk found them
    strays = sorted(name for name, cls in classes.items()
                    if name not in NOT_ERRORS and not issubclass(cls, ReleveError))
    assert strays == []
    assert sorted(name for name in classes if name.endswith("_")) == []
    names = [name.rsplit(".", 1)[1] for name in classes]
    assert sorted({n for n in names if names.count(n) > 1}) == []  # one FhirError, not two


def test_no_component_error_catches_another_components():
    from releve.demo.system.place import DemoError
    from releve.vault.errors import VaultError

    assert not issubclass(DemoError, VaultError)
    for name, cls in error_classes().items():
        if issubclass(cls, VaultError):
            assert name.startswith("releve.vault."), name


def test_capture_help_imports_neither_demo_nor_station():
    probe = ("import sys\nfrom releve.cli import app\n"
             "try:\n    app(['capture', '--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith(('releve.demo', 'releve.station',"
             " 'releve.cli.demo', 'releve.cli.station'))))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "--signing-key" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"
