"""The demo's components as child processes: started with their log file, stopped
together, none left behind.

Each child runs in its own session, so a Ctrl-C typed in the terminal reaches only the
demo, which then interrupts every child itself (SIGINT: each command stops cleanly on it,
the capture and the syncs between two steps of their writes), waits, and kills what is
still there after a grace period. On Linux a child also receives SIGINT if the demo dies
without that chance (kill -9), and stops as on Ctrl-C, its own children with it (a
capture's forked workers, which SIGTERM would leave behind): no component outlives the
demo.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 20.0


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
    except (OSError, AttributeError):  # not Linux: the demo's own handlers still stop it
        pass


def releve(*args: str | Path) -> list[str]:
    """The command line of `releve ARGS` with this interpreter."""
    return [sys.executable, "-m", "releve.cli", *map(str, args)]


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path
    reported: bool = False  # its unexpected end has been said once


@dataclass
class Children:
    """The running components, in start order."""

    running: list[Child] = field(default_factory=list)
    # prefixes of variables not passed on from the demo's own environment (with --s3,
    # AWS_: the operator's own profile or session token must not mix with a role's keys)
    withheld: tuple[str, ...] = ()

    def start(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Child:
        """Start a component; its stdout and stderr go to `log` (appended)."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as handle:
            started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            handle.write(f"--- {started} start {name}\n".encode())
            handle.flush()
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                env={**self._inherited(), "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})},
                start_new_session=True, preexec_fn=_die_with_parent)
        child = Child(name, process, log)
        self.running.append(child)
        return child

    def _inherited(self) -> dict[str, str]:
        return {name: value for name, value in os.environ.items()
                if not name.startswith(self.withheld)}

    def pids(self) -> dict[str, int]:
        return {child.name: child.process.pid for child in self.running}

    def ended(self) -> list[Child]:
        """Children that stopped on their own and were not reported yet."""
        found = [c for c in self.running if not c.reported and c.process.poll() is not None]
        for child in found:
            child.reported = True
        return found

    def stop(self, grace: float = GRACE_SECONDS) -> list[str]:
        """Interrupt every child (last started first), wait up to `grace` seconds, then
        kill what remains. Returns the names of the children that had to be killed."""
        for child in reversed(self.running):
            _signal(child.process, signal.SIGINT)
        deadline = time.monotonic() + grace
        killed = [child.name for child in reversed(self.running) if not _ended(child, deadline)]
        self.running.clear()
        return killed

    def stop_one(self, name: str, grace: float = GRACE_SECONDS) -> bool:
        """Stop one component as `stop` stops them all, the others left running (the HIS,
        while its database is restored). False when it had to be killed."""
        child = next((c for c in self.running if c.name == name), None)
        if child is None:
            return True
        _signal(child.process, signal.SIGINT)
        clean = _ended(child, time.monotonic() + grace)
        self.running.remove(child)
        return clean


def _ended(child: Child, deadline: float) -> bool:
    """Wait for the interrupted child until `deadline`, then kill it; False if killed."""
    try:
        child.process.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _signal(child.process, signal.SIGKILL)
        child.process.wait()
        return False
    return True


def _signal(process: subprocess.Popen, signum: int) -> None:
    """The signal to the child's whole session (a capture's forked workers with it)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
