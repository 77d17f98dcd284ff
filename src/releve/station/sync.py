"""Pulling the vault into the station: fetch, verify, decrypt, apply. Nothing pushes.

Order of trust, for every segment: the bytes are fetched into the station's own folder
(what is checked is what is applied), hashed, their minisign signature checked against
the signers of the vault config the station pinned at its first contact, the signed
descriptor checked to chain onto the station's head, and only then decrypted with the
station's identity. The checks are the vault's own (vault/chain.py), as is the reading
of a folder or a URL (vault/source.py); this module is the station's policy: what to
fetch next, the pinned config, sync.json and the index. A segment that fails any of
these is not applied and stops the sync there: the station keeps serving its last good
state and says why. A segment signed as suspect is accounted for (the chain moves on)
but its content is never adopted.

A new station, or one that fell far behind, starts from the latest full segment
(a checkpoint) instead of replaying every delta since the vault began.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from ..errors import ReleveError
from ..files import create_private, private_folder, write_atomic
from ..vault import chain
from ..vault import format as fmt
from ..vault import source as vault_source
from ..vault.chain import Listed
from ..vault.format import Config, VaultError
from ..vault.keys import KeyFileError, load_identities
from ..vault.source import Source
from . import folder
from .folder import SETTINGS_NAME
from .index.errors import StationIndexError
from .index.head import utc_text
from .index.writer import Index
from .records.lines import RecordError
from .records.parser import Parser, segment_batches


class SyncError(ReleveError):
    """A sync that stopped: the index still holds its last good state."""


# --- the station folder -------------------------------------------------------------------------


@dataclass
class Settings:
    """station.json: what an operator may tune; the rest of the folder is the station's."""

    name: str = "station"
    stale_minutes: int = 15  # pages turn to the warning colour past this age
    idle_minutes: int = 15  # sessions end after this long without a request
    timezone: str = "Europe/Paris"
    language: str = "fr"
    downtime: dict | None = None  # {"since": ISO time, "note": text} once declared

    @classmethod
    def load(cls, station_dir: Path) -> Settings:
        path = folder.settings_file(station_dir)
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError as exc:
            raise SyncError(f"{station_dir} is not a station folder (no {SETTINGS_NAME}); "
                            "create it with `releve station init`") from exc
        except orjson.JSONDecodeError as exc:
            raise SyncError(f"{path} is not valid JSON ({exc})") from exc
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, station_dir: Path) -> None:
        write_atomic(folder.settings_file(station_dir),
                     orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2) + b"\n")


def init_station(station_dir: Path, identity: Path, name: str | None = None,
                 source: Source | None = None, copy_identity: bool = True) -> Settings:
    """Create a station folder: its settings, a copy of its identity (0600) unless it is
    to stay elsewhere (then every sync is given its path), and, when a vault is given,
    the pinned vault config (otherwise it is pinned at the first sync)."""
    station_dir = Path(station_dir)
    if station_dir.exists() and any(station_dir.iterdir()):
        raise SyncError(f"{station_dir} exists and is not empty; a station is created in a "
                        "new folder")
    try:
        identities = load_identities(Path(identity))
    except KeyFileError as exc:
        raise SyncError(str(exc)) from exc
    config = None
    if source is not None:
        try:
            config = Config.parse(source.config_bytes())
        except VaultError as exc:
            raise SyncError(str(exc)) from exc
        _check_recipient(config, identities)
    private_folder(station_dir)
    if copy_identity:
        write_atomic(folder.identity_file(station_dir), Path(identity).read_bytes())
    settings = Settings(name=name or station_dir.name)
    settings.save(station_dir)
    if config is not None:
        write_atomic(folder.config_pin_file(station_dir), config.raw)
    return settings


def _check_recipient(config: Config, identities: list) -> None:
    mine = {str(identity.to_public()) for identity in identities}
    if not mine & set(config.recipients):
        raise SyncError("this station's identity is not one of the vault's recipients: it "
                        "could not decrypt anything. Use the identity whose public key was "
                        "given to `releve vault init --recipient`.")


def pinned_config(station_dir: Path, offered: bytes) -> Config:
    """The vault config this station trusts: pinned at first contact (kept in the station
    folder), then never changed (chain.check_pinned)."""
    path = folder.config_pin_file(station_dir)
    pinned = path.read_bytes() if path.exists() else None
    config = chain.check_pinned(pinned, offered, path)
    if pinned is None:
        write_atomic(path, offered)
    return config


# --- where segments come from (vault/source.py) ------------------------------------------------


def open_source(vault: str, token: str | None = None) -> Source:
    """The vault to sync from, by folder or URL (with the reader token)."""
    try:
        return vault_source.open_source(vault, token)
    except VaultError as exc:
        raise SyncError(str(exc)) from exc


# --- one sync ------------------------------------------------------------------------------------


@dataclass
class Status:
    """sync.json: what `releve station status` and every page show."""

    last_attempt: str | None = None
    last_success: str | None = None
    vault_seq: int | None = None
    error: str | None = None
    skipped: list[dict] = field(default_factory=list)  # suspect segments not adopted

    @classmethod
    def load(cls, station_dir: Path) -> Status:
        path = folder.status_file(station_dir)
        if not path.exists():
            return cls()
        data = orjson.loads(path.read_bytes())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, station_dir: Path) -> None:
        write_atomic(folder.status_file(station_dir),
                     orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2) + b"\n")


