"""What the segment writer has mapped so far: STATE/hl7/projection.sqlite.

The vault cannot be asked what a patient's messages produced last time, yet a message
can take back what earlier ones said (A11 cancels an admission, A40 merges a patient
into another, whose Patient must then go): the writer needs, for each patient group,
the keys ("Type/id") its mapping produced, to delete those it produces no longer. This
file keeps them, with the log sequence number mapped through and which group each
patient key belongs to (groups only grow: a merge joins two).

It also keeps what each message other than ADT (a result, an order, an appointment)
gave on its own (`Output`), so that mapping a group again does not read its whole
history again (cached.py); an output is checked against the message's bytes and the
mapping before use, so a stale one is mapped again, never trusted.

A key may be produced by several groups (a ward's Location, a practitioner): it is
deleted only when no group produces it any more.

The file is the segment writer's alone (the listener never opens it), and is written
after the segment is in the vault: a crash in between maps the same messages again,
which gives the same bytes, and the writer's dedup then writes nothing (segments.py).
If it is lost, the next interval maps every message of the log again (from sequence
0): the puts are deduplicated, only deletions of keys produced before the loss are
missed until the same group is mapped again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ...files import create_private, private_folder
from .log import FOLDER

NAME = "projection.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS member (patient TEXT PRIMARY KEY, survivor TEXT NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS produced (survivor TEXT NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (survivor, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS produced_by_key ON produced (key);
CREATE TABLE IF NOT EXISTS output (seq INTEGER PRIMARY KEY, digest BLOB NOT NULL,
    patient_id TEXT NOT NULL, event_order TEXT NOT NULL, patient TEXT,
    resources BLOB NOT NULL);
"""


@dataclass(frozen=True)
class Group:
    """Patients the messages say are one (linked by merges), under the surviving key."""

    members: frozenset[str]
    survivor: str


@dataclass(frozen=True)
class Mapped:
    """A group as one interval mapped it: the keys its messages produce now."""

    group: Group
    keys: frozenset[str]


@dataclass(frozen=True)
class Output:
    """What a message other than ADT gave on its own (a result, an order, an
    appointment), kept so that mapping its group again does not read it again
    (cached.py). Valid only for the same bytes read by the same mapping (`digest`) and
    filed under the same patient id (a merge changes it)."""

    digest: bytes  # of the mapping's fingerprint and the raw message
    patient_id: str  # the Patient id it was mapped with
    order: tuple[str, str]  # datatypes.order_key of the message
    patient: str | None  # the message's patient key (PID-3)
    resources: bytes  # the resources, a JSON array


def projection_path(state: Path) -> Path:
    return state / FOLDER / NAME


def recorded(state: Path) -> dict[str, Any]:
    """The meta values as last recorded (empty before the first), read without writing
    anything: for `releve capture status`."""
    path = projection_path(state)
    if not path.exists():
        return {}
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT name, value FROM meta").fetchall())
    finally:
        db.close()


class Projection:
    def __init__(self, state: Path):
        private_folder(state / FOLDER)
        self.path = projection_path(state)
        create_private(self.path)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- reading --------------------------------------------------------------------

    @property
    def mapped_through(self) -> int:
        """The log sequence number up to which every message is in the vault."""
        return int(self._meta("mapped_through", 0))

    def _meta(self, name: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return default if row is None else row[0]

    def survivors(self, patients: Iterable[str]) -> set[str]:
        """The groups (by their survivor as last recorded) these patients belonged to."""
        found = set()
        for patient in patients:
            row = self.db.execute("SELECT survivor FROM member WHERE patient = ?",
                                  (patient,)).fetchone()
            if row is not None:
                found.add(row[0])
        return found

    def produced(self, survivors: Iterable[str]) -> set[str]:
        """The keys these groups produced when last mapped."""
        keys: set[str] = set()
        for survivor in survivors:
            keys.update(key for (key,) in self.db.execute(
                "SELECT key FROM produced WHERE survivor = ?", (survivor,)))
        return keys

    def elsewhere(self, keys: Iterable[str], survivors: set[str]) -> set[str]:
        """Those of `keys` some group other than `survivors` produces (a shared
        Location, a practitioner): not to be deleted with these groups' own."""
        found = set()
        for key in keys:
            for (survivor,) in self.db.execute("SELECT survivor FROM produced WHERE key = ?",
                                               (key,)):
                if survivor not in survivors:
                    found.add(key)
                    break
        return found

    def gone(self, mapped: Iterable[Mapped]) -> list[str]:
        """The keys to delete once `mapped` is written: produced before by the groups
        these are made of, produced now by none of them nor by any other group; sorted."""
        mapped = list(mapped)
        before = set()
        now: set[str] = set()
        for item in mapped:
            before.update(self.survivors(item.group.members))
            now.update(item.keys)
        dropped = self.produced(before) - now
        return sorted(dropped - self.elsewhere(dropped, before))

    def outputs(self, seqs: Iterable[int]) -> dict[int, Output]:
        """The outputs kept for these log sequence numbers (those there are)."""
        found = {}
        for seq, digest, patient_id, order, patient, resources in self.db.execute(
                "SELECT seq, digest, patient_id, event_order, patient, resources FROM output"
                " WHERE seq IN (SELECT value FROM json_each(?))", (orjson.dumps(list(seqs)),)):
            found[seq] = Output(digest, patient_id, tuple(orjson.loads(order)), patient,
                                resources)
        return found

    # --- writing --------------------------------------------------------------------

    def record(self, through: int, mapped: Iterable[Mapped], notes: dict[str, object],
               outputs: Iterable[tuple[int, Output]] = ()) -> None:
        """After the segment is in the vault: the groups' keys now, their members, the
        sequence mapped through, `notes` (the interval's record, for the status) and the
        outputs of the messages mapped anew (by log sequence number), in one
        transaction."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for item in mapped:
                for survivor in self.survivors(item.group.members) | {item.group.survivor}:
                    self.db.execute("DELETE FROM produced WHERE survivor = ?", (survivor,))
                self.db.executemany("INSERT INTO produced (survivor, key) VALUES (?, ?)",
                                    ((item.group.survivor, key) for key in sorted(item.keys)))
                self.db.executemany(
                    "INSERT OR REPLACE INTO member (patient, survivor) VALUES (?, ?)",
                    ((patient, item.group.survivor) for patient in sorted(item.group.members)))
            self.db.executemany(
                "INSERT OR REPLACE INTO output (seq, digest, patient_id, event_order, patient,"
                " resources) VALUES (?, ?, ?, ?, ?, ?)",
                ((seq, o.digest, o.patient_id, orjson.dumps(o.order), o.patient, o.resources)
                 for seq, o in outputs))
            values = {**notes, "mapped_through": max(through, self.mapped_through)}
            self.db.executemany("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                                values.items())
