"""Shared fixtures: real keys, real vaults, the real CLI in a subprocess, real Synthea data."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from s3_store import object_store  # noqa: F401  (the session's S3 store, a fixture)

ROOT = Path(__file__).resolve().parent.parent
SYNTHEA = ROOT / "tests" / "data" / "synthea-r4.tar.zst"
RELEVE = [sys.executable, "-m", "releve.cli"]

# The clock every test sees, in this process and in every `releve` it starts: a fixed
# winter morning, so that no test depends on the day (or the hour) it runs. The demo
# hospital of the fixtures is generated for 06:00 that day; pages read it at 10:00.
NOW = "2026-01-14T10:00:00+01:00"
os.environ["RELEVE_NOW"] = NOW


@dataclass
class Keys:
    dir: Path
    identity: Path
    recipient: str
    signing_key: Path
    public_key: Path


def run_releve(*args: str | Path, check: bool = True, input: bytes | None = None,
               env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the `releve` command line for real, as an operator would."""
    result = subprocess.run([*RELEVE, *map(str, args)], capture_output=True, input=input,
                            env={**os.environ, **(env or {})}, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"releve {' '.join(map(str, args))} failed ({result.returncode}):\n"
                             f"{result.stdout.decode(errors='replace')}\n"
                             f"{result.stderr.decode(errors='replace')}")
    return result


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    from releve.vault.keys import create_signer, create_station_identity

    folder = tmp_path / "keys"
    identity, recipient = create_station_identity(folder, "station")
    signing_key, public_key, _ = create_signer(folder, "capture")
    return Keys(folder, identity, recipient, signing_key, public_key)


@pytest.fixture
def vault_dir(tmp_path: Path, keys: Keys) -> Path:
    from releve.vault.store import LocalVault

    path = tmp_path / "vault"
    LocalVault.init(path, [keys.recipient], [str(keys.public_key)], checkpoint_interval=50)
    return path


@pytest.fixture(scope="session")
def synthea_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 100 Synthea patients of tests/data (see its README), one transaction Bundle
    per file."""
    target = tmp_path_factory.mktemp("synthea")
    with open(SYNTHEA, "rb") as raw:
        with zstandard.ZstdDecompressor().stream_reader(raw) as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                tar.extractall(target, filter="data")
    return target / "fhir"


@dataclass
class StationFixture:
    """A station synced from a real vault: the folder, and the vault and keys it came from."""

    dir: Path
    vault: Path
    keys: Keys


def _station_from(folder: Path, inputs: Path) -> StationFixture:
    """Keys, a vault, one import of `inputs`, and a station synced from it: the real path."""
    from releve.station.sync import init_station, open_source, sync_once
    from releve.vault.keys import create_signer, create_station_identity
    from releve.vault.store import LocalVault

    key_dir = folder / "keys"
    identity, recipient = create_station_identity(key_dir, "station")
    signing_key, public_key, _ = create_signer(key_dir, "capture")
    keys = Keys(key_dir, identity, recipient, signing_key, public_key)
    vault = folder / "vault"
    LocalVault.init(vault, [recipient], [str(public_key)])
    run_releve("import", "--vault", vault, "--signing-key", signing_key, "--full", inputs)
    station = folder / "station"
    init_station(station, identity, name="test", source=open_source(str(vault)))
    sync_once(station, open_source(str(vault)))
    return StationFixture(station, vault, keys)


@pytest.fixture(scope="session")
def demo_hospital_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo hospital at 40 beds (4,000 patients), its 'now' 06:00 in Paris on the
    tests' pinned day."""
    from releve.demo.hospital.generate import generate_to

    folder = tmp_path_factory.mktemp("hospital40")
    generate_to(folder, seed=1, beds=40, now=NOW[:10])  # a date alone: 06:00 that day
    return folder


@pytest.fixture(scope="session")
def demo_station(tmp_path_factory: pytest.TempPathFactory, demo_hospital_dir: Path) -> StationFixture:
    """A station holding the 40-bed demo hospital. Shared by the session: tests must not
    change its index (copy it with `copy_station` to do that)."""
    return _station_from(tmp_path_factory.mktemp("demo-station"), demo_hospital_dir)


@pytest.fixture(scope="session")
def synthea_station(tmp_path_factory: pytest.TempPathFactory, synthea_dir: Path) -> StationFixture:
    """A station holding the 100 Synthea patients (American data, US codes)."""
    return _station_from(tmp_path_factory.mktemp("synthea-station"), synthea_dir)


def copy_station(source: StationFixture, target: Path) -> StationFixture:
    """A private copy of a station folder (index, accounts, audit) for tests that write.
    Not its journal: the copy is another station, with its own key and entries."""
    import shutil

    shutil.copytree(source.dir, target, symlinks=True,
                    ignore=shutil.ignore_patterns("journal", "journal.key", "journal.sqlite*"))
    return StationFixture(target, source.vault, source.keys)


# --- Debian's Chromium, for the pages' tests in a real browser -----------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    """Chromium launched once per test file (its launch costs a second or two); each test
    opens its own context, signed out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def signed_in(browser, base: str, name: str, password: str):
    """A new page of a new context, signed in as `name`."""
    page = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.press("#password", "Enter")
    page.wait_for_load_state()
    return page
