"""`releve verify`: the restored HIS against the vault's last good state (or its state
as of a time), resource by resource, in bounded memory.

1. Both sides at once: a process streams the vault's state into the scratch folder while
   this one pages the HIS, type by type (every type its CapabilityStatement lists, then
   any other the vault holds); each side keeps a digest of each resource's bytes.
2. The sides are joined on `Type/id`: missing (only in the vault), extra (only in the
   HIS), the same bytes (identical, nothing more to do) or other bytes (candidates).
3. A candidate is looked at as JSON (resources.py): the vault's lines are read again
   from the segments that hold them, the HIS's versions are read one by one, or by paging
   their type again when there are many. It is identical (only versionId, lastUpdated or
   the server's own meta additions differ), or changed, with a field diff for the first
   `show` of its type.

The HIS's bytes are the vault's when the HIS is restored from its own backup: then step
3 has nothing to do, and verify costs about what paging the HIS costs.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from ... import clock
from ...fhir.client import FhirClient, FhirError
from ...vault import state
from ...vault.chain import Walked
from ...vault.keys import load_identities
from ...vault.source import open_walked
from . import his_side, scratch
from .explain import Explainer
from .resources import carried_identifier, compare, field_diff, parsed
from .vault_side import Reference, VaultReader

BATCH = 5_000
FETCH_LIMIT = 200  # candidates of a type read one by one; more: the type is paged again
STATUSES = ("identical", "changed", "missing", "extra")


@dataclass(frozen=True)
class Request:
    """What `releve verify` was asked."""

    vault: str  # a folder, or s3://BUCKET/PREFIX
    identity: Path
    as_of: dt.datetime | None = None
    types: tuple[str, ...] = ()
    station: Path | None = None
    show: int = 20


@dataclass
class TypeResult:
    """Counts of one type, and its verdict: `ok` when nothing is missing nor changed
    without the journal explaining it, `differs` otherwise, `unreadable` when the HIS
    could not be paged for it."""

    vault: int = 0
    his: int = 0
    identical: int = 0
    changed: int = 0
    changed_explained: int = 0
    missing: int = 0
    extra: int = 0
    extra_explained: int = 0
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "unreadable"
        return "ok" if self.missing == 0 and self.changed == self.changed_explained else "differs"


@dataclass
class Outcome:
    """What verify found; the lists of resources stay in the scratch database (`db`),
    read with `rows`, so that a restore that lost a million resources still fits."""

    server: str
    reference: Reference
    as_of: str | None
    started: str
    finished: str = ""
    types: dict[str, TypeResult] = field(default_factory=dict)
    additions: dict[str, dict[str, int]] = field(default_factory=dict)
    db: sqlite3.Connection | None = None

    @property
    def verdict(self) -> str:
        return "ok" if all(t.verdict == "ok" for t in self.types.values()) else "differs"

    def rows(self, rtype: str | None = None, status: str | None = None,
             limit: int | None = None) -> Iterator[tuple]:
        """(key, type, status, explained, identifier, updated, diff) of every resource
        not identical, by type, status and id."""
        assert self.db is not None
        where, args = [], []
        for column, value in (("type", rtype), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        query = "SELECT * FROM outcome" + (" WHERE " + " AND ".join(where) if where else "") + \
            " ORDER BY type, status, key" + (f" LIMIT {int(limit)}" if limit is not None else "")
        yield from self.db.execute(query, args)


Progress = Callable[[str, int], None]  # ("vault"|"his", resources so far) or ("step", 0)


def _quiet(what: str, count: int) -> None:
    pass


class Verification:
    """One run; `close()` removes the scratch folder (the outcome's rows go with it)."""

    def __init__(self, client: FhirClient, request: Request, progress: Progress = _quiet):
        self.client = client
        self.request = request
        self.progress = progress
        self._folder = tempfile.TemporaryDirectory(prefix="releve-verify-")
        self.folder = Path(self._folder.name)
        self.db = scratch.connect(self.folder / scratch.HIS_DB, scratch.HIS_SCHEMA)

    def close(self) -> None:
        self.db.close()
        self._folder.cleanup()

    def run(self) -> Outcome:
        request = self.request
        vault = open_walked(request.vault)
        identities = load_identities(request.identity)
        explainer = Explainer.of_station(request.station)
        started = clock.utc_text()
        reader = VaultReader(request.vault, request.identity, request.as_of,
                             frozenset(request.types), self.folder)
        try:
            results = self._page_all(reader, request.types)
        finally:
            reader.stop()
        replay = reader.result(0)
        assert replay is not None
        outcome = Outcome(self.client.base, Reference.of(vault.config.vault_id, replay),
                          request.as_of.isoformat() if request.as_of else None, started,
                          types=results, db=self.db)
        self.progress("step", 0)
        self._join(explainer, outcome)
        self._resolve(vault, identities, replay, explainer, outcome)
        self._count(outcome)
        outcome.finished = clock.utc_text()
        return outcome

    # --- 1. both sides ------------------------------------------------------------------

    def _page_all(self, reader: VaultReader, asked: tuple[str, ...]) -> dict[str, TypeResult]:
        """Page the HIS while the vault is read; then the vault's types not paged yet."""
        results: dict[str, TypeResult] = {}
        types = list(asked) or his_side.capability_types(self.client.capabilities())
        paged = 0

        def advance(count: int) -> None:
            nonlocal paged
            paged += count
            self.progress("his", paged)
            self.progress("vault", reader.read)

        for rtype in types:
            results[rtype] = self._page(rtype, advance)
        while reader.result(0.2) is None:
            self.progress("vault", reader.read)
        self.progress("vault", reader.read)
        scratch.attach_vault(self.db, self.folder)
        for rtype in sorted(reader.counts):
            if rtype not in results:
                results[rtype] = self._page(rtype, advance)
            results[rtype].vault = reader.counts[rtype]
        try:
            scratch.index_his(self.db)
        except sqlite3.IntegrityError:
            raise FhirError("the HIS sent one resource twice while paging: its paging is "
                            "not stable, verify cannot count on it") from None
        return results

    def _page(self, rtype: str, advance: Callable[[int], None]) -> TypeResult:
        try:
            count = his_side.page_type(self.client, rtype, self.db, advance)
        except FhirError as exc:
            self.db.execute("DELETE FROM his WHERE type = ?", (rtype,))
            return TypeResult(error=str(exc))
        return TypeResult(his=count)

    # --- 2. the join --------------------------------------------------------------------

    def _join(self, explainer: Explainer, outcome: Outcome) -> None:
        self.db.create_function("explains", 1, explainer.explains, deterministic=True)
        scratch.join(self.db, [t for t, result in outcome.types.items() if result.error])

    # --- 3. the candidates --------------------------------------------------------------

    def _resolve(self, vault: Walked, identities: list, replay: state.Replay,
                 explainer: Explainer, outcome: Outcome) -> None:
        db = self.db
        wanted = ((state.Place(seq, line), key) for key, seq, line in scratch.candidate_places(db))
        batch: list[tuple] = []
        for key, line in state.lines_at(vault, identities, replay, wanted):
            batch.append((key, line))
            if len(batch) >= BATCH:
                scratch.append(db, "vault_line", batch)
                batch = []
        scratch.append(db, "vault_line", batch)
        shown: dict[str, int] = {}
        for rtype, count in db.execute("SELECT type, count(*) FROM candidate GROUP BY type").fetchall():
            rows: list[tuple] = []
            judged: list[str] = []
            for key, line, his in self._his_versions(rtype, count):
                row = self._judge(key, rtype, line, his, explainer, outcome, shown)
                judged.append(key)
                if row is not None:
                    rows.append(row)
                if len(judged) >= BATCH:
                    scratch.record_outcomes(db, rows, judged)
                    rows, judged = [], []
            scratch.record_outcomes(db, rows, judged)

    def _his_versions(self, rtype: str, count: int) -> Iterator[tuple[str, bytes, bytes | None]]:
        """(key, vault line, HIS bytes or None when gone) of a type's candidates."""
        db = self.db
        if count <= FETCH_LIMIT:
            lines = dict(db.execute("SELECT c.key, l.line FROM candidate AS c JOIN vault_line AS l "
                                    "ON l.key = c.key WHERE c.type = ?", (rtype,)).fetchall())
            for rid, his in his_side.fetch(self.client, rtype, [k.partition("/")[2] for k in lines]):
                yield f"{rtype}/{rid}", lines[f"{rtype}/{rid}"], his
            return
        for rid, his in his_side.repage(self.client, rtype):
            key = f"{rtype}/{rid}"
            row = db.execute("SELECT line FROM vault_line WHERE key = ?", (key,)).fetchone()
            if row is not None:
                yield key, row[0], his
        gone = db.execute("SELECT c.key, l.line FROM candidate AS c JOIN vault_line AS l "
                          "ON l.key = c.key WHERE c.type = ? AND NOT EXISTS "
                          "(SELECT 1 FROM judged WHERE judged.key = c.key)", (rtype,)).fetchall()
        for key, line in gone:  # gone between the two pagings
            yield key, line, None

    def _judge(self, key: str, rtype: str, line: bytes, his_bytes: bytes | None,
               explainer: Explainer, outcome: Outcome, shown: dict[str, int]) -> tuple | None:
        """The outcome row of one candidate (None: identical)."""
        if his_bytes is None:
            return key, rtype, "missing", 0, None, None, None
        before, after = parsed(line), parsed(his_bytes)
        verdict = compare(before, after)
        paths = outcome.additions.setdefault(rtype, {})
        for path in verdict.additions:
            paths[path] = paths.get(path, 0) + 1
        if not verdict.changed:
            return None
        identifier = carried_identifier(his_bytes, after)
        meta = after.get("meta")
        updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
        diff = None
        if shown.get(rtype, 0) < self.request.show:
            shown[rtype] = shown.get(rtype, 0) + 1
            diff = orjson.dumps([asdict(change) for change in field_diff(before, after)],
                                default=str)
        return key, rtype, "changed", int(explainer.explains(identifier)), identifier, updated, diff

    # --- counts -------------------------------------------------------------------------

    def _count(self, outcome: Outcome) -> None:
        db = self.db
        for rtype, status, explained, n in db.execute(
                "SELECT type, status, explained, count(*) FROM outcome GROUP BY type, status, explained"):
            result = outcome.types.setdefault(rtype, TypeResult())
            setattr(result, status, getattr(result, status) + n)
            if explained:
                setattr(result, f"{status}_explained", getattr(result, f"{status}_explained") + n)
        for result in outcome.types.values():
            if result.error is None:
                result.identical = result.vault - result.missing - result.changed
        outcome.additions = {t: paths for t, paths in sorted(outcome.additions.items()) if paths}
