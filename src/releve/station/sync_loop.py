"""`releve station sync --interval S`: sync for ever, whatever one round meets.

A station that stops syncing shows older and older data while looking alive, so the loop
never ends on a failure: an HTML page from a proxy, a cut answer, a timeout, a full disk,
a bad segment, even an error nobody foresaw. Each failed round is recorded in sync.json
(sync.py: time and short reason, never patient data) and shown by `releve station
status` and every page; the loop then waits longer (the interval doubling at each failure
in a row, up to BACKOFF_CAP, never below the interval) so that a vault in trouble is not
hammered, and goes back to the interval at the first success.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..vault.source import Source
from .sync import Outcome, SyncError, failure_reason, sync_once

BACKOFF_CAP = 300.0  # seconds


def next_wait(interval: float, failures: int) -> float:
    """Seconds before the next round after `failures` failed rounds in a row."""
    if failures == 0:
        return interval
    return max(interval, min(interval * 2 ** min(failures, 30), BACKOFF_CAP))


def sync_forever(station_dir: Path, source: Source, interval: float,
                 report: Callable[[Outcome], None], complain: Callable[[str, float], None],
                 identity: Path | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 each_round: Callable[[], object] | None = None) -> None:
    """Round after round until interrupted (KeyboardInterrupt goes through); `identity` as
    sync_once takes it. `each_round` runs after every round, whatever its outcome (the
    peers' journals are pulled there): it reports its own errors, and one it lets
    through is complained of without ending the loop either."""
    failures = 0
    while True:
        try:
            report(sync_once(station_dir, source, identity))
            failures = 0
        except Exception as exc:  # a round's failure, whatever it is, must not end the loop
            failures += 1
            reason = str(exc) if isinstance(exc, SyncError) else failure_reason(exc)
            complain(reason, next_wait(interval, failures))
        if each_round is not None:
            try:
                each_round()
            except Exception as exc:
                complain(failure_reason(exc), next_wait(interval, failures))
        sleep(next_wait(interval, failures))
