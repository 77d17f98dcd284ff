"""Transaction and batch Bundles (`POST [base]`), as FHIR R4 http.html#transaction says.

A transaction is all or nothing: its writes run in one SQLite transaction, in the order
DELETE, POST, PUT, and `urn:uuid:` (or any) fullUrls of created resources are resolved in
every reference of the Bundle. A batch runs each entry on its own; a failing entry gets
its status and an OperationOutcome in the response, the others go through.
Conditional requests (`ifNoneExist`, `?` in a url) and PATCH are refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

from .fhir import HisRequestError, check_id, check_type
from .store import Store, Version, Write

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
    if "ifNoneExist" in request or "ifNoneMatch" in request or "ifModifiedSince" in request \
            or "?" in url:
        raise HisRequestError(400, "conditional requests are not supported", "not-supported")
    url = url.removeprefix(base + "/").strip("/")
    parts = url.split("/")
    rtype = check_type(parts[0])
    rid = version = None
    if method == "POST":
        if len(parts) != 1:
            raise HisRequestError(400, f"POST {url[:80]}: expected a resource type")
    elif len(parts) == 2 or (method == "GET" and len(parts) == 4 and parts[2] == "_history"
                             and parts[3].isdigit()):
        rid = check_id(parts[1])
        version = int(parts[3]) if len(parts) == 4 else None
    else:
        raise HisRequestError(400, f"{method} {url[:80]}: expected Type/id")
    resource = entry.get("resource")
    if method in ("POST", "PUT"):
        if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
            raise HisRequestError(400, f"{method} {url[:80]} needs a {rtype} resource")
    if_match = request.get("ifMatch")
    if if_match is not None:
        digits = str(if_match).removeprefix("W/").strip('"')
        if not digits.isdigit():
            raise HisRequestError(400, f"ifMatch {str(if_match)[:40]!r} is not a version (W/\"3\")")
        if_match = int(digits)
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    return Entry(number, method, rtype, rid, version, resource, if_match, full_url)


def resolve(value: Any, targets: dict[str, str], number: int) -> None:
    """Rewrite every `reference` naming a fullUrl of this transaction, in place."""
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            if reference in targets:
                value["reference"] = targets[reference]
            elif reference.startswith(("urn:uuid:", "urn:oid:")):
                raise HisRequestError(400, f"entry {number}: reference {reference[:80]} points to no "
                                     "entry of this transaction")
        for item in value.values():
            resolve(item, targets, number)
    elif isinstance(value, list):
        for item in value:
            resolve(item, targets, number)


def response_entry(found: Version, representation: bool, created: bool = False) -> dict[str, Any]:
    status = 201 if created else found.status
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


def process_bundle(store: Store, bundle: Any, base: str, representation: bool) -> tuple[int, bytes]:
    """(HTTP status, body) for a POSTed transaction or batch Bundle."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise HisRequestError(400, "POST [base] takes a transaction or batch Bundle")
    kind = bundle.get("type")
    raw = bundle.get("entry") or []
    if not isinstance(raw, list):
        raise HisRequestError(400, "Bundle.entry is not a list")
    if kind == "transaction":
        return 200, encode("transaction-response", transaction(store, raw, base, representation))
    if kind == "batch":
        return 200, encode("batch-response", batch(store, raw, base, representation))
    raise HisRequestError(400, f"Bundle.type {str(kind)[:40]!r}: only transaction and batch are processed")


def transaction(store: Store, raw: list[Any], base: str, representation: bool) -> list[dict[str, Any]]:
    entries = []
    for number, item in enumerate(raw, start=1):
        try:
            entries.append(parse_entry(number, item, base))
        except HisRequestError as exc:
            exc.args = (f"entry {number}: {exc}",)
            raise
    targets: dict[str, str] = {}
    for entry in entries:
        if entry.method == "GET":
            raise HisRequestError(400, f"entry {entry.number}: GET entries belong in a batch, "
                                 "not a transaction", "not-supported")
        if entry.method == "POST":
            entry.id = str(uuid.uuid4())
        if entry.full_url and entry.id and entry.method != "DELETE":
            if entry.full_url in targets:
                raise HisRequestError(400, f"entry {entry.number}: fullUrl {entry.full_url[:80]} "
                                     "appears twice")
            targets[entry.full_url] = f"{entry.type}/{entry.id}"
    for entry in entries:
        if entry.resource is not None:
            resolve(entry.resource, targets, entry.number)
    ordered = sorted(entries, key=lambda e: ORDER[e.method])
    writes = [Write(e.method, e.type, e.id, _to_write(e), e.if_match) for e in ordered]
    try:
        results = store.write(writes)
    except HisRequestError as exc:
        if exc.index is not None:
            exc.args = (f"entry {ordered[exc.index].number}: {exc}",)
        raise
    found = {e.number: (e, r) for e, r in zip(ordered, results, strict=True)}
    return [response_entry(r, representation, e.method == "POST")
            for e, r in (found[n] for n in range(1, len(entries) + 1))]


def _to_write(entry: Entry) -> dict[str, Any] | None:
    """The resource a transaction entry writes: a POSTed one with the id given to it."""
    if entry.method != "POST":
        return entry.resource
    assert entry.resource is not None  # parse_entry refuses a POST without a resource
    return {**entry.resource, "id": entry.id}


def batch(store: Store, raw: list[Any], base: str, representation: bool) -> list[dict[str, Any]]:
    out = []
    for number, item in enumerate(raw, start=1):
        try:
            entry = parse_entry(number, item, base)
            if entry.method == "GET":
                assert entry.id is not None
                found = store.read(entry.type, entry.id, entry.version)
                out.append(response_entry(found, True))
                continue
            result, = store.write([Write(entry.method, entry.type, entry.id, entry.resource,
                                         entry.if_match)])
            out.append(response_entry(result, representation, entry.method == "POST"))
        except HisRequestError as exc:
            out.append(error_entry(exc))
    return out

