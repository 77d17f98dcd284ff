"""What in a station's state needs someone to look: `releve station status` prints these
reasons and exits 1, so that a monitoring check or a cron job sees a station that shows
old or frozen data while still answering.

A station needs attention when its last sync failed, when the data it shows is older
than its `stale_minutes` (the age at which its pages turn to the warning colour), when a
segment is held (it would remove too much) or cannot be read, when the latest data was
refused as suspect (the station is frozen at its last safe copy), and when its index
cannot be used or holds nothing yet. The reasons are about segments and times only,
never about patients.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .. import clock
from .index.head import Head
from .local.identifiers import IdentifierError, Identifiers
from .sync import Settings, Status


def concerns(settings: Settings, state: Status, head: Head | None,
             index_problem: str | None = None) -> list[str]:
    """Each reason this station needs attention, in words; empty when all is well."""
    reasons = []
    if state.error:
        reasons.append(f"the last sync failed: {state.error}")
    if index_problem:
        reasons.append(f"the index cannot be used: {index_problem}")
    elif head is None or not head.state_time:
        reasons.append("the station holds no data yet")
    else:
        reasons += _data_age(settings, head.state_time)
        reasons += _frozen(state, head)
    if state.held and not state.accepted:
        reasons.append(f"segment {state.held['seq']} is held, not applied: {state.held['reason']}")
    if state.unreadable:
        reasons.append(f"segment {state.unreadable['seq']} cannot be read: "
                       f"{state.unreadable['reason']}")
    return reasons


def _data_age(settings: Settings, state_time: str) -> list[str]:
    when = dt.datetime.fromisoformat(state_time.replace("Z", "+00:00"))
    minutes = (clock.now() - when).total_seconds() / 60
    if minutes <= settings.stale_minutes:
        return []
    return [f"the data is {minutes:.0f} min old (more than {settings.stale_minutes} min)"]


def _frozen(state: Status, head: Head) -> list[str]:
    """The newest segments were refused as suspect: the data stays at the last safe copy."""
    newer = [skipped for skipped in state.skipped if skipped["seq"] > head.state_seq]
    if not newer:
        return []
    return [f"frozen at segment {head.state_seq}: suspect segment {newer[-1]['seq']} not "
            f"adopted ({newer[-1]['reason']})"]


def numbers_running_out(station_dir: Path) -> list[str]:
    """Downtime IPP or stay numbers 80 % used: said before the admission form runs dry."""
    try:
        return Identifiers(station_dir).running_out()
    except IdentifierError as exc:
        return [f"the downtime identifiers cannot be read: {exc}"]
