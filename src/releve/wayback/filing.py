"""Sending items to the HIS in transaction Bundles, and reading what became of each.

Every write is an entry of a transaction Bundle (`POST [base]`) that a retry cannot
duplicate: a conditional create on the journal identifier, a conditional update on it,
or an update of a resource by the id the HIS gave it. So a Bundle whose answer was lost
(a timeout, a dropped connection, a 5xx, a crash) is simply sent again.

- A Bundle the server refuses (4xx) is split in halves until the entries it refuses are
  alone; each is then `refused` with the server's words and status. The others go on.
  (401 and 403 refuse the client, not an entry: the Bundle's entries are all refused.)
- 429, 5xx, time-outs and connection errors are retried with backoff (`attempts` in
  all), then the Bundle's entries are `failed`; a later run tries them again. A 500
  that outlived the retries may be one entry's doing (a server that breaks on it): that
  Bundle too is split, each half asked once, so the others are filed and it alone fails.
- After each answer, what it taught is handed to `record` before the next request goes
  out; reconcile.py commits it while that request is in flight (behind by at most one
  Bundle): killed at any point, a new run files nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from ..fhir.client import FHIR_JSON, FhirClient, FhirError, retry_after_seconds
from ..fhir.refs import target
from ..journal.fates import Fate
from .plan import CREATE, HIS, HISTORY, UPDATE, Item

BUNDLE_SIZE = 100
ATTEMPTS = 4
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
UNAUTHORISED = frozenset({401, 403})  # the client is refused, not an entry: no split
SERVER_ERROR = 500  # after the retries, perhaps an entry's doing: split once asked


# What became of one item: its entry's fate (a state of journal/fates.py STATES and what
# goes with it: the HIS's "Type/id", the server's words, the HTTP status).
Answer = tuple[Item, Fate]


def answer(item: Item, state: str, his: str | None = None, detail: str | None = None,
           status: int | None = None) -> Answer:
    return item, Fate(item.key, state, his, detail, status)


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str


Record = Callable[[list[Answer]], None]


class Filer:
    """Files lists of (item, serialised body) through one client, handing each answer to
    `record`."""

    def __init__(self, client: FhirClient, record: Record, attempts: int = ATTEMPTS,
                 size: int = BUNDLE_SIZE):
        self.client = client
        self.record = record
        self.attempts = attempts
        self.size = size
        self.bundles = 0

    def file(self, items: list[tuple[Item, bytes]]) -> list[Answer]:
        answers: list[Answer] = []
        for start in range(0, len(items), self.size):
            answers += self._send(items[start:start + self.size])
        return answers

    def _send(self, chunk: list[tuple[Item, bytes]], attempts: int | None = None) -> list[Answer]:
        attempts = attempts or self.attempts
        result = self._post(transaction(chunk), attempts)
        if isinstance(result, Refusal) and len(chunk) > 1 and splits(result.status):
            half = len(chunk) // 2
            # a 500 the retries did not clear may be one entry's doing: its halves are
            # asked once each, so that the others are filed and it alone fails
            again = 1 if result.status == SERVER_ERROR else attempts
            return self._send(chunk[:half], again) + self._send(chunk[half:], again)
        if isinstance(result, Refusal):
            state = "refused" if refusal(result.status) else "failed"
            answers = [answer(item, state, None, result.detail, result.status or None)
                       for item, _ in chunk]
        else:
            answers = self._read(chunk, result)
        self.record(answers)
        return answers

    def _post(self, bundle: bytes, attempts: int) -> dict | Refusal:
        """The transaction-response, or why there is none: a 4xx (status and the
        OperationOutcome's words), or a failure that outlived the retries (status 0 when
        the server never answered)."""
        url = self.client.base
        failure, status = "", 0
        for attempt in range(attempts):
            self.client.requests += 1
            retry_after = None
            try:
                response = self.client.http.post(url, content=bundle,
                                                 headers={"Content-Type": FHIR_JSON})
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure, status = f"{type(exc).__name__} (no answer)", 0
            else:
                status = response.status_code
                if status < 300:
                    parsed = _response_bundle(response)
                    if parsed is not None:
                        self.bundles += 1
                        return parsed
                    failure = f"HTTP {status}: the answer is not a transaction-response"
                elif status not in RETRY_STATUS and status < 500:
                    return Refusal(status, diagnostics(_json(response)) or f"HTTP {status}")
                else:
                    failure = f"HTTP {status}" + _words(diagnostics(_json(response)))
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt + 1 < attempts:
                self.client.wait_to_retry(attempt, url, False, failure, retry_after)
        return Refusal(status, f"{failure}, after {attempts} attempt" + "s" * (attempts > 1))

    def _read(self, chunk: list[tuple[Item, bytes]], bundle: dict) -> list[Answer]:
        entries = bundle.get("entry") or []
        if len(entries) != len(chunk):
            return [answer(item, "failed", None, f"the transaction-response has {len(entries)} "
                           f"entries for {len(chunk)} sent") for item, _ in chunk]
        return [self._answer(item, entry.get("response") or {}) for (item, _), entry
                in zip(chunk, entries, strict=True)]

    def _answer(self, item: Item, response: dict) -> Answer:
        status = _status(response.get("status"))
        if status is None or status >= 300:
            state = "refused" if refusal(status) else "failed"
            words = diagnostics(response.get("outcome")) or f"status {response.get('status')!r}"
            return answer(item, state, None, words, status)
        his = self._his(item, response.get("location"))
        if his is None:
            return answer(item, "failed", None, "the HIS said it filed it, and no search by its "
                          "identifier finds exactly one", status)
        return answer(item, filed_state(item.method, status), his)

    def _his(self, item: Item, location: Any) -> str | None:
        """"Type/id" of what the HIS filed: from `location`, else by a search of the
        journal identifier (a server that says created and returns nothing)."""
        found = target(location.removeprefix(self.client.base)) if isinstance(location, str) \
            else None
        if found and found[0] == item.rtype:
            return f"{found[0]}/{found[1]}"
        if item.method == HIS:
            return f"{item.rtype}/{item.resource['id']}"
        return self.find(item)

    def find(self, item: Item) -> str | None:
        try:
            bundle = self.client.get_json(item.rtype, {"identifier": item.token()})
        except FhirError:
            return None
        ids = [entry.get("resource", {}).get("id") for entry in bundle.get("entry") or []
               if (entry.get("search") or {}).get("mode", "match") == "match"]
        return f"{item.rtype}/{ids[0]}" if len(ids) == 1 and ids[0] else None


def refusal(status: int | None) -> bool:
    """Whether a status says the server will not take it as sent (4xx, not a busy one)."""
    return status is not None and 400 <= status < 500 and status not in RETRY_STATUS


def splits(status: int | None) -> bool:
    """Whether a Bundle answered so is split to find the entries that cause it: a refusal
    of the client (401, 403) is not theirs, nor is a server busy or away (502, 503...)."""
    return (refusal(status) and status not in UNAUTHORISED) or status == SERVER_ERROR


def filed_state(method: str, status: int) -> str:
    """A 2xx answer as a fate: created (201), found (a conditional create's 200), updated."""
    if method == HISTORY:
        return "replaced"
    if method == HIS:
        return "updated"
    if status == 201:
        return "filed"
    return "already" if method == CREATE else "updated"


def transaction(chunk: list[tuple[Item, bytes]]) -> bytes:
    """The Bundle, put together from the bodies already serialised (a split Bundle's
    halves are made again from them, without serialising anything twice)."""
    return b'{"resourceType":"Bundle","type":"transaction","entry":[' + \
        b",".join(b'{"resource":' + body + b',"request":' + orjson.dumps(request(item)) + b"}"
                  for item, body in chunk) + b"]}"


def request(item: Item) -> dict:
    """The Bundle entry's request that files an item so that sending it again changes
    nothing."""
    if item.method == HIS:
        return {"method": "PUT", "url": f"{item.rtype}/{item.resource['id']}"}
    if item.method == UPDATE:
        return {"method": "PUT", "url": f"{item.rtype}?{item.condition()}"}
    return {"method": "POST", "url": item.rtype, "ifNoneExist": item.condition()}


def diagnostics(outcome: Any) -> str:
    """The words of an OperationOutcome's issues, for a person (at most 500 characters)."""
    if not isinstance(outcome, dict):
        return ""
    words = []
    for issue in outcome.get("issue") or []:
        if isinstance(issue, dict):
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
            if text:
                words.append(str(text))
    return "; ".join(words)[:500]


def _words(text: str) -> str:
    return f": {text}" if text else ""


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _response_bundle(response: httpx.Response) -> dict | None:
    data = _json(response)
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        return data
    return None


def _status(text: Any) -> int | None:
    head = str(text or "").strip()[:3]
    return int(head) if head.isdigit() else None
