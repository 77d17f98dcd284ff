"""The mass-deletion rule that capture and stations share: data that would vanish all at
once is more likely a broken or attacked source than a real discharge wave.

Capture and `releve import --full` mark a segment suspect by it (capture/guard.py); a station holds a
segment by it until an administrator accepts it (station/plausibility.py). One rule, one
wording, one default.
"""

from __future__ import annotations

MAX_SHARE = 0.2  # of what is held, in one cycle (capture) or one segment (station)
MIN_HELD = 50  # below this, deletions are not judged by share


def mass_deletion(removed: int, held: int, what: str = "resources",
                  max_share: float = MAX_SHARE, min_held: int = MIN_HELD) -> str | None:
    """Why removing `removed` of the `held` `what` (resources, patients) is implausible,
    or None. Counts only: the reason is shown and signed, never data."""
    if held >= min_held and removed > max_share * held:
        return (f"mass deletion: {removed} of {held} {what} "
                f"({100 * removed / held:.0f}% > {100 * max_share:.0f}%)")
    return None
