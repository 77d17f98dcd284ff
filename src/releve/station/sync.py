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

Past those checks, three more so that the station neither adopts nor waits on a bad
segment for ever: one announced bigger than the station allows is not fetched (and a
download that grows past it stops); one that would remove too much is held until an
administrator accepts it (plausibility.py, `accept_segment`); one that is signed but
cannot be decrypted or parsed is put in the history as unreadable, and the station moves
past it at the vault's next checkpoint, as it does past a held one.

A new station, or one that fell far behind, starts from the latest full segment
(a checkpoint) instead of replaying every delta since the vault began.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from .. import clock
from ..deletions import MAX_SHARE
from ..errors import ReleveError
from ..files import create_private, private_folder, write_atomic
from ..vault import chain
from ..vault import format as fmt
from ..vault import source as vault_source
from ..vault.chain import Listed
from ..vault.format import Config, VaultError
from ..vault.keys import KeyFileError, load_identities
from ..vault.source import Source
from . import folder, plausibility, sync_status
from .folder import SETTINGS_NAME
from .index.writer import Index
from .records.lines import RecordError
from .records.parser import Parser, segment_batches
from .sync_status import KEEP, Status

MIB = 1 << 20


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
    max_removed_share: float = MAX_SHARE  # a segment removing more of the patients or of
    # the resources held is held until accepted (plausibility.py, releve/deletions.py)
    max_segment_mb: float = 8192  # a segment announced or downloading bigger is not fetched
    ward: str | None = None  # the ward this station serves (id, name or code): its landing page
    banner_seconds: int = 30  # how often an open page asks /status.json for the data's age

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
                 source: Source | None = None, copy_identity: bool = True,
                 ward: str | None = None) -> Settings:
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
    settings = Settings(name=name or station_dir.name, ward=ward)
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
class Outcome:
    applied: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    records: int = 0
    behind: int = 0
    rebuilt: str | None = None  # why the index was started over (index/writer.py, Replaced)
    held: int | None = None  # the segment held, not applied (Status.held says why)
    passed: str | None = None  # a held or unreadable segment moved past, and how


def sync_once(station_dir: Path, source: Source, identity: Path | None = None) -> Outcome:
    """Bring the station up to the vault's head, segment by segment; raise SyncError (and
    record it in sync.json) at the first segment that is not sound. `identity`: the
    station's identity file when it is not kept in the station folder."""
    station_dir = Path(station_dir)
    Settings.load(station_dir)
    with _only_sync(station_dir):
        return _sync_recorded(station_dir, source, identity)


@contextlib.contextmanager
def _only_sync(station_dir: Path, wait: bool = False) -> Iterator[None]:
    """One sync at a time on a station: a second one (a timer's and a hand-run one, say)
    would empty the first's incoming/ and could delete the generation it is building.
    The lock is the kernel's (flock), so a sync killed with -9 holds it no longer; the
    refused sync leaves sync.json to the one that runs."""
    path = folder.lock_file(station_dir)
    create_private(path)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise SyncError("another sync of this station is running: this one did nothing") from None
        yield
    finally:
        os.close(fd)


def _sync_recorded(station_dir: Path, source: Source, identity: Path | None) -> Outcome:
    status = Status.load(station_dir)
    status.last_attempt = clock.utc_text("microseconds")
    try:
        outcome = _sync(station_dir, source, status, Settings.load(station_dir),
                        _identities(station_dir, identity))
    except Exception as exc:  # whatever one round meets, it is recorded, and the next runs
        reason = failure_reason(exc)
        sync_status.failed(status, reason)
        with contextlib.suppress(OSError):  # a full disk may refuse this too: said on stderr
            status.save(station_dir)
        raise SyncError(reason) from exc
    status.error = None
    status.last_success = clock.utc_text("microseconds")
    status.save(station_dir)
    return outcome


def _identities(station_dir: Path, identity: Path | None) -> list:
    """The identity given to this sync, else the copy in the station folder."""
    path = identity or folder.identity_file(station_dir)
    if identity is None and not path.exists():
        raise SyncError(f"{station_dir} keeps no identity ({path.name}): give the path of the "
                        "station's identity with --identity (or RELEVE_STATION_IDENTITY)")
    return load_identities(path)


def failure_reason(exc: Exception) -> str:
    """What sync.json and the pages say of a failed round: Relève's own messages and the
    system's (they name segments, files and hosts, never patients); of anything else only
    its kind, as its text could hold a resource's content."""
    if isinstance(exc, (ReleveError, OSError)):
        text = str(exc)
    else:
        text = f"unexpected {type(exc).__name__}"
    return text if len(text) <= 300 else text[:299] + "…"


def _sync(station_dir: Path, source: Source, status: Status, settings: Settings,
          identities: list) -> Outcome:
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
        sync_status.forget_behind(status, head.seq)
        plan, passing = _plan(head.seq, pending, config.checkpoint_interval, status,
                              settings.max_removed_share)
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(mode=0o700)
        outcome = Outcome(behind=len(pending),
                          rebuilt=index.replaced.why if index.replaced is not None else None)
        limit = int(settings.max_segment_mb * MIB)
        with Parser(stage_dir=incoming) as parser:
            prev = head.sha256
            path = incoming / "segment.age"
            for position, listed in enumerate(plan):
                jump = position == 0 and listed.seq != head.seq + 1
                info = chain.fetch_checked(source, config, listed.seq, path,
                                           None if jump else prev, _bound(listed, limit))
                if jump and info.descriptor.kind != "full":
                    raise SyncError(f"segment {listed.seq} was listed as a checkpoint but "
                                    "its signature says otherwise")
                note = passing if position == 0 else None
                if not _account(index, info, path, identities, parser, outcome, status,
                                settings, note):
                    break  # held: what follows builds on it
                outcome.passed = outcome.passed or note
                prev = info.sha256
        sync_status.forget_behind(status, index.head().seq)
        _still_stuck(status)
        return outcome
    finally:
        index.close()
        shutil.rmtree(incoming, ignore_errors=True)


