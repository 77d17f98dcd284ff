"""The station folder's layout: the one module that knows which file is where.

    STATION/
      station.json        what an operator may tune (sync.Settings)
      sync.json           how the last sync went, for status and every page (sync_status.py)
      sync.lock           held (flock) by the sync that runs, so a second one stops at once
      identity.key        the station's age identity (0600)
      vault-config.json   the vault's config, pinned at the first contact
      incoming/           the segment being fetched and the parse stages: emptied by each sync
      index/              the index generations and the name of the current one:
        CURRENT             "gen-00000002.sqlite"
        gen-NNNNNNNN.sqlite (with its -wal and -shm) and gen-NNNNNNNN.records
      local.sqlite        the station's own accounts, sessions and audit log (local/)
      journal.key, journal/, journal.sqlite
                          the downtime journal: its layout is releve/journal/files.py's

Every other module asks here for a path rather than joining names itself, so the layout
can be read (and changed) in one place; docs/station.md §1 describes it for operators.
"""

from __future__ import annotations

from pathlib import Path

SETTINGS_NAME = "station.json"
STATUS_NAME = "sync.json"
LOCK_NAME = "sync.lock"
IDENTITY_NAME = "identity.key"
CONFIG_PIN = "vault-config.json"
INCOMING = "incoming"
INDEX_DIR = "index"
CURRENT_NAME = "CURRENT"
LOCAL_DB = "local.sqlite"
GENERATION_PREFIX = "gen-"
RECORDS_SUFFIX = ".records"


def settings_file(station_dir: Path | str) -> Path:
    return Path(station_dir) / SETTINGS_NAME


def status_file(station_dir: Path | str) -> Path:
    return Path(station_dir) / STATUS_NAME


def lock_file(station_dir: Path | str) -> Path:
    return Path(station_dir) / LOCK_NAME


def identity_file(station_dir: Path | str) -> Path:
    return Path(station_dir) / IDENTITY_NAME


def config_pin_file(station_dir: Path | str) -> Path:
    return Path(station_dir) / CONFIG_PIN


def incoming_dir(station_dir: Path | str) -> Path:
    return Path(station_dir) / INCOMING


def local_db(station_dir: Path | str) -> Path:
    return Path(station_dir) / LOCAL_DB


# --- index/ -------------------------------------------------------------------------------------


def index_dir(station_dir: Path | str) -> Path:
    return Path(station_dir) / INDEX_DIR


def current_file(station_dir: Path | str) -> Path:
    """The file naming the current generation (replaced atomically by a switch)."""
    return index_dir(station_dir) / CURRENT_NAME


def generation_file(station_dir: Path | str, number: int) -> Path:
    return index_dir(station_dir) / f"{GENERATION_PREFIX}{number:08d}.sqlite"


def generation_named(station_dir: Path | str, name: str) -> Path | None:
    """The generation CURRENT names, if the name is one (no path, the right suffix)."""
    if not name.endswith(".sqlite") or "/" in name:
        return None
    return index_dir(station_dir) / name


def generation_files(station_dir: Path | str) -> list[Path]:
    """Every file of every generation: databases, their -wal and -shm, record files."""
    return list(index_dir(station_dir).glob(f"{GENERATION_PREFIX}*"))


def generation_number(path: Path) -> int | None:
    """12 for gen-00000012.sqlite (or any file of that generation), None for another file."""
    digits = path.name[len(GENERATION_PREFIX):len(GENERATION_PREFIX) + 8]
    return int(digits) if path.name.startswith(GENERATION_PREFIX) and digits.isdigit() else None


def records_path(generation: Path) -> Path:
    """The record file of a generation: gen-00000001.sqlite has gen-00000001.records."""
    return generation.with_suffix(RECORDS_SUFFIX)

