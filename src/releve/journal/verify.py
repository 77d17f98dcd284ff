"""`releve journal verify`: every held journal, every entry, from its file alone.

Unlike a pull, which checks the signature of the last entry of a batch (the chain vouches
for the rest), this reads each file from its first byte and checks every entry: envelope,
number, chain, and both signatures of minisign's format against the pinned key. It reads
the files, not the index, so it also catches a file edited behind the station's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import files
from .entry import GENESIS, check_link, check_signature, parse
from .errors import JournalError


@dataclass
class Verdict:
    """One station's journal: how many entries hold, and the first problem, if any."""

    station: str
    entries: int = 0
    last_time: str | None = None
    problem: str | None = None
    torn_tail: bool = False  # a last line without LF: never acknowledged, ignored


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return all(v.problem is None for v in self.verdicts)


def verify_station(station_dir: Path, station: str) -> Verdict:
    verdict = Verdict(station)
    try:
        public = files.pinned_key(station_dir, station)
        if public is None:
            raise JournalError(f"station {station}: no pinned key")
        seq, prev, read = 0, GENESIS, 0
        for line, end in files.read_lines(station_dir, station):
            read = end
            entry = parse(line)
            check_link(entry, station, seq + 1, prev)
            check_signature(entry, public)
            seq, prev = entry.seq, entry.hash
            verdict.entries, verdict.last_time = seq, entry.time
        verdict.torn_tail = files.file_size(station_dir, station) > read
    except JournalError as exc:
        verdict.problem = str(exc)
    return verdict


def verify_all(station_dir: Path) -> Report:
    return Report([verify_station(station_dir, s) for s in files.held_stations(station_dir)])
