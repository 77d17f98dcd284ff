"""The poisoned-data guard on deletions, for capture cycles and `releve import --full`.

A segment that removes a large share of what the vault holds is more likely an attack, a
broken extract or a cut-short file than a real change: it is written marked suspect, and
stations do not adopt it.

What counts is the resources a segment actually removes, never the deletion entries a
server sent: a Bulk `deleted` file or a history may name one resource many times (one
entry per deleted version), or name resources the vault never held (created and deleted
between two cycles). The count is therefore taken from the writer's state once the
segment's records are applied (`WriterState.pending_dropped`): the resources held before
it that it leaves out, each once. A full import states the whole truth, so every
resource it leaves out is such a removal; a delta removes what it deletes. The id walk,
which must judge before it reads each candidate, counts held resources only, each once:
the same measure, known earlier.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import deletions
from .state import WriterState


@dataclass
class Guard:
    """Thresholds of the poisoned-data guard."""

    max_delete_share: float = deletions.MAX_SHARE  # of the resources held, in one cycle
    min_state_for_share: int = deletions.MIN_HELD  # below this, deletions are not judged by share


def mass_deletion(removed: int, held: int, guard: Guard) -> str | None:
    """The shared rule (releve/deletions.py) with this guard's thresholds: `removed` is
    a number of distinct resources held, never of deletion entries."""
    return deletions.mass_deletion(removed, held, "resources", guard.max_delete_share,
                                   guard.min_state_for_share)


def removal_suspicion(state: WriterState, guard: Guard) -> str | None:
    """The judgement of a pending segment (full or delta), once all its records are
    applied: the held resources it removes, against those the state held before it."""
    held, removed = state.pending_dropped()
    return mass_deletion(removed, held, guard)
