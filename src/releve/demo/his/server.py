"""The demo HIS: a small FHIR R4 server backed by SQLite, standing in for the hospital's
information system. A demo and test fixture, not a product.

Routes (JSON only, `application/fhir+json`):

    GET  /metadata                          CapabilityStatement
    GET  /{type}?_lastUpdated=&_count=&_sort=_lastUpdated|-_lastUpdated   searchset
         (`_summary=count`: the total only; `_elements=id`: ids and meta only, SUBSETTED)
         and the search parameters of search_params.py: _id, identifier on every type,
         family, given, birthdate, gender on Patient
    POST /{type}/_search                    the same, parameters in a form body
    GET  /{type}/{id}   /{type}/{id}/_history/{vid}     read, vread (410 once deleted)
    POST /{type}   PUT /{type}/{id}   DELETE /{type}/{id}     create, update, delete
    POST /{type} + If-None-Exist   PUT /{type}?criteria      conditional (conditional.py)
    GET  /_history  /{type}/_history  /{type}/{id}/_history   ?_since=&_count=
    POST /                              transaction or batch Bundle
    GET|POST /$export                   Bulk Data kick-off (Prefer: respond-async)
    GET|DELETE /$export-status/{job}    poll (202 + X-Progress, then the manifest), cancel
                                        (faults on demand: bulk_faults.py)
    GET  /$export-file/{job}/{name}     ndjson

Every page link holds an opaque `_cursor`: the walk's pinned state T0, its total and where
to continue (see store.py). Bundle.meta.lastUpdated is that T0 on every page of a walk:
a later walk with `_lastUpdated=gt{T0}` (or `_history?_since=`) finds what changed since.
Errors are OperationOutcomes with 400, 401, 404, 409, 410 or 412. With a token, every
route but /metadata needs `Authorization: Bearer`. In SMART Backend Services mode
(smart.py), every FHIR route, /metadata included, needs a token its /auth/token issued.
With `hide_deletions`, a `_since` export's manifest has no `deleted` array, as on the
many servers that never report deletions there (the Bulk Data IG makes it optional);
history still lists them.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import random
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from rich.console import Console
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ... import logs
from . import pages, search_params
from .bulk import Exports, kickoff_params
from .bulk_faults import NO_FAULTS, BulkFaults
from .fhir import (
    MAX_LU,
    RESOURCE_TYPES,
    HisError,
    HisRequestError,
    check_type,
    date_range,
    format_lu,
    lu_bounds,
    parse_json,
)
from .load import populate
from .smart import Authority
from .store import Page, Store, Version
from .write_faults import WriteFaults
from .writes import Writes, prefer, resource_response, routes_of

log = logging.getLogger("releve.demo.his")

FHIR_JSON = "application/fhir+json"
DEFAULT_COUNT, MAX_COUNT = 100, 5000
SEARCH_PARAMS = {"_lastUpdated", "_count", "_sort", "_format", "_total", "_summary", "_elements"}
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "subsetted"}
HISTORY_PARAMS = {"_since", "_count", "_sort", "_format", "_summary"}


# --- responses ------------------------------------------------------------------------------


def outcome(status: int, message: str, code: str = "invalid") -> Response:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error" if status >= 400 else "information", "code": code,
                       "diagnostics": message}]}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(orjson.dumps(body), status, headers, media_type=FHIR_JSON)


def status_text(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def bundle_bytes(kind: str, page: Page, links: list[tuple[str, str]], entries: list[bytes]) -> bytes:
    head = orjson.dumps({"resourceType": "Bundle", "id": str(uuid.uuid4()),
                         "meta": {"lastUpdated": format_lu(page.t0)}, "type": kind,
                         "total": page.total,
                         "link": [{"relation": rel, "url": url} for rel, url in links]})
    return head[:-1] + b',"entry":[' + b",".join(entries) + b"]}" if entries else head


def history_entry(found: Version, base: str) -> bytes:
    key = f"{found.type}/{found.id}"
    if found.deleted:
        request = {"method": "DELETE", "url": key}
    elif found.status == 201:
        request = {"method": "POST", "url": found.type}
    else:
        request = {"method": "PUT", "url": key}
    response = {"status": status_text(found.status), "etag": found.etag,
                "lastModified": found.last_updated}
    head = b'{"fullUrl":' + orjson.dumps(f"{base}/{key}")
    tail = b',"request":' + orjson.dumps(request) + b',"response":' + orjson.dumps(response) + b"}"
    return head + (b',"resource":' + found.json if found.json else b"") + tail


def elements_id(params: QueryParams) -> bool:
    """Whether a search asks for ids only (`_elements=id`, the one form supported)."""
    if "_elements" not in params:
        return False
    if params["_elements"] != "id":
        raise HisRequestError(400, "_elements is supported with id only", "not-supported")
    return True


def id_only(found: Version) -> bytes:
    """The resource cut down to its id and meta, marked SUBSETTED as FHIR asks."""
    return orjson.dumps({"resourceType": found.type, "id": found.id, "meta": {
        "versionId": str(found.version), "lastUpdated": found.last_updated,
        "tag": [SUBSETTED]}})


# --- paging ---------------------------------------------------------------------------------


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).rstrip(b"=").decode()


def decode_cursor(text: str) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if isinstance(values, list) and len(values) == 7 and \
                all(isinstance(v, int) for v in values):
            return values
    except (ValueError, orjson.JSONDecodeError):
        pass
    raise HisRequestError(400, "_cursor is not one this server wrote (follow the Bundle's next link)")


def page_params(params: QueryParams, allowed: set[str], since_param: bool) -> list[int]:
    """[t0, after, total, low, high, descending, count] of this page (-1: not yet known)."""
    if "_cursor" in params:
        return decode_cursor(params["_cursor"])
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise HisRequestError(400, f"search parameter {unknown[0][:80]!r} is not supported (this server "
                             f"knows {', '.join(sorted(allowed - {'_format'}))})", "not-supported")
    if since_param:
        low, high = (date_range(params["_since"])[0], MAX_LU) if "_since" in params else (0, MAX_LU)
    else:
        low, high = lu_bounds(params.getlist("_lastUpdated"))
    sort = params.get("_sort", "-_lastUpdated" if since_param else "_lastUpdated")
    if sort not in ("_lastUpdated", "-_lastUpdated"):
        raise HisRequestError(400, f"_sort={sort[:80]} is not supported (_lastUpdated and "
                             "-_lastUpdated are)", "not-supported")
    try:
        count = min(int(params.get("_count", DEFAULT_COUNT)), MAX_COUNT)
        if count < 0:
            raise ValueError
    except ValueError:
        raise HisRequestError(400, f"_count={params['_count'][:40]} is not a whole number") from None
    summary = params.get("_summary")
    if summary == "count":
        count = 0
    elif summary not in (None, "false"):
        raise HisRequestError(400, f"_summary={summary[:40]} is not supported (count is)", "not-supported")
    return [-1, -1, -1, low, high, int(sort.startswith("-")), count]


def paged(request: Request, params: QueryParams, next_url: str, kind: str,
          fetch: Callable[..., Page], entry: Callable[[Version], bytes], allowed: set[str],
          since_param: bool = False) -> Response:
    """One page of a search or history walk, with its self and next links."""
    t0, after, total, low, high, descending, count = page_params(params, allowed, since_param)
    count = max(0, min(count, MAX_COUNT))
    page = fetch(low=low, high=high, count=count, descending=bool(descending),
                 t0=None if t0 < 0 else t0, after=None if after < 0 else after,
                 total=None if total < 0 else total)
    links = [("self", str(request.url))]
    if page.next_after is not None:
        cursor = encode_cursor([page.t0, page.next_after, page.total, low, high, descending, count])
        links.append(("next", f"{next_url}{'&' if '?' in next_url else '?'}_cursor={cursor}"))
    return Response(bundle_bytes(kind, page, links, [entry(v) for v in page.rows]),
                    media_type=FHIR_JSON)


# --- the app --------------------------------------------------------------------------------


def capability(base: str) -> dict[str, Any]:
    interactions = [{"code": c} for c in ("read", "vread", "update", "delete", "create",
                                          "search-type", "history-instance", "history-type")]
    common = [{"name": "_lastUpdated", "type": "date",
               "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"},
              {"name": "_elements", "type": "token",
               "documentation": "id only: the resources cut down to id and meta"}]
    return {
        "resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
        "date": format_lu(time.time_ns() // 1000), "fhirVersion": "4.0.1",
        "format": ["json", FHIR_JSON], "software": {"name": "Relève demo HIS"},
        "implementation": {"description": "Relève demo HIS (a test fixture)", "url": base},
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "rest": [{
            "mode": "server",
            "resource": [{"type": t, "versioning": "versioned", "readHistory": True,
                          "updateCreate": True, "conditionalCreate": True,
                          "conditionalUpdate": True, "interaction": interactions,
                          "searchParam": [*common, *search_params.capability_params(t)]}
                         for t in sorted(RESOURCE_TYPES)],
            "interaction": [{"code": "transaction"}, {"code": "batch"},
                            {"code": "history-system"}],
            "operation": [{"name": "export", "definition":
                           "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}],
        }],
    }


def create_app(store: Store, token: str | None = None, export_dir: Path | None = None,
               bulk_faults: BulkFaults = NO_FAULTS, smart: Authority | None = None,
               hide_deletions: bool = False, write_faults: Path | None = None) -> Starlette:
    """The FHIR server over `store`; Bulk export files go under `export_dir` (a temporary
    folder by default, removed at shutdown); `$export` shows `bulk_faults`. With `smart`,
    SMART Backend Services tokens. `hide_deletions`: export manifests leave deletions out.
    `write_faults`: the file of the write faults (write_faults.py)."""
    writes = Writes(store, WriteFaults(write_faults) if write_faults is not None else None)
    exports = Exports(store, Path(export_dir or tempfile.mkdtemp(prefix="releve-his-export-")),
                      requires_token=token is not None or smart is not None, faults=bulk_faults)

    def route(path: str, methods: list[str], handler: Callable[..., Response]) -> Route:
        async def endpoint(request: Request) -> Response:
            if token is not None and path != "/metadata":
                given = request.headers.get("authorization", "").encode()
                if not hmac.compare_digest(given, f"Bearer {token}".encode()):
                    return outcome(401, "a valid bearer token is required", "login")
            if smart is not None and not smart.allows(request.headers.get("authorization")):
                return outcome(401, "a valid SMART access token is required (none, unknown "
                                    "or expired)", "login")
            body = await request.body() if request.method in ("POST", "PUT") else b""
            base = str(request.base_url).rstrip("/")
            try:
                return await run_in_threadpool(handler, request, base, body,
                                               **request.path_params)
            except HisRequestError as exc:
                return outcome(exc.status, str(exc), exc.code)
        return Route(path, endpoint, methods=methods)

    def metadata(request: Request, base: str, body: bytes) -> Response:
        return Response(orjson.dumps(capability(base)), media_type=FHIR_JSON)

    def search(request: Request, base: str, body: bytes, rtype: str) -> Response:
        check_type(rtype)
        params = request.query_params
        if request.method == "POST":  # [type]/_search: parameters in a form body too
            params = QueryParams([*params.multi_items(),
                                  *QueryParams(body.decode(errors="replace")).multi_items()])
        prefix = b'{"fullUrl":' + orjson.dumps(f"{base}/{rtype}/")[:-1]  # ids need no escaping
        ids_only = elements_id(params)
        filters, params = search_params.split(rtype, params)
        match = search_params.match(rtype, filters)
        kept = filters + ([("_elements", "id")] if ids_only else [])

        def entry(v: Version) -> bytes:
            if v.json is None:  # Store.search finds live versions only
                raise HisRequestError(500, f"{rtype}/{v.id}: a search found a deleted version", "exception")
            resource = id_only(v) if ids_only else v.json
            return prefix + v.id.encode() + b'","resource":' + resource + b',"search":{"mode":"match"}}'

        return paged(request, params, f"{base}/{rtype}" + (f"?{urlencode(kept)}" if kept else ""),
                     "searchset", lambda **kw: pages.search(store, rtype, match=match, **kw), entry,
                     SEARCH_PARAMS | set(search_params.params_of(rtype)))

    def history(request: Request, base: str, body: bytes, rtype: str | None = None,
                rid: str | None = None) -> Response:
        return paged(request, request.query_params, str(request.url.replace(query="")), "history",
                     lambda **kw: pages.history(store, rtype, rid, **kw),
                     lambda v: history_entry(v, base), HISTORY_PARAMS, since_param=True)

    def read(request: Request, base: str, body: bytes, rtype: str, rid: str,
             vid: str | None = None) -> Response:
        if rid == "$export":
            raise HisRequestError(400, "only the system-level $export is supported here", "not-supported")
        if vid is not None and not vid.isdigit():
            raise HisRequestError(404, f"{rtype}/{rid}/_history/{vid[:40]} does not exist", "not-found")
        return resource_response(store.read(rtype, rid, int(vid) if vid else None), base)

    def kickoff(request: Request, base: str, body: bytes) -> Response:
        if "respond-async" not in prefer(request):
            raise HisRequestError(400, "$export needs the header 'Prefer: respond-async'")
        query = {key: request.query_params.getlist(key) for key in request.query_params}
        types, since = kickoff_params(query, parse_json(body) if body.strip() else None)
        job = exports.start(str(request.url), base, types, since)
        return Response(b"", 202, {"Content-Location": f"{base}/$export-status/{job.id}"})

    def export_status(request: Request, base: str, body: bytes, job: str) -> Response:
        if request.method == "DELETE":
            exports.cancel(job)
            return outcome(202, f"export {job} cancelled", "informational")
        found = exports.get(job)
        fault = found.faults.next()
        if fault is not None:
            status, message, headers = fault
            response = outcome(status, message, "transient" if status == 500 else "throttled")
            response.headers.update(headers)
            return response
        slow = found.faults.still_slow()
        if found.state == "running" or slow:
            return Response(b"", 202, {"X-Progress": slow or found.progress, "Retry-After": "1"})
        if found.state == "failed":
            raise HisRequestError(500, found.error or "export failed", "exception")
        manifest = found.manifest
        if hide_deletions and manifest is not None:
            manifest = {key: value for key, value in manifest.items() if key != "deleted"}
        return Response(orjson.dumps(manifest), media_type="application/json")

    def export_file(request: Request, base: str, body: bytes, job: str, name: str) -> Response:
        return FileResponse(exports.file(job, name), media_type="application/fhir+ndjson")

    async def not_found(request: Request, exc: Exception) -> Response:
        # Starlette calls a handler keyed by status code with an HTTPException only, but
        # types every handler as taking any Exception
        if not isinstance(exc, HTTPException):
            raise exc
        return outcome(exc.status_code, f"{request.method} {request.url.path[:200]}: "
                                        f"{exc.detail}", "not-supported")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        exports.close()

    routes = [
        *(smart.routes() if smart is not None else []),
        route("/metadata", ["GET"], metadata),
        route("/_history", ["GET"], history),
        route("/$export", ["GET", "POST"], kickoff),
        route("/$export-status/{job}", ["GET", "DELETE"], export_status),
        route("/$export-file/{job}/{name}", ["GET"], export_file),
        *(route(path, methods, handler) for path, methods, handler in routes_of(writes)),
        route("/{rtype}", ["GET"], search),
        route("/{rtype}/_search", ["POST"], search),
        route("/{rtype}/_history", ["GET"], history),
        route("/{rtype}/{rid}", ["GET"], read),
        route("/{rtype}/{rid}/_history", ["GET"], history),
        route("/{rtype}/{rid}/_history/{vid}", ["GET"], read),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found})
    app.state.store, app.state.exports = store, exports
    return app


# --- serving -------------------------------------------------------------------------------


def serve(host: str = "127.0.0.1", port: int = 8800, seed: int = 1, beds: int = 400,
          patients: int | None = None, load: list[Path] | None = None, db: Path | None = None,
          activity: bool = False, console: Console | None = None, token: str | None = None,
          activity_interval: float = 2.0, bulk_faults: BulkFaults = NO_FAULTS,
          smart_clients: Path | None = None, token_seconds: float = 300.0,
          hide_deletions: bool = False, write_faults: Path | None = None) -> None:
    """Run the demo HIS until interrupted (Ctrl-C). Without `db`, the database is a
    temporary file removed at the end."""
    import uvicorn

    from .activity import Activity, ActivityRunner

    console = console or Console(stderr=True)
    logs.configure()
    smart = Authority.from_file(smart_clients, token_seconds) if smart_clients else None
    with contextlib.ExitStack() as stack:
        if db is None:
            db = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="releve-his-"))) / "his.db"
        elif db.is_dir():
            raise HisError(f"--db {db} is a directory; give a file name")
        elif not db.parent.is_dir():
            raise HisError(f"--db {db}: no such folder {db.parent}")
        store = Store(db)
        stack.callback(store.close)
        populate(store, seed, beds, patients, list(load or []), console)
        app = create_app(store, token=token, bulk_faults=bulk_faults, smart=smart,
                         hide_deletions=hide_deletions, write_faults=write_faults)
        if write_faults is not None:
            log.warning("write faults read at each write from %s", write_faults)
        if bulk_faults.any():
            log.warning("Bulk export faults on: %s", bulk_faults)
        if activity:
            runner = ActivityRunner(Activity(store, random.Random(seed)), activity_interval).start()
            stack.callback(runner.stop)
        log.info("FHIR R4 server at http://%s:%s/ (%s activity; Ctrl-C to stop)", host, port,
                 "with" if activity else "without")
        with _stopped_cleanly():
            uvicorn.run(app, host=host, port=port, **logs.uvicorn_options())
        log.info("demo HIS stopped")


@contextlib.contextmanager
def _stopped_cleanly() -> Iterator[None]:
    """Ctrl-C or SIGTERM end the server and then unwind normally, so that the temporary
    database is removed (uvicorn re-raises the signal it caught once it has shut down)."""
    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if main else None
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
