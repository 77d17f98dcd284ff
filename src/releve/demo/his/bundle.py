"""Transaction and batch Bundles (`POST [base]`), as FHIR R4 http.html#transaction says,
and the single writes of the REST API, which go the same way.

A transaction is all or nothing: its writes run in one SQLite transaction (the search
index's rows included), in the order DELETE, then POST and PUT (their conditions settled
first: conditional.py), and `urn:uuid:` (or any) fullUrls of created or matched
resources are resolved in every reference of the Bundle. A failing entry fails the whole
Bundle, its OperationOutcome naming the entry (`entry 3 (POST Observation, fullUrl
urn:uuid:...)`). A batch runs each entry on its own; a failing entry gets its status and
an OperationOutcome in the response, the others go through. A conditional create that
finds its resource answers `200 OK` with that resource's location and etag. Conditional
reads, deletes and PATCH are refused.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

from .conditional import settle
from .fhir import HisRequestError, check_id, check_type
from .store import Store, Version, Write, Writer

Screen = Callable[[str, dict[str, Any] | None], None]  # raises to refuse a write (write_faults.py)

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}


@dataclass
class Entry:
    number: int
    method: str
    type: str
    id: str | None
    version: int | None  # GET Type/id/_history/n
    resource: dict[str, Any] | None
    if_match: int | None
    full_url: str | None
    url: str = ""
    condition: str | None = None  # the criteria of a conditional create or update
    matched: bool = False         # a conditional create that found its resource: no write

    @property
    def label(self) -> str:
        """How an OperationOutcome names this entry."""
        where = f"entry {self.number} ({self.method} {self.url[:120]}"
        return where + (f", fullUrl {self.full_url[:120]})" if self.full_url else ")")


def parse_entry(number: int, entry: Any, base: str) -> Entry:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise HisRequestError(400, "an entry without a request")
    request = entry["request"]
    method, url = request.get("method"), request.get("url")
    if method not in ORDER:
        raise HisRequestError(400, f"request.method {str(method)[:20]!r} is not supported "
                             "(GET, POST, PUT, DELETE are)", "not-supported")
    if not isinstance(url, str) or not url:
        raise HisRequestError(400, "request.url is missing")
    if "ifNoneMatch" in request or "ifModifiedSince" in request:
        raise HisRequestError(400, "conditional reads are not supported", "not-supported")
    condition = request.get("ifNoneExist")
    if condition is not None and (method != "POST" or not isinstance(condition, str)):
        raise HisRequestError(400, "ifNoneExist is a search string, on a POST")
    url = url.removeprefix(base + "/").strip("/")
    if "?" in url:
        if method != "PUT":
            raise HisRequestError(400, f"{method} {url[:80]}: of the conditional requests, only "
                                  "conditional create and update are supported", "not-supported")
        url, condition = url.split("?", 1)
    parts = url.split("/")
    rtype = check_type(parts[0])
    rid = version = None
    if method == "POST":
        if len(parts) != 1:
            raise HisRequestError(400, f"POST {url[:80]}: expected a resource type")
    elif condition is not None:
        if len(parts) != 1:
            raise HisRequestError(400, f"PUT {url[:80]}?...: expected Type?criteria")
    elif len(parts) == 2 or (method == "GET" and len(parts) == 4 and parts[2] == "_history"
                             and parts[3].isdigit()):
        rid = check_id(parts[1])
        version = int(parts[3]) if len(parts) == 4 else None
    else:
        raise HisRequestError(400, f"{method} {url[:80]}: expected Type/id")
    resource = entry.get("resource")
    if method in ("POST", "PUT"):
        needs_resource(method, url, rtype, resource)
    if_match = request.get("ifMatch")
    if if_match is not None:
        digits = str(if_match).removeprefix("W/").strip('"')
        if not digits.isdigit():
            raise HisRequestError(400, f"ifMatch {str(if_match)[:40]!r} is not a version (W/\"3\")")
        if_match = int(digits)
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    return Entry(number, method, rtype, rid, version, resource, if_match, full_url,
                 str(request["url"]), condition)


def request_entry(method: str, rtype: str, rid: str | None, resource: Any,
                  condition: str | None = None, if_match: int | None = None) -> Entry:
    """A write of the REST API as an entry (`POST Type`, `PUT Type/id`, `PUT Type?criteria`,
    `DELETE Type/id`), to go the way of a batch's."""
    url = rtype + (f"/{rid}" if rid else f"?{condition}" if method == "PUT" else "")
    if method != "DELETE":
        needs_resource(method, url, rtype, resource)
    return Entry(1, method, rtype, rid, None, resource, if_match, None, url, condition)


def needs_resource(method: str, url: str, rtype: str, resource: Any) -> None:
    if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        raise HisRequestError(400, f"{method} {url[:80]} needs a {rtype} resource, not "
                              f"{str(kind)[:80]!r}")


def resolve(value: Any, targets: dict[str, str]) -> None:
    """Rewrite every `reference` naming a fullUrl of this transaction, in place."""
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            if reference in targets:
                value["reference"] = targets[reference]
            elif reference.startswith(("urn:uuid:", "urn:oid:")):
                raise HisRequestError(400, f"reference {reference[:80]} points to no entry of "
                                      "this transaction")
        for item in value.values():
            resolve(item, targets)
    elif isinstance(value, list):
        for item in value:
            resolve(item, targets)


def response_entry(found: Version, representation: bool) -> dict[str, Any]:
    status = found.status
    response: dict[str, Any] = {"status": f"{status} {HTTPStatus(status).phrase}",
                                "etag": found.etag, "lastModified": found.last_updated}
    if not found.deleted:
        response["location"] = f"{found.type}/{found.id}/_history/{found.version}"
    return {"response": response, "_json": found.json if representation else None}


