"""The demo's folder: where each component keeps its files, and the demo's settings.

    DIR/demo.json          settings chosen at the first start (sizes, HIS port, tokens), 0600
    DIR/run.json           the running demo's ports and process ids (removed at the end)
    DIR/attack.json        once `releve demo attack` has run: when, what it encrypted, its
                           backup's time, and once `releve demo restore` has run, when
    DIR/restore.json       a `releve demo restore` asking the running demo to restore the HIS,
                           then the demo's answer
    DIR/backup/his.db      the HIS's last backup, taken just before the attack encrypts it
    DIR/keys/              station identities (0600) and the capture's signing key (0600)
    DIR/his/his.db         the demo HIS's SQLite database
    DIR/vault/             the vault (a folder; with --s3, a bucket of DIR/object-store)
    DIR/object-store/      with --s3: the Ceph cluster whose radosgw holds the vault
                           (scripts/object-store), its users' keys in credentials.json, 0600
    DIR/capture/           the capture's state (high-water mark, writer state, status),
                           shared by the FHIR capture and the HL7 v2 listener (one chain)
    DIR/stations/WARD/     one downtime station per ward
    DIR/logs/NAME.log      one log per component (no patient data: see docs/demo.md)

`releve demo`, `releve demo attack`, `releve demo restore` and `releve demo status` all
read this layout, so a second run with the same DIR resumes the same hospital, vault and
stations.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from ...errors import ReleveError
from ...files import write_atomic

# (folder name, name shown on every page): one station per ward
WARDS = (("urgences", "Poste de secours Urgences"),
         ("cardiologie", "Poste de secours Cardiologie"))
# the part of the hospital each station stands for: its units' Location ids, each with
# its parts in a larger hospital (loc-card-a, loc-card-b...); see ward_staff.py
UNITS = {"urgences": ("loc-urg", "loc-uhcd"), "cardiologie": ("loc-card",)}
# (login, role, name shown): password "demo", created only by the demo
ACCOUNTS = (("admin", "admin", "Administrateur démo"),
            ("infirmiere", "nurse", "Infirmière démo"),
            ("medecin", "physician", "Médecin démo"),
            ("pharmacien", "pharmacist", "Pharmacien démo"),
            ("crise", "crisis", "Cellule de crise démo"))
PASSWORD = "demo"
SIGNER = "capture"


class DemoError(ReleveError):
    """Something the operator can fix (a port in use, a folder that is not a demo)."""


def default_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "releve" / "demo"


@dataclass
class Settings:
    """demo.json: fixed at the first start, so that a resumed demo is the same hospital."""

    beds: int = 60
    patients: int | None = None
    seed: int = 1
    his_port: int = 0  # the capture's state is bound to the HIS's URL: it never changes
    hl7_now: str | None = None  # the HL7 feed's establishment as it was at the first start
    writer_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    reader_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # with --s3 (fixed at the first start): the vault's bucket and the store's ports, which
    # its monitor's map and radosgw's configuration name, so a restart needs the same ones
    s3_bucket: str | None = None
    s3_prefix: str = "hopital/vault"
    s3_port: int = 0  # radosgw's
    s3_mon_port: int = 0

    @property
    def s3_url(self) -> str | None:
        return f"s3://{self.s3_bucket}/{self.s3_prefix}" if self.s3_bucket else None


@dataclass
class Run:
    """run.json: what `releve demo status` checks."""

    pid: int
    his_port: int
    vault_port: int
    web_ports: dict[str, int]
    capture_interval: float
    processes: dict[str, int] = field(default_factory=dict)  # component -> pid
    hl7_port: int = 0  # the HL7 v2 listener's (MLLP)


class Place:
    """Paths of one demo folder."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root else default_dir()

    keys = property(lambda self: self.root / "keys")
    his_db = property(lambda self: self.root / "his" / "his.db")
    vault = property(lambda self: self.root / "vault")
    object_store = property(lambda self: self.root / "object-store")
    capture = property(lambda self: self.root / "capture")
    logs = property(lambda self: self.root / "logs")
    settings_file = property(lambda self: self.root / "demo.json")
    run_file = property(lambda self: self.root / "run.json")
    attack_file = property(lambda self: self.root / "attack.json")
    restore_file = property(lambda self: self.root / "restore.json")
    his_backup = property(lambda self: self.root / "backup" / "his.db")

    def station(self, ward: str) -> Path:
        return self.root / "stations" / ward

    def identity(self, ward: str) -> Path:
        return self.keys / f"{ward}.key"

    @property
    def signing_key(self) -> Path:
        return self.keys / f"{SIGNER}.minisign.key"

    @property
    def public_key(self) -> Path:
        return self.keys / f"{SIGNER}.pub"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    # settings and run files

    def is_demo(self) -> bool:
        return self.settings_file.exists()

    def load_settings(self) -> Settings:
        return Settings(**read_json(self.settings_file))

    def save_settings(self, settings: Settings) -> None:
        write_json(self.settings_file, asdict(settings))

    def load_run(self) -> Run | None:
        if not self.run_file.exists():
            return None
        return Run(**read_json(self.run_file))

    def save_run(self, run: Run) -> None:
        write_json(self.run_file, asdict(run))

    def attacked(self) -> dict | None:
        return read_json(self.attack_file) if self.attack_file.exists() else None

    def require_demo(self) -> None:
        if not self.is_demo():
            raise DemoError(f"{self.root} is not a demo folder (no demo.json): start the demo "
                            f"with `releve demo --dir {self.root}`")


def read_json(path: Path) -> dict:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise DemoError(f"{path} cannot be read ({exc})") from None


def write_json(path: Path, data: dict) -> None:
    """Atomically, 0600 (demo.json holds the vault's tokens)."""
    write_atomic(path, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
