"""Which differences the journal explains.

A resource the wards recorded during the downtime reaches the HIS through reconcile with
its journal identifier (system urn:ietf:rfc:3986, a urn:uuid: value): a new one as an
extra, a movement or a death as a change of a resource the vault holds. Carrying such an
identifier explains the difference; with a station's folder, only an identifier that
station's journal holds (an entry's, or one reconcile filed) does.
"""

from __future__ import annotations

from pathlib import Path

from ...journal import files as journal_files
from ...journal import index
from ...journal.book import Journal
from ...journal.errors import JournalError
from ...journal.fates import Fates


class Explainer:
    """`explains(identifier)`: whether a resource carrying it is the journal's doing."""

    def __init__(self, held: frozenset[str] | None):
        self.held = held  # None: any journal identifier explains

    @classmethod
    def of_station(cls, station_dir: Path | None) -> Explainer:
        if station_dir is None:
            return cls(None)
        return cls(held_identifiers(station_dir))

    def explains(self, identifier: str | None) -> bool:
        if identifier is None:
            return False
        return self.held is None or identifier in self.held


def held_identifiers(station_dir: Path) -> frozenset[str]:
    """Every journal identifier a station holds: its entries' (all stations it holds)
    and those reconcile filed from it (journal/fates.py)."""
    if not journal_files.journal_key(station_dir).exists():
        raise JournalError(f"{station_dir} is not a station's folder (no journal key)")
    journal = Journal(station_dir)
    found = {entry.identifier for entry in index.since(journal.db()) if entry.identifier}
    fates = Fates(station_dir)
    try:
        found.update(fates.filed())
    finally:
        fates.close()
    return frozenset(found)
