"""The demo HIS's write routes: create (conditional with If-None-Exist), update (PUT
Type/id, or conditional PUT Type?criteria), delete, and transaction or batch Bundles.

Each goes the way of a batch entry (bundle.py), and through the write faults when the
server has a faults file (write_faults.py): counted, screened, perhaps failed, stripped
or delayed. Answers: 201 Created with Location (`Type/id/_history/v`), ETag and
Last-Modified; 200 OK for an update or a conditional create that found its resource,
with Location and Content-Location; the resource in the body unless `Prefer:
return=minimal`; 204 for a delete.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .bundle import Screen, process_bundle, request_entry, write_one
from .fhir import EPOCH, HisRequestError, check_id, check_type, parse_json
from .store import Store, Version
from .write_faults import Plan, WriteFaults

FHIR_JSON = "application/fhir+json"
Handler = Callable[..., Response]


def resource_response(found: Version, base: str, status: int = 200, body: bool = True,
                      located: bool = False) -> Response:
    """A resource and its headers; `located` (a write's answer): Location even when not
    created, as for a conditional create that found its resource."""
    location = f"{base}/{found.type}/{found.id}/_history/{found.version}"
    headers = {"ETag": found.etag, "Last-Modified": http_date(found.lu)}
    if status == 201 or located:
        headers["Location"] = location
    if status != 201:
        headers["Content-Location"] = location
    return Response(found.json if body else b"", status, headers, media_type=FHIR_JSON)


def http_date(lu: int) -> str:
    return format_datetime(EPOCH + timedelta(microseconds=lu), usegmt=True)


def prefer(request: Request) -> str:
    return request.headers.get("prefer", "").replace(" ", "")


def if_match(request: Request) -> int | None:
    value = request.headers.get("if-match")
    if value is None:
        return None
    digits = value.removeprefix("W/").strip('"')
    if not digits.isdigit():
        raise HisRequestError(400, f"If-Match {value[:40]!r} is not a version (W/\"3\")")
    return int(digits)


def _faulty(bundle: bool) -> Callable[[Handler], Handler]:
    """A write route under the write faults: the request counted and perhaps failed
    before, its entries screened, its answer changed after."""
    def wrap(method: Handler) -> Handler:
        @functools.wraps(method)
        def run(self: Writes, request: Request, base: str, body: bytes, **path: str) -> Response:
            plan = Plan()
            try:
                if self.faults is not None:
                    plan = self.faults.begin()
                plan.before()
                return plan.finish(method(self, request, base, body, plan.screen, **path), bundle)
            finally:
                if plan.faults.delay_seconds:
                    time.sleep(plan.faults.delay_seconds)
        return run
    return wrap


class Writes:
    """The write handlers of `create_app`, over a store and its faults (None: none)."""

    def __init__(self, store: Store, faults: WriteFaults | None = None):
        self.store, self.faults = store, faults

    def _answer(self, request: Request, base: str, found: Version, located: bool) -> Response:
        return resource_response(found, base, found.status, "return=minimal" not in prefer(request),
                                 located=located)

    @_faulty(bundle=False)
    def create(self, request: Request, base: str, body: bytes, screen: Screen,
               rtype: str) -> Response:
        check_type(rtype)
        entry = request_entry("POST", rtype, None, parse_json(body),
                              request.headers.get("if-none-exist"))
        return self._answer(request, base, write_one(self.store, entry, screen), True)

    @_faulty(bundle=False)
    def update(self, request: Request, base: str, body: bytes, screen: Screen, rtype: str,
               rid: str) -> Response:
        check_type(rtype)
        entry = request_entry("PUT", rtype, check_id(rid), parse_json(body), None,
                              if_match(request))
        return self._answer(request, base, write_one(self.store, entry, screen), False)

    @_faulty(bundle=False)
    def conditional_update(self, request: Request, base: str, body: bytes, screen: Screen,
                           rtype: str) -> Response:
        check_type(rtype)
        if not request.url.query:
            raise HisRequestError(400, f"PUT {rtype} needs an id (PUT {rtype}/id) or criteria "
                                  f"(PUT {rtype}?identifier=...)")
        entry = request_entry("PUT", rtype, None, parse_json(body), request.url.query,
                              if_match(request))
        return self._answer(request, base, write_one(self.store, entry, screen), True)

    @_faulty(bundle=False)
    def delete(self, request: Request, base: str, body: bytes, screen: Screen, rtype: str,
               rid: str) -> Response:
        check_type(rtype)
        entry = request_entry("DELETE", rtype, check_id(rid), None, None, if_match(request))
        write_one(self.store, entry, screen)
        return Response(status_code=204)

    @_faulty(bundle=True)
    def bundle(self, request: Request, base: str, body: bytes, screen: Screen) -> Response:
        status, data = process_bundle(self.store, parse_json(body), base,
                                      "return=representation" in prefer(request), screen)
        return Response(data, status, media_type=FHIR_JSON)


def routes_of(writes: Writes) -> list[tuple[str, list[str], Any]]:
    """(path, methods, handler) of the write routes."""
    return [("/", ["POST"], writes.bundle), ("/{rtype}", ["POST"], writes.create),
            ("/{rtype}", ["PUT"], writes.conditional_update),
            ("/{rtype}/{rid}", ["PUT"], writes.update),
            ("/{rtype}/{rid}", ["DELETE"], writes.delete)]
