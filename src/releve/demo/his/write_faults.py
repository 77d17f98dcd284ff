"""Write faults on demand (`releve demo his --write-faults FILE`), for tests of the way
back: a server that refuses some resources, fails, fails after it has written, says
"created" and gives nothing back, or answers late.

FILE is JSON, read again at each write request (POST /Type, PUT /Type/id, PUT
/Type?criteria, DELETE, POST / with a transaction or batch), so a test changes it between
two runs of the server's client. Every member is optional:

    {"refuse": [{"type": "Observation", "contains": "some text", "status": 422,
                 "message": "why"}],
     "fail_every": 0, "commit_then_fail_every": 0, "no_location": false,
     "delay_seconds": 0}

- `refuse`: a write whose resource (as received, serialized as JSON) contains the text
  `contains` (and is of `type`, when given; at least one of the two) is refused with
  `status` (a 4xx or 5xx, default 422) and an OperationOutcome whose diagnostics hold
  `message`. In a transaction the whole Bundle fails so, the diagnostics naming the entry
  (`entry 2 (POST Observation, fullUrl urn:uuid:...): why`), nothing written; in a batch,
  that entry only.
- `fail_every: n`: every n-th write request answers 500 without writing anything.
- `commit_then_fail_every: n`: every n-th write request is carried out and committed,
  then answers 500 (the client cannot know it was written: what exactly-once is about).
  A request the server refused anyway keeps its own answer.
- `no_location`: successful writes answer their status with no body and no Location,
  ETag or Last-Modified; a Bundle's response entries keep `status` only.
- `delay_seconds`: wait this long before answering (after the write).

Write requests are numbered from 1 each time the file's content changes (and when the
server starts), so "every n-th" counts from the test's own change. `fail_every` wins when
both counts fall on one request. No file: no faults. A file that is not JSON or not of
this shape (an unknown member too) makes every write request answer 500, nothing
written, with an OperationOutcome saying what is wrong with it: a fault file is never
silently ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import orjson
from starlette.responses import Response

from ...fhir.exact import dumps_exact
from .fhir import HisRequestError

MEMBERS = {"refuse", "fail_every", "commit_then_fail_every", "no_location", "delay_seconds"}
RULE_MEMBERS = {"type", "contains", "status", "message"}
STRIPPED_HEADERS = ("location", "content-location", "etag", "last-modified", "content-length")


@dataclass(frozen=True)
class Refusal:
    type: str | None
    contains: str | None
    status: int
    message: str

    def refuses(self, rtype: str, text: str) -> bool:
        return (self.type is None or self.type == rtype) and \
            (self.contains is None or self.contains in text)


@dataclass(frozen=True)
class Faults:
    refuse: tuple[Refusal, ...] = ()
    fail_every: int = 0
    commit_then_fail_every: int = 0
    no_location: bool = False
    delay_seconds: float = 0.0


@dataclass
class Plan:
    """What the faults do to one write request, its `number` since the file changed."""

    faults: Faults = field(default_factory=Faults)
    number: int = 0

    def _falls(self, every: int) -> bool:
        return every > 0 and self.number % every == 0

    @property
    def fail_now(self) -> bool:
        return self._falls(self.faults.fail_every)

    @property
    def fail_after(self) -> bool:
        return not self.fail_now and self._falls(self.faults.commit_then_fail_every)

    def before(self) -> None:
        """Fail this request before it writes anything, if its number says so."""
        if self.fail_now:
            raise HisRequestError(500, f"write fault: write request {self.number} failed, "
                                  "nothing written (fail_every)", "transient")

    def screen(self, rtype: str, resource: dict[str, Any] | None) -> None:
        """Refuse this write if a rule says so (bundle.py's Screen)."""
        if not self.faults.refuse or resource is None:
            return
        text = dumps_exact(resource).decode()
        for rule in self.faults.refuse:
            if rule.refuses(rtype, text):
                raise HisRequestError(rule.status, rule.message, "processing")

    def finish(self, response: Response, bundle: bool) -> Response:
        """The answer as the faults change it once the request was carried out (`bundle`:
        the answer to a transaction or batch)."""
        if response.status_code >= 400:
            return response
        if self.fail_after:
            raise HisRequestError(500, f"write fault: write request {self.number} was committed, "
                                  "then this error answered (commit_then_fail_every)", "exception")
        if not self.faults.no_location:
            return response
        headers = {key: value for key, value in response.headers.items()
                   if key not in STRIPPED_HEADERS}
        if bundle:
            return Response(_bare_entries(bytes(response.body)), response.status_code, headers,
                            media_type=response.media_type)
        headers.pop("content-type", None)
        return Response(b"", response.status_code, headers)


def _bare_entries(body: bytes) -> bytes:
    """A transaction or batch response whose entries say their status only (an error
    entry keeps its outcome)."""
    bundle = orjson.loads(body)
    for entry in bundle.get("entry", []):
        entry.pop("resource", None)
        entry["response"] = {key: value for key, value in entry["response"].items()
                             if key in ("status", "outcome")}
    return orjson.dumps(bundle)


class WriteFaults:
    """The faults file and the count of write requests since its content changed."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: bytes | None = None
        self._count = 0

    def begin(self) -> Plan:
        """The plan of a new write request: the file read again and the request
        counted; a 500 before anything is written if the file is malformed."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise self._malformed(f"cannot be read ({exc.strerror})") from None
        with self._lock:
            if data != self._seen:
                self._seen, self._count = data, 0
            self._count += 1
            number = self._count
        return Plan(parse(data, self._malformed) if data.strip() else Faults(), number)

    def _malformed(self, why: str) -> HisRequestError:
        return HisRequestError(500, f"the write faults file {self.path} {why}; nothing was "
                               "written", "exception")


def parse(data: bytes, malformed: Callable[[str], HisRequestError]) -> Faults:
    """The faults a file's content describes; `malformed(why)` makes the error to raise."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise malformed(f"is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise malformed("is not a JSON object")
    unknown = sorted(set(value) - MEMBERS)
    if unknown:
        raise malformed(f"has an unknown member {unknown[0][:40]!r} (known: {', '.join(sorted(MEMBERS))})")
    rules = value.get("refuse", [])
    if not isinstance(rules, list):
        raise malformed("has a 'refuse' that is not a list")
    every = {}
    for name in ("fail_every", "commit_then_fail_every"):
        every[name] = value.get(name, 0)
        if type(every[name]) is not int or every[name] < 0:
            raise malformed(f"has a {name!r} that is not a whole number >= 0")
    delay = value.get("delay_seconds", 0)
    if type(delay) not in (int, float) or not 0 <= delay <= 600:
        raise malformed("has a 'delay_seconds' that is not a number of seconds from 0 to 600")
    if type(value.get("no_location", False)) is not bool:
        raise malformed("has a 'no_location' that is not true or false")
    return Faults(tuple(_rule(number, rule, malformed) for number, rule in enumerate(rules, 1)),
                  every["fail_every"], every["commit_then_fail_every"],
                  value.get("no_location", False), float(delay))


def _rule(number: int, rule: Any, malformed: Callable[[str], HisRequestError]) -> Refusal:
    where = f"has a 'refuse' rule {number} that"
    if not isinstance(rule, dict):
        raise malformed(f"{where} is not an object")
    unknown = sorted(set(rule) - RULE_MEMBERS)
    if unknown:
        raise malformed(f"{where} has an unknown member {unknown[0][:40]!r} (known: "
                        f"{', '.join(sorted(RULE_MEMBERS))})")
    rtype, contains = rule.get("type"), rule.get("contains")
    if rtype is None and contains is None:
        raise malformed(f"{where} has neither 'type' nor 'contains'")
    if any(v is not None and not isinstance(v, str) for v in (rtype, contains)):
        raise malformed(f"{where} has a 'type' or 'contains' that is not a string")
    status, message = rule.get("status", 422), rule.get("message", "refused by a write fault")
    if type(status) is not int or status < 400 or status not in HTTPStatus._value2member_map_:
        raise malformed(f"{where} has a 'status' that is not an HTTP error status (4xx, 5xx)")
    if not isinstance(message, str):
        raise malformed(f"{where} has a 'message' that is not a string")
    return Refusal(rtype, contains, status, message)