def _account(index: Index, segment: fmt.SegmentInfo, path: Path, identities: list,
             parser: Parser, outcome: Outcome, status: Status, settings: Settings,
             note: str | None) -> bool:
    """Skip a suspect segment, hold an implausible one, or apply a sound one: in place for
    a delta, as a new generation for a full segment (or for anything onto an index that
    holds nothing). False when the segment is held: the sync stops there."""
    descriptor = segment.descriptor
    if descriptor.suspect is not None:
        index.skip(segment, descriptor.suspect)
        status.skipped = (status.skipped + [{"seq": segment.seq, "reason": descriptor.suspect}])[-KEEP:]
        outcome.skipped.append(segment.seq)
        path.unlink(missing_ok=True)
        return True
    whole = descriptor.kind == "full" or index.head().state_seq == 0
    apply = index.rebuild if whole else index.apply_delta
    accepted = sync_status.accepted_note(status, segment)
    judge = None
    if accepted is None:
        share = settings.max_removed_share
        held = plausibility.holdings(index.conn, descriptor, share)
        judge = plausibility.judge_state(held, share, whole)
        reason = plausibility.judge_signed(descriptor, held, share)
        if reason is not None:
            return _hold(status, segment, reason, share, outcome, path)
    else:
        note = "; ".join(filter(None, [note, accepted]))
    try:
        # a new generation takes the rows from the workers' stages (records/stages.py)
        outcome.records += apply(segment, lambda records: segment_batches(
            path, identities, descriptor, parser, records, staged=whole), judge, note)
    except plausibility.Held as exc:
        return _hold(status, segment, exc.reason, settings.max_removed_share, outcome, path)
    except (RecordError, VaultError) as exc:  # signed, checked, yet not readable
        index.unreadable(segment, str(exc))
        sync_status.unreadable(status, segment, str(exc))
        _still_stuck(status)
    outcome.applied.append(segment.seq)
    status.held = status.accepted = None
    path.unlink(missing_ok=True)
    return True


def _hold(status: Status, segment: fmt.SegmentInfo, reason: str, share: float,
          outcome: Outcome, path: Path) -> bool:
    sync_status.hold(status, segment, reason, share)
    outcome.held = segment.seq
    path.unlink(missing_ok=True)
    return False


def _still_stuck(status: Status) -> None:
    """A sync that cannot go past an unreadable segment fails, every time, until the
    vault's next checkpoint lets it: loud, not silent."""
    bad = status.unreadable
    if bad is not None:
        raise SyncError(f"segment {bad['seq']} is signed but cannot be read ({bad['reason']}): "
                        "the station keeps its state and will move past it at the vault's "
                        "next checkpoint")


def _bound(listed: Listed, limit: int) -> int:
    """The most bytes segment `listed` may take on the station's disk: what the vault
    announced, and never more than the station's maximum (max_segment_mb)."""
    if listed.size is None:
        return limit
    if listed.size > limit:
        raise SyncError(f"segment {listed.seq} is announced as {listed.size} bytes, more than "
                        f"this station accepts ({limit} bytes: max_segment_mb in "
                        f"{SETTINGS_NAME}): not fetched")
    return listed.size


def _plan(seq: int, pending: list[Listed], interval: int, status: Status,
          share: float) -> tuple[list[Listed], str | None]:
    """Which segments to fetch: all of them, or from the latest checkpoint on when the
    station is new or further behind than the vault's checkpoint interval. Past a held
    segment (not accepted) or an unreadable one, only a later checkpoint: with the note
    its history row keeps of what was passed; none yet, then only what comes before."""
    fulls = [i for i, entry in enumerate(pending) if entry.kind == "full" and not entry.suspect]
    blocked = sync_status.blocking(status, share)
    if blocked is not None:
        at, what = blocked
        later = [i for i in fulls if pending[i].seq > at]
        if later:
            start = pending[later[-1]]
            return pending[later[-1]:], (f"adopted past {what} segment {at} (segments {at}"
                                         f"–{start.seq - 1} not applied)")
        return [entry for entry in pending if entry.seq < at], None
    if fulls and (seq == 0 or len(pending) > interval):
        return pending[fulls[-1]:], None
    return pending, None


def accept_segment(station_dir: Path, seq: int, by: str,
                   record: Callable[[dict], None]) -> dict:
    """An administrator's word that the held segment `seq` is right: `record` puts it in
    the audit log, then sync.json carries it to the next sync, which applies that very
    segment (same hash) without judging it again. Waits for a running sync to end."""
    station_dir = Path(station_dir)
    Settings.load(station_dir)
    with _only_sync(station_dir, wait=True):
        status = Status.load(station_dir)
        held = status.held
        if held is None or held.get("seq") != seq:
            what = f"segment {held['seq']} is" if held else "no segment is"
            raise SyncError(f"segment {seq} is not held ({what} held): nothing to accept")
        record(held)
        status.accepted = {"seq": seq, "sha256": held["sha256"], "by": by, "time": clock.utc_text("microseconds")}
        status.save(station_dir)
        return held


__all__ = ["sync_once", "accept_segment", "init_station", "open_source", "Settings", "Status",
           "SyncError"]