@dataclass
class Outcome:
    applied: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    records: int = 0
    behind: int = 0
    rebuilt: str | None = None  # why the index was started over (index/writer.py, Replaced)


def sync_once(station_dir: Path, source: Source, identity: Path | None = None) -> Outcome:
    """Bring the station up to the vault's head, segment by segment; raise SyncError (and
    record it in sync.json) at the first segment that is not sound. `identity`: the
    station's identity file when it is not kept in the station folder."""
    station_dir = Path(station_dir)
    Settings.load(station_dir)
    with _only_sync(station_dir):
        return _sync_recorded(station_dir, source, identity)


@contextlib.contextmanager
def _only_sync(station_dir: Path) -> Iterator[None]:
    """One sync at a time on a station: a second one (a timer's and a hand-run one, say)
    would empty the first's incoming/ and could delete the generation it is building.
    The lock is the kernel's (flock), so a sync killed with -9 holds it no longer; the
    refused sync leaves sync.json to the one that runs."""
    path = folder.lock_file(station_dir)
    create_private(path)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncError("another sync of this station is running: this one did nothing") from None
        yield
    finally:
        os.close(fd)


def _sync_recorded(station_dir: Path, source: Source, identity: Path | None) -> Outcome:
    status = Status.load(station_dir)
    status.last_attempt = utc_text()
    try:
        outcome = _sync(station_dir, source, status, _identities(station_dir, identity))
    except (SyncError, VaultError, RecordError, StationIndexError) as exc:
        status.error = str(exc)
        status.save(station_dir)
        raise SyncError(str(exc)) from exc
    status.error = None
    status.last_success = utc_text()
    status.save(station_dir)
    return outcome


def _identities(station_dir: Path, identity: Path | None) -> list:
    """The identity given to this sync, else the copy in the station folder."""
    path = identity or folder.identity_file(station_dir)
    if identity is None and not path.exists():
        raise SyncError(f"{station_dir} keeps no identity ({path.name}): give the path of the "
                        "station's identity with --identity (or RELEVE_STATION_IDENTITY)")
    return load_identities(path)


def _sync(station_dir: Path, source: Source, status: Status, identities: list) -> Outcome:
    config = pinned_config(station_dir, source.config_bytes())
    _check_recipient(config, identities)
    index = Index(station_dir, config.vault_id, config.genesis)
    incoming = folder.incoming_dir(station_dir)
    try:
        head = index.head()
        listing = source.listing(max(head.seq - 1, 0))
        if index.replaced is not None and index.replaced.head is not None:
            # starting over as a new station, but not behind what the station had seen
            chain.check_listing(index.replaced.head.seq, index.replaced.head.sha256, listing)
        pending = chain.check_listing(head.seq, head.sha256, listing)
        status.vault_seq = listing[-1].seq if listing else head.seq
        plan = _plan(head.seq, pending, config.checkpoint_interval)
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(mode=0o700)
        outcome = Outcome(behind=len(pending),
                          rebuilt=index.replaced.why if index.replaced is not None else None)
        with Parser(stage_dir=incoming) as parser:
            prev = head.sha256
            path = incoming / "segment.age"
            for position, listed in enumerate(plan):
                jump = position == 0 and listed.seq != head.seq + 1
                info = chain.fetch_checked(source, config, listed.seq, path,
                                           None if jump else prev)
                if jump and info.descriptor.kind != "full":
                    raise SyncError(f"segment {listed.seq} was listed as a checkpoint but "
                                    "its signature says otherwise")
                _account(index, info, path, identities, parser, outcome, status)
                prev = info.sha256
        return outcome
    finally:
        index.close()
        shutil.rmtree(incoming, ignore_errors=True)


def _account(index: Index, segment: fmt.SegmentInfo, path: Path, identities: list,
             parser: Parser, outcome: Outcome, status: Status) -> None:
    """Skip a suspect segment, or apply a sound one: in place for a delta, as a new
    generation for a full segment (or for anything onto an index that holds nothing)."""
    descriptor = segment.descriptor
    if descriptor.suspect is not None:
        index.skip(segment, descriptor.suspect)
        status.skipped = (status.skipped + [{"seq": segment.seq, "reason": descriptor.suspect}])[-20:]
        outcome.skipped.append(segment.seq)
    else:
        whole = descriptor.kind == "full" or index.head().state_seq == 0
        apply = index.rebuild if whole else index.apply_delta
        # a new generation takes the rows from the workers' stages (records/stages.py)
        outcome.records += apply(segment, lambda records: segment_batches(
            path, identities, descriptor, parser, records, staged=whole))
        outcome.applied.append(segment.seq)
    path.unlink(missing_ok=True)


def _plan(seq: int, pending: list[Listed], interval: int) -> list[Listed]:
    """Which segments to fetch: all of them, or from the latest checkpoint on when the
    station is new or further behind than the vault's checkpoint interval."""
    fulls = [i for i, entry in enumerate(pending) if entry.kind == "full" and not entry.suspect]
    if fulls and (seq == 0 or len(pending) > interval):
        return pending[fulls[-1]:]
    return pending


__all__ = ["sync_once", "init_station", "open_source", "Settings", "Status", "SyncError"]
