"""The poisoned-data guard on deletions, for capture cycles and `releve import --full`.

A segment that removes a large share of what the vault holds is more likely an attack, a
broken extract or a cut-short file than a real change: it is written marked suspect, and
stations do not adopt it. A capture cycle counts the deletions it was told of; a full
import states the whole truth, so every resource the writer holds that it leaves out is
a deletion (`WriterState.pending_dropped`).
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


def mass_deletion(deletes: int, held: int, guard: Guard) -> str | None:
    """The shared rule (releve/deletions.py) with this guard's thresholds."""
    return deletions.mass_deletion(deletes, held, "resources", guard.max_delete_share,
                                   guard.min_state_for_share)


def full_segment_suspicion(state: WriterState, guard: Guard) -> str | None:
    """The judgement of a pending full segment, once all its records are applied: the
    resources it leaves out, against those the state held before it."""
    held, dropped = state.pending_dropped()
    return mass_deletion(dropped, held, guard)
