"""`Journal`: the one door to a station's downtime entries, its own and its peers'.

On screen these are the « Saisies du mode dégradé » (the « Journal d'audit » is the other
log, local/audit.py). Pages, the local FHIR API and the commands write through
`append` and read through the methods below; nothing else opens the files or the index.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .. import clock
from . import files, index, keys
from .entry import (
    IDENTIFIER_SYSTEM,
    VERSION,
    Author,
    Draft,
    Entry,
    check_link,
    check_signature,
    parse,
    seal,
    utc_text,
)
from .errors import JournalError
from .keys import PublicKey, SecretKey


@dataclass(frozen=True)
class Ingested:
    """What a pull kept of a peer's lines: entries accepted, and why it stopped, if it did."""

    station: str
    accepted: int
    refused: str | None = None


def ensure_key(station_dir: Path) -> SecretKey:
    """The station's journal key, created at first need (`station init`, or the first
    start of a station made before the journal existed), and its public half pinned."""
    path = files.journal_key(station_dir)
    try:
        key = keys.read(path)
    except FileNotFoundError:
        try:
            key = keys.create(path)
        except FileExistsError:  # another process made it first: use theirs
            key = keys.read(path)
    files.pin_key(station_dir, key.public.key_id_hex, key.public)
    return key


T = TypeVar("T")


@dataclass
class Held:
    """A patient's entries as the journal last read them, and what pages made of them."""

    entries: list[Entry]
    derived: dict[str, Any] = field(default_factory=dict)


CACHED_PATIENTS = 64  # patients whose entries are kept parsed between two page views


