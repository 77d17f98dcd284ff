"""The vault's side of `releve verify`, read in a process of its own while the HIS is
paged: decrypting, decompressing and digesting the state is as much work as paging the
HIS, and the two then share the machine's cores instead of following each other.

The process streams the state (vault/state.py, bounded memory) into `vault.sqlite`
(scratch.py) and hands back which segments it applied; the parent reads that with
`VaultReader.result()`.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ...fhir.feeds import made_by_a_feed
from ...vault import state
from ...vault.chain import Walked
from ...vault.errors import VaultError
from ...vault.keys import load_identities
from ...vault.source import open_walked
from . import scratch
from .resources import raw_digest

BATCH = 5_000


@dataclass(frozen=True)
class Reference:
    """The state compared: its segments, its time (the newest segment's descriptor
    time), what --as-of cut off and which suspect segments were left out."""

    vault_id: str
    segments: list[int]
    time: str | None
    cut: int
    skipped: list[int]


    @classmethod
    def of(cls, vault_id: str, replay: state.Replay) -> Reference:
        return cls(vault_id, [info.seq for info in replay.segments], replay.time, replay.cut,
                   replay.skipped)


def fill(vault: Walked, identities: list, as_of: dt.datetime | None,
         types: frozenset[str], folder: Path, counter: Any = None) -> tuple[state.Replay, dict[str, int]]:
    """Every resource of the state (of `types`, all when empty) into the scratch
    folder's vault.sqlite, indexed; the segments it is made of and the resources of each
    type (counted here, while the HIS is still paged, rather than by a scan after).

    The segments are decrypted once (state.log_records): every record is appended in log
    order, a delete with no digest, and the table keeps each key's last record at the end
    (scratch.keep_last). Reading the state's winning lines (placed_records) decrypted
    everything twice and kept a second table of winners: 40% of this side's time."""
    replay = state.replay(vault, as_of)
    db = scratch.connect(folder / scratch.VAULT_DB, scratch.VAULT_SCHEMA)
    try:
        rows: list[tuple] = []
        deletes = False
        for key, seq, number, line in state.log_records(vault, identities, replay):
            rtype, _, rid = key.partition("/")
            if (types and rtype not in types) or made_by_a_feed(rid):
                continue  # an HL7 feed's resources: the HIS's FHIR API never held them
            if line is None:
                deletes = True
                rows.append((key, rtype, None, seq, number))
            else:
                rows.append((key, rtype, raw_digest(line.rstrip(b"\n")), seq, number))
            if len(rows) >= BATCH:
                scratch.append(db, "vault", rows)
                if counter is not None:
                    counter.value += len(rows)
                rows = []
        scratch.append(db, "vault", rows)
        if counter is not None:
            counter.value += len(rows)
        scratch.keep_last(db, deletes)
        counts = scratch.counts(db, "vault")
    finally:
        db.close()
    return replay, counts


PROBE = b'{"resourceType":"Basic","id":"probe"}'


def _child(vault: str, identity: str, as_of: dt.datetime | None, types: frozenset[str],
           folder: str, counter: Any, answer: Connection, probe: int) -> None:
    try:
        if raw_digest(PROBE) != probe:  # another hash key: every resource would differ
            raise VaultError("the vault's reader does not digest as the HIS's pager does")
        answer.send(("ok", fill(open_walked(vault), load_identities(Path(identity)), as_of,
                                types, Path(folder), counter)))
    except Exception as exc:  # handed to the parent, which raises it
        answer.send(("error", f"{type(exc).__name__}: {exc}"
                     if not isinstance(exc, VaultError) else str(exc)))
    finally:
        answer.close()


class VaultReader:
    """The vault read into the scratch folder by a spawned process; `read` counts the
    resources it has stored so far (for a progress bar)."""

    def __init__(self, vault: str, identity: Path, as_of: dt.datetime | None,
                 types: frozenset[str], folder: Path):
        context = multiprocessing.get_context("fork")  # started before any thread of ours
        self._counter = context.Value("q", 0, lock=False)
        self._answer, sending = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child, name="releve-verify-vault", daemon=True,
            args=(str(vault), str(identity), as_of, types, str(folder), self._counter, sending,
                  raw_digest(PROBE)))
        self._process.start()
        sending.close()
        self._replay: state.Replay | None = None
        self.counts: dict[str, int] = {}  # resources of each type, once `result` has them

    @property
    def read(self) -> int:
        return int(self._counter.value)

    def result(self, timeout: float | None = None) -> state.Replay | None:
        """The segments applied, once the process has finished (None if it has not
        within `timeout` seconds); its error raised here as a VaultError."""
        if self._replay is None:
            if not self._answer.poll(timeout):
                if not self._process.is_alive():
                    raise VaultError("the vault's reader ended without an answer")
                return None
            try:
                kind, value = self._answer.recv()
            except EOFError:
                raise VaultError("the vault's reader ended without an answer") from None
            self._process.join()
            if kind != "ok":
                raise VaultError(value)
            self._replay, self.counts = value
        return self._replay

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._answer.close()
