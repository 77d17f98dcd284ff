"""The one clock of Relève: what time it is for care, for records and for pages.

Everything that reads "now" as a date or an instant (the 24-hour administration plan,
today's operating list, a segment's capture time, an audit entry, the age of a
station's data) asks this module. Elapsed time (timeouts, retries, idle sessions,
benchmarks) is not a date and keeps using `time.monotonic()` or `time.time()`.

`RELEVE_NOW` pins the clock to one instant (ISO 8601 with an offset, e.g.
`2026-01-14T10:00:00+01:00`). The tests set it so that nothing depends on the day they
run; a training session can set it to replay a given morning. A pinned clock does not
move: two readings give the same instant.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

from .errors import ReleveError

ENV = "RELEVE_NOW"
UTC = dt.UTC


class ClockError(ReleveError):
    """RELEVE_NOW is set to something that is not an instant."""


def pinned() -> dt.datetime | None:
    """The instant RELEVE_NOW pins the clock to, or None when the clock is the system's."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(f"{ENV}={text!r} is not an ISO 8601 date-time "
                         "(for example 2026-01-14T10:00:00+01:00)") from None
    if moment.tzinfo is None:
        raise ClockError(f"{ENV}={text!r} has no UTC offset: say which instant it is "
                         "(for example 2026-01-14T10:00:00+01:00)")
    return moment.astimezone(UTC)


def now() -> dt.datetime:
    """This instant, as an aware UTC datetime."""
    return pinned() or dt.datetime.now(UTC)


def now_in(zone: str | dt.tzinfo) -> dt.datetime:
    """This instant in a time zone (the station's, usually), e.g. for 'today' or a page's
    printed time."""
    return now().astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone)


def today(zone: str | dt.tzinfo) -> dt.date:
    """The calendar day it is in `zone`: a ward's day turns at its own midnight."""
    return now_in(zone).date()


def timestamp() -> float:
    """This instant as seconds since the epoch (for rows that store a number)."""
    return now().timestamp()


def utc_text(timespec: str = "seconds") -> str:
    """This instant as ISO 8601 UTC with a Z, e.g. 2026-12-02T04:37:00Z."""
    return now().isoformat(timespec=timespec).replace("+00:00", "Z")
