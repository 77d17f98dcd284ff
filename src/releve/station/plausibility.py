"""Whether a signed segment may be adopted without a person's word.

A signature proves who wrote a segment, not that what it says is sane: a capture fed by
a broken or attacked HIS can sign an empty checkpoint, or one without half the patients.
Adopting it would empty the ward's screens in the middle of a downtime. So a segment
that would remove more than a share of the patients or of the resources the station
holds (the mass-deletion rule capture uses, releve/deletions.py, with the station's own
setting), or a full segment holding nothing, is *held*: not applied, the station keeps
serving what it has and says so, until an administrator accepts it
(`releve station accept`).

Two looks, both per segment, never per record (counts on indexed tables: at 1.9 M
resources, 0.6 ms for the patients, 70 to 110 ms for the records, which only a full
segment or a delta deleting enough to matter pays for):
- before anything is decrypted, the signed descriptor's counts against what the index
  holds: a full segment with fewer resources than the share allows, a delta that deletes
  more than it;
- once the new state is built (a full segment's generation before it is switched in, a
  delta's transaction before it commits), the patients it holds against the patients
  held before (only the content says which resources are patients).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..deletions import MIN_HELD, mass_deletion
from ..errors import ReleveError
from ..vault.format import Descriptor
from .index.head import patient_count, resource_count
from .index.writer import Judge


class Held(ReleveError):
    """A segment not adopted until an administrator accepts it; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Holdings:
    patients: int
    resources: int | None  # None: not counted, as the segment could not matter to it


def holdings(conn: sqlite3.Connection, descriptor: Descriptor, share: float) -> Holdings:
    """What the index holds before `descriptor`'s segment, as far as judging it needs:
    a delta deleting no more than `share` of the least number judged cannot remove too
    many resources, whatever is held, and does not pay for counting them."""
    counted = descriptor.kind == "full" or descriptor.deletes > share * MIN_HELD
    return Holdings(patient_count(conn), resource_count(conn) if counted else None)


def judge_signed(descriptor: Descriptor, held: Holdings, share: float) -> str | None:
    """Why the signed counts alone make the segment implausible, or None."""
    if not held.resources:
        return None  # nothing to lose, or nothing this segment could remove too much of
    if descriptor.kind == "full":
        if descriptor.puts == 0:
            return (f"empty full segment: adopting it would remove all {held.resources} "
                    f"resources and {held.patients} patients this station holds")
        return mass_deletion(held.resources - descriptor.puts, held.resources, "resources",
                             share)
    return mass_deletion(descriptor.deletes, held.resources, "resources", share)


def judge_state(held: Holdings, share: float, whole: bool) -> Judge:
    """The look at the new state before it is committed: it raises Held when it has lost
    too many patients (and, for a new generation, too many resources)."""

    def judge(conn: sqlite3.Connection) -> None:
        reason = mass_deletion(held.patients - patient_count(conn), held.patients, "patients",
                               share)
        if reason is None and whole and held.resources:
            reason = mass_deletion(held.resources - resource_count(conn), held.resources,
                                   "resources", share)
        if reason is not None:
            raise Held(reason)

    return judge