class Journal:
    """A station's journal: append (own entries), ingest (a peer's), read (all held)."""

    def __init__(self, station_dir: Path):
        self.dir = Path(station_dir)
        self.key = ensure_key(self.dir)
        self.station = self.key.public.key_id_hex
        self._local = threading.local()
        self._cache: dict[tuple, Held] = {}  # (patient, version) -> entries, what they gave
        self._cache_lock = threading.Lock()

    # --- the index, caught up with the files at each read ------------------------------------

    def db(self) -> sqlite3.Connection:
        """This thread's connection to the index, caught up with every held file; the
        state it was caught up to (every station's last number) is this thread's
        `version` until the next call."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = index.connect(self.dir)
        self._local.version = tuple((station, index.catch_up(conn, self.dir, station))
                                    for station in files.held_stations(self.dir))
        return conn

    # --- writing ------------------------------------------------------------------------------

    def append(self, drafts: list[Draft], author: Author, vault: dict | None = None) -> list[Entry]:
        """Write entries together (an admission is a Patient and an Encounter): signed,
        chained, fsynced, indexed. Only then may the user be told it is recorded."""
        conn = self.db()
        with files.write_lock(self.dir):
            index.catch_up(conn, self.dir, self.station)
            seq, prev, size = index.last(conn, self.station)
            entries: list[Entry] = []
            for draft in drafts:
                seq += 1
                resource = self._identified(conn, draft, entries)
                body = {"journal": VERSION, "station": self.station, "seq": seq, "prev": prev,
                        "time": utc_text(clock.now()), "author": author.as_json(), "vault": vault,
                        "kind": draft.kind, "patient": draft.patient}
                if draft.supersedes:
                    body["supersedes"] = draft.supersedes
                if draft.reason:
                    body["reason"] = draft.reason
                body["resource"] = resource
                entry = seal(body, self.key)
                entries.append(entry)
                prev = entry.hash
            size = files.append_lines(self.dir, self.station, [e.line for e in entries], size)
            index.store(conn, self.station, [index.row_of(e) for e in entries], seq, prev, size)
        return entries

    def _identified(self, conn: sqlite3.Connection, draft: Draft, batch: list[Entry]) -> dict:
        """The resource with its id and journal identifier: new ones for something new,
        the superseded entry's for a correction (so the HIS updates, never duplicates)."""
        resource = dict(draft.resource)
        if draft.supersedes:
            old = index.by_key(conn, draft.supersedes) or next(
                (e for e in batch if e.key == draft.supersedes), None)
            if old is None:
                raise JournalError(f"entry {draft.supersedes} to correct is not in the journal")
            if old.resource["resourceType"] != resource.get("resourceType"):
                raise JournalError(f"a correction of a {old.resource['resourceType']} must be one")
            resource["id"] = old.resource.get("id")
            keep = [i for i in resource.get("identifier") or []
                    if not (isinstance(i, dict) and i.get("system") == IDENTIFIER_SYSTEM)]
            resource["identifier"] = [*old.resource.get("identifier", [])[:1], *keep]
            return resource
        new = str(uuid.uuid4())
        resource["id"] = resource.get("id") or new
        resource["identifier"] = [{"system": IDENTIFIER_SYSTEM, "value": f"urn:uuid:{new}"},
                                  *(resource.get("identifier") or [])]
        return resource

    def ingest(self, station: str, public: PublicKey, lines: list[bytes]) -> Ingested:
        """Append a peer's lines after what is held of that station, each one checked:
        envelope, chain, then signatures. Lines already held are skipped; the first line
        that does not fit stops the pull with its reason, and every good line before it
        is kept."""
        files.checked_id(station)
        if station == self.station:
            raise JournalError(f"station {station} is this station: its journal is not pulled")
        files.pin_key(self.dir, station, public)
        conn = self.db()
        with files.write_lock(self.dir):
            index.catch_up(conn, self.dir, station)
            seq, prev, size = index.last(conn, station)
            good: list[Entry] = []
            refused = None
            for line in lines:
                try:
                    entry = parse(line)
                    if entry.station == station and entry.seq <= seq and not good:
                        _same_as_held(conn, entry)
                        continue
                    check_link(entry, station, seq + 1, prev)
                except JournalError as exc:
                    refused = str(exc)
                    break
                good.append(entry)
                seq, prev = entry.seq, entry.hash
            good, refused = _signed_prefix(good, public, refused)
            if good:
                size = files.append_lines(self.dir, station, [e.line for e in good], size)
                index.store(conn, station, [index.row_of(e) for e in good], good[-1].seq,
                            good[-1].hash, size)
        return Ingested(station, len(good), refused)

    # --- reading ------------------------------------------------------------------------------

    def for_patient(self, patient: str) -> list[Entry]:
        """Every entry about a patient, oldest first. Kept for the journal's next state:
        a ward reopens the same patients far more often than it writes, and parsing
        hundreds of entries at each view showed on the page. Entries are shared: their
        bodies are read, never changed."""
        return list(self._held(patient).entries)

    def derived(self, patient: str, name: str, make: Callable[[list[Entry]], T]) -> T:
        """What `make` gives from the patient's entries, made once per state of the journal
        (a page's lists and its summary's share of the entries): kept with the entries,
        dropped with them. What it gives is shared between pages: read, never changed."""
        held = self._held(patient)
        if name not in held.derived:
            held.derived[name] = make(list(held.entries))
        return held.derived[name]

    def _held(self, patient: str) -> Held:
        conn = self.db()
        key = (patient, self._local.version)
        with self._cache_lock:
            found = self._cache.get(key)
        if found is None:
            found = Held(index.for_patient(conn, patient))
            with self._cache_lock:
                self._cache[key] = found
                while len(self._cache) > CACHED_PATIENTS:
                    self._cache.pop(next(iter(self._cache)))
        return found

    def entry(self, key: str) -> Entry | None:
        return index.by_key(self.db(), key)

    def superseding(self, key: str) -> list[str]:
        return index.superseding(self.db(), key)

    def of_kind(self, kinds: tuple[str, ...]) -> list[Entry]:
        """Every held entry of these kinds, oldest first (the movements a census merges)."""
        return index.of_kind(self.db(), kinds)

    def kind_mark(self, kinds: tuple[str, ...]) -> tuple[int, int]:
        """A mark that changes whenever an entry of these kinds is held (index.kind_mark)."""
        return index.kind_mark(self.db(), kinds)

    def last(self, station: str | None = None) -> tuple[int, str]:
        seq, hash_, _ = index.last(self.db(), station or self.station)
        return seq, hash_

    def held(self) -> dict[str, tuple[int, str | None]]:
        """Per station held (this one first): entries and the time of the last one."""
        counted = index.counts(self.db())
        return {self.station: counted.pop(self.station, (0, None)), **dict(sorted(counted.items()))}

    def lines_after(self, station: str, seq: int, limit: int = 1000) -> list[bytes]:
        """A station's lines past `seq`, for a peer pulling from this station."""
        return index.lines_after(self.db(), station, seq, limit)


