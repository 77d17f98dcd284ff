"""The vault's format is handled in releve/vault alone (read from the imports, with `ast`).
No other package encrypts or decrypts (pyrage), signs or checks a signature
(releve.vault.minisign; but journal/keys.py, the journal's one door to the same format),
or compresses a segment (zstandard: only capture/unpack.py may use it, to read a user's
.zst input); the station and the capture reach a vault through vault/source.py and
vault/chain.py, and the capture's blocks through vault/segment.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "releve"
ZSTD_INPUT = {"releve.capture.unpack"}  # reads the user's .ndjson.zst files: input, not format
# the journal signs its entries in minisign's format too, through this one module
MINISIGN_USERS = {"releve.journal.keys"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import in `source`, relative
    ones resolved against `module`."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.append((base, alias.name))
                found.append((f"{base}.{alias.name}", None))  # `from releve.vault import minisign`
    return found


def offences(source: str, module: str, is_package: bool = False) -> list[str]:
    """What a module outside releve/vault must not import."""
    bad = []
    for target, name in imports(source, module, is_package):
        top = target.split(".")[0]
        if top == "pyrage":
            bad.append(f"{module} imports pyrage")
        if top == "zstandard" and module not in ZSTD_INPUT:
            bad.append(f"{module} imports zstandard")
        if module in MINISIGN_USERS:
            continue
        if target == "releve.vault.minisign" and name != "MinisignError":
            bad.append(f"{module} imports {name} from releve.vault.minisign")
        if target.startswith("releve.vault.minisign.") and not target.endswith(".MinisignError"):
            bad.append(f"{module} imports {target}")
        if target in ("releve.vault.read", "releve.vault.remote"):
            bad.append(f"{module} imports {target}, which no longer exists")
    return bad


def modules() -> list[tuple[str, Path]]:
    return [(module_name(path), path) for path in sorted(PACKAGE.rglob("*.py"))]


def imported_by(module: str) -> set[str]:
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    return {target for target, _ in imports(path.read_text(), module)}


def test_the_checker_sees_what_it_must_refuse():
    assert offences("import pyrage\n", "releve.station.x")
    assert offences("from pyrage import x25519\n", "releve.station.x")
    assert offences("import zstandard\n", "releve.capture.scan")
    assert not offences("import zstandard\n", "releve.capture.unpack")
    assert offences("from ..vault.minisign import Signature\n", "releve.station.sync")
    assert offences("from ..vault.minisign import SecretKey, file_digest\n", "releve.capture.writer")
    assert offences("from ..vault import minisign\n", "releve.station.sync")
    assert offences("from releve.vault.minisign import PublicKey\n", "releve.demo.x")
    assert not offences("from .vault.minisign import MinisignError\n", "releve.cli")
    assert offences("from ..vault.read import decrypt_to\n", "releve.capture.writer")


def test_no_module_outside_the_vault_handles_its_format():
    outside = [(name, path) for name, path in modules() if not name.startswith("releve.vault")]
    assert len(outside) > 20  # the walk found the package
    found = [offence for name, path in outside
             for offence in offences(path.read_text(), name, path.name == "__init__.py")]
    assert found == []


def test_station_and_capture_reach_the_vault_through_its_interface():
    sync = imported_by("releve.station.sync")
    assert {"releve.vault.chain", "releve.vault.source"} <= sync
    assert "httpx" not in sync and "hashlib" not in sync  # no HTTP client, no hashing of its own
    assert "releve.vault.segment" in imported_by("releve.station.records.parser")
    assert {"releve.vault.segment", "releve.vault.source"} <= imported_by("releve.capture.writer")
    assert {"releve.vault.segment", "releve.vault.source", "releve.vault.chain"} <= imported_by(
        "releve.capture.rebuild")
    assert "releve.vault.segment" in imported_by("releve.capture.scan")
    cli = imported_by("releve.cli.vault")
    assert {"releve.vault.source", "releve.vault.state"} <= cli
