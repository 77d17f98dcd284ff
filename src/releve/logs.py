"""How Relève's long-running processes log: one line per event, each starting with the
local time in ISO 8601 with its UTC offset, the level and the component:

    2026-12-05T10:41:03.127+01:00 INFO releve.capture: cycle 12: 341 versions seen, nothing changed
    2026-12-05T10:41:09.402+01:00 ERROR releve.station.sync: sync failed: ...

The capture loop, the vault's and the station's servers, the station's sync loop, the
demo HIS and `releve demo` all call `configure()` once; their components log through
`logging.getLogger("releve.<part>")`, and uvicorn's own records (it is told to leave
logging alone) come out in the same form. Information goes to stdout and warnings and
errors to stderr, as the one-shot commands print them.

The time is the machine's, not RELEVE_NOW: a log line says when something happened, so
that it can be set beside the system's and the proxy's logs, even while a training
session pins the clock of care. Nothing here knows about patients: what a component
logs is its business, and none logs patient data (docs/security.md, invariant 7).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLERS: list[logging.Handler] = []


class IsoFormatter(logging.Formatter):
    """The record's time as ISO 8601 with the local offset, to the millisecond."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = dt.datetime.fromtimestamp(record.created).astimezone()
        return moment.isoformat(timespec="milliseconds")


class _Below(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def configure(level: int = logging.INFO) -> None:
    """Route every record of `level` and above to stdout (information) or stderr
    (warnings, errors) in the one format. Calling it again changes nothing."""
    root = logging.getLogger()
    root.setLevel(level)
    if _HANDLERS:
        return
    formatter = IsoFormatter(FORMAT)
    information = logging.StreamHandler(sys.stdout)
    information.addFilter(_Below(logging.WARNING))
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    for handler in (information, problems):
        handler.setFormatter(formatter)
        root.addHandler(handler)
        _HANDLERS.append(handler)
    for chatty in ("uvicorn.error", "httpx", "httpcore"):  # not a line per request or step
        logging.getLogger(chatty).setLevel(logging.WARNING)


def uvicorn_options() -> dict[str, Any]:
    """What a server passes to uvicorn so that its records come out as configured here
    (uvicorn otherwise installs its own handlers, without the time) and it logs no URL."""
    return {"log_config": None, "access_log": False, "log_level": "warning"}