def error_entry(exc: HisRequestError) -> dict[str, Any]:
    return {"response": {"status": f"{exc.status} {HTTPStatus(exc.status).phrase}",
                         "outcome": {"resourceType": "OperationOutcome", "issue": [
                             {"severity": "error", "code": exc.code, "diagnostics": str(exc)}]}},
            "_json": None}


def encode(kind: str, entries: list[dict[str, Any]]) -> bytes:
    parts = []
    for entry in entries:
        data = orjson.dumps({"response": entry["response"]})
        if entry.get("_json"):
            data = data[:-1] + b',"resource":' + entry["_json"] + b"}"
        parts.append(data)
    head = orjson.dumps({"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": kind})
    return head[:-1] + b',"entry":[' + b",".join(parts) + b"]}"


def process_bundle(store: Store, bundle: Any, base: str, representation: bool,
                   screen: Screen | None = None) -> tuple[int, bytes]:
    """(HTTP status, body) for a POSTed transaction or batch Bundle."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise HisRequestError(400, "POST [base] takes a transaction or batch Bundle")
    kind = bundle.get("type")
    raw = bundle.get("entry") or []
    if not isinstance(raw, list):
        raise HisRequestError(400, "Bundle.entry is not a list")
    if kind == "transaction":
        return 200, encode("transaction-response", transaction(store, raw, base, representation,
                                                                   screen))
    if kind == "batch":
        return 200, encode("batch-response", batch(store, raw, base, representation, screen))
    raise HisRequestError(400, f"Bundle.type {str(kind)[:40]!r}: only transaction and batch are processed")


def transaction(store: Store, raw: list[Any], base: str, representation: bool,
                screen: Screen | None = None) -> list[dict[str, Any]]:
    entries = []
    for number, item in enumerate(raw, start=1):
        try:
            entries.append(parse_entry(number, item, base))
        except HisRequestError as exc:
            full_url = item.get("fullUrl") if isinstance(item, dict) else None
            named = f" (fullUrl {full_url[:120]})" if isinstance(full_url, str) else ""
            exc.args = (f"entry {number}{named}: {exc}",)
            raise
    for entry in entries:
        with blame(entry):
            if entry.method == "GET":
                raise HisRequestError(400, "GET entries belong in a batch, not a transaction",
                                      "not-supported")
            if screen is not None:
                screen(entry.type, entry.resource)
    with store.writing() as writer:
        results = apply_entries(writer, entries, resolve_references=True)
    return [response_entry(found, representation) for found in results]


def batch(store: Store, raw: list[Any], base: str, representation: bool,
          screen: Screen | None = None) -> list[dict[str, Any]]:
    out = []
    for number, item in enumerate(raw, start=1):
        try:
            entry = parse_entry(number, item, base)
            if entry.method == "GET":
                assert entry.id is not None
                out.append(response_entry(store.read(entry.type, entry.id, entry.version), True))
                continue
            with blame(entry):
                out.append(response_entry(write_one(store, entry, screen), representation))
        except HisRequestError as exc:
            out.append(error_entry(exc))
    return out


def write_one(store: Store, entry: Entry, screen: Screen | None = None) -> Version:
    """One write of the REST API or of a batch, in a transaction of its own."""
    if screen is not None:
        screen(entry.type, entry.resource)
    with store.writing() as writer:
        found, = apply_entries(writer, [entry], resolve_references=False)
    return found


def apply_entries(writer: Writer, entries: list[Entry], resolve_references: bool) -> list[Version]:
    """Write the entries in FHIR's order: DELETE, then POST and PUT once their conditions
    and ids are settled and (in a transaction) their references resolved. The versions
    written or found, in the entries' order."""
    results: dict[int, Version] = {}
    for entry in entries:
        if entry.method == "DELETE":
            with blame(entry):
                results[entry.number] = writer.apply(Write("DELETE", entry.type, entry.id, None,
                                                           entry.if_match))
    targets: dict[str, str] = {}
    conditions: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.method in ("POST", "PUT"):
            with blame(entry):
                if entry.condition is not None:
                    # settled before any is written: a second alike would create it twice
                    first = conditions.setdefault((entry.type, entry.condition), entry.number)
                    if first != entry.number:
                        raise HisRequestError(400, f"the same condition as entry {first}")
                    entry.id, found = settle(writer, entry.method, entry.type, entry.condition,
                                             entry.resource)
                    entry.matched = found and entry.method == "POST"
                elif entry.method == "POST":
                    entry.id = str(uuid.uuid4())
                if entry.full_url:
                    if entry.full_url in targets:
                        raise HisRequestError(400, f"fullUrl {entry.full_url[:80]} appears twice")
                    targets[entry.full_url] = f"{entry.type}/{entry.id}"
    for entry in entries:
        if resolve_references and entry.resource is not None:
            with blame(entry):
                resolve(entry.resource, targets)
    for method in ("POST", "PUT"):
        for entry in entries:
            if entry.method == method:
                with blame(entry):
                    results[entry.number] = writer.current(entry.type, str(entry.id)) \
                        if entry.matched else writer.apply(
                            Write(entry.method, entry.type, entry.id, _to_write(entry),
                                  entry.if_match))
    return [results[entry.number] for entry in entries]


@contextlib.contextmanager
def blame(entry: Entry) -> Iterator[None]:
    """An error while handling an entry names it."""
    try:
        yield
    except HisRequestError as exc:
        exc.args = (f"{entry.label}: {exc}",)
        raise


def _to_write(entry: Entry) -> dict[str, Any] | None:
    """The resource an entry writes: a created one with the id given to it."""
    if entry.method != "POST":
        return entry.resource
    assert entry.resource is not None  # parse_entry refuses a POST without a resource
    return {**entry.resource, "id": entry.id}
