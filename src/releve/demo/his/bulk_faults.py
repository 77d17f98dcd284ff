"""The faults real Bulk Data servers show, on demand: so that capture's answers to each
are tested against a server, not against a mock.

`releve demo his --bulk-fault KIND[:VALUE]` (repeatable) and `--bulk-fault-exports N`
(the faults hit the first N exports only; default: every export):

    error-file[:TYPE]   TYPE's files (default: the first type exported) are not in the
                        manifest's `output`: an ndjson of OperationOutcomes listed in
                        `error` says why, as a server whose worker failed on one type
    transient[:N]       the first N status polls of a job (default 1) answer 500 with an
                        OperationOutcome of code `transient`: "poll again"
    throttle[:S]        one poll of each job answers 429 with Retry-After: S (default 2)
    unavailable[:S]     one poll of each job answers 503 with Retry-After: S (default 2)
    slow:N              the job answers 202 (with X-Progress) to N polls before its manifest

The faults of one poll come in that order: transient answers first, then the 429, then
the 503, then the slow job's 202s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .fhir import RESOURCE_TYPES, HisError

KINDS = ("error-file", "transient", "throttle", "unavailable", "slow")


@dataclass(frozen=True)
class BulkFaults:
    """What the demo HIS's `$export` does wrong; all off by default."""

    error_file: str | None = None  # a resource type, or "" for the first type exported
    transient: int = 0
    throttle: float | None = None
    unavailable: float | None = None
    slow: int = 0
    exports: int | None = None  # the faults hit the first `exports` exports (None: all)

    def any(self) -> bool:
        return self != BulkFaults(exports=self.exports)


NO_FAULTS = BulkFaults()


@dataclass
class PollFaults:
    """One job's faults still to be answered, poll by poll."""

    faults: BulkFaults
    polls: int = 0
    answered: set[str] = field(default_factory=set)
    slow_left: int = 0

    def __post_init__(self) -> None:
        self.slow_left = self.faults.slow

    def next(self) -> tuple[int, str, dict[str, str]] | None:
        """(status, message, headers) of the fault answering this poll, or None."""
        self.polls += 1
        faults = self.faults
        if self.polls <= faults.transient:
            return 500, (f"export status unavailable for a moment (simulated fault, poll "
                         f"{self.polls} of {faults.transient}): poll again"), {}
        for kind, seconds, status in (("throttle", faults.throttle, 429),
                                      ("unavailable", faults.unavailable, 503)):
            if seconds is not None and kind not in self.answered:
                self.answered.add(kind)
                return status, f"too many requests (simulated fault): retry after {seconds:g} s", \
                    {"Retry-After": str(int(seconds))}
        return None

    def still_slow(self) -> str | None:
        """The X-Progress of one more 202 of a slow job, or None once it may finish."""
        if self.slow_left <= 0:
            return None
        self.slow_left -= 1
        done = self.faults.slow - self.slow_left
        return f"preparing the files: poll {done} of {self.faults.slow}"


def parse(specs: list[str], exports: int | None = None) -> BulkFaults:
    """BulkFaults from `KIND[:VALUE]` specs; a HisError names what is wrong."""
    values: dict[str, object] = {"exports": exports}
    for spec in specs:
        kind, _, value = spec.partition(":")
        if kind not in KINDS:
            raise HisError(f"--bulk-fault {spec!r}: the kinds are {', '.join(KINDS)}")
        try:
            if kind == "error-file":
                if value and value not in RESOURCE_TYPES:
                    raise ValueError(f"{value!r} is not a resource type")
                values["error_file"] = value
            elif kind in ("throttle", "unavailable"):
                values[kind] = float(value or 2)
            else:
                values[kind] = int(value or (0 if kind == "slow" else 1))
                if kind == "slow" and not value:
                    raise ValueError("slow needs its number of polls (slow:N)")
        except ValueError as exc:
            raise HisError(f"--bulk-fault {spec!r}: {exc}") from exc
    return BulkFaults(**values)  # type: ignore[arg-type]