def _same_as_held(conn: sqlite3.Connection, entry: Entry) -> None:
    """An entry already held must come back byte for byte: two different entries under one
    number mean the station's chain was forked or altered on the way."""
    held = index.by_key(conn, entry.key)
    if held is not None and held.hash != entry.hash:
        raise JournalError(f"entry {entry.key} differs from the one held: two versions of "
                           "the same entry (refused)")


@dataclass(frozen=True)
class Chain:
    """A resource's current version and the versions it replaced, newest first."""

    entry: Entry
    earlier: tuple[Entry, ...] = ()

    def oldest_first(self) -> tuple[str, ...]:
        """The keys of the replaced versions, oldest first (as a history reads)."""
        return tuple(e.key for e in reversed(self.earlier))


@dataclass(frozen=True)
class Versions:
    """What replaced what among some entries: the one rule every page, printout and
    export reads, so that they all agree on which version of a resource is current."""

    chains: list[Chain]  # one per current entry, in the entries' order
    replaced_by: dict[str, Entry]  # a replaced entry's key -> the last entry replacing it

    def current(self) -> list[Entry]:
        return [chain.entry for chain in self.chains]


def versions(entries: list[Entry]) -> Versions:
    """The current entries (nobody replaced them), each with the versions it replaced.

    Two stations correcting the same entry leave two current versions, both kept, each
    with the shared earlier versions; `replaced_by` names the last written of the two
    (entries come oldest first)."""
    by_key = {e.key: e for e in entries}
    replaced_by: dict[str, Entry] = {}
    for entry in entries:
        if entry.supersedes:
            replaced_by[entry.supersedes] = entry
    chains = []
    for entry in entries:
        if entry.key in replaced_by:
            continue
        earlier: list[Entry] = []
        older = by_key.get(entry.supersedes or "")
        while older is not None and len(earlier) < len(entries):  # a forged loop ends
            earlier.append(older)
            older = by_key.get(older.supersedes or "")
        chains.append(Chain(entry, tuple(earlier)))
    return Versions(chains, replaced_by)


def current(entries: list[Entry]) -> list[Entry]:
    """The entries nobody replaced: the current version of each resource recorded. Two
    stations correcting the same entry leave two current versions, both shown."""
    return versions(entries).current()


def _signed_prefix(entries: list[Entry], public: PublicKey,
                   refused: str | None) -> tuple[list[Entry], str | None]:
    """The entries up to the last one whose signature holds.

    The chain links each entry to the one before through its hash, so a good signature
    on the last entry vouches for all before it: one check per batch in the usual case.
    When it fails, each is checked to keep the good ones and name the first bad one."""
    if not entries:
        return entries, refused
    try:
        check_signature(entries[-1], public)
        return entries, refused
    except JournalError:
        pass
    for position, entry in enumerate(entries):
        try:
            check_signature(entry, public)
        except JournalError as exc:
            return entries[:position], str(exc)
    return entries, refused
