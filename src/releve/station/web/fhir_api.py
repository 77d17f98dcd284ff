"""The station's local FHIR API: bedside devices and scripts record as the forms do.

    POST /fhir/{type}            a FHIR R4 resource of a recordable type: checked by the
                                 same rules as the forms (journal/kinds), recorded (fsynced)
                                 and answered 201 with the resource as recorded, its
                                 journal identifier in `identifier`; 400 (not a resource
                                 of that type) or 422 (refused by a rule) with an
                                 OperationOutcome saying why, and nothing written.
    GET  /fhir/{type}?patient=ID what the station shows of that type for the patient: the
                                 vault's resources and the current local ones, as a
                                 searchset Bundle.

Same audit, same roles (the token's or the account's), same fsync before the answer as
the forms. Admissions and movements go through the forms only: they take a downtime
number and a bed, which a device has no business choosing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ... import clock
from ...journal.book import current
from ...journal.entry import Draft
from ...journal.export import exported
from ...journal.kinds import Checked, Context, Invalid, Problem
from ...journal.roles import may_record
from ..recorded import recorded_for
from ..views import resources as resources_q
from . import access, rec_administrations
from .base import audit, current_user, db, station
from .recording import record

FHIR_JSON = "application/fhir+json"
MAX_BODY = 256 * 1024
# resourceType -> (kind, module of journal/kinds, its check function): the forms' rules
RECORDABLE: dict[str, tuple[str, str, str]] = {
    "MedicationAdministration": ("administration", "administration", "check"),
    "Observation": ("observation", "observation", "check"),
    "DocumentReference": ("note", "note", "check"),
    "Communication": ("transmission", "note", "check"),
    "MedicationRequest": ("order", "order", "check"),
    "ServiceRequest": ("order", "order", "check"),
}
CONTEXTS: dict[str, Callable[[Request, str, dict], Context]] = {
    "MedicationAdministration": rec_administrations.api_context,
}
READERS = ("nurse", "physician", "pharmacist")  # a peer's token reads journals and status only
READABLE = ("Patient", "Observation", "MedicationAdministration", "MedicationRequest", "ServiceRequest",
            "Communication", "DocumentReference", "Encounter", "AllergyIntolerance",
            "Condition", "DiagnosticReport", "Procedure", "Immunization", "CarePlan")


def fhir_response(content: Any, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(orjson.dumps(content), status_code=status, media_type=FHIR_JSON,
                        headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def outcome(status: int, problems: list[Problem], code: str = "invalid") -> Response:
    """An OperationOutcome with one issue per problem, the French text as diagnostics."""
    issues = [{"severity": "error", "code": code, "diagnostics": p.message(),
               **({"expression": [p.field]} if p.field else {})} for p in problems]
    return fhir_response({"resourceType": "OperationOutcome", "issue": issues}, status)


def checker(rtype: str) -> tuple[str, Callable[[dict, Context], Checked]] | None:
    found = RECORDABLE.get(rtype)
    if found is None:
        return None
    kind, module, function = found
    return kind, getattr(importlib.import_module(f"releve.journal.kinds.{module}"), function)


async def create(request: Request) -> Response:
    rtype = request.path_params["type"]
    found = checker(rtype)
    if found is None:
        return outcome(404 if rtype not in READABLE else 405, [Problem(
            "", "Ce type de ressource ne s'enregistre pas par l'API de la station.")],
            "not-supported")
    kind, check = found
    if not may_record(current_user(request).role, kind):
        return outcome(403, [Problem("", "Ce rôle ne permet pas cette saisie.")], "forbidden")
    body = await request.body()
    if len(body) > MAX_BODY:
        return outcome(413, [Problem("", "Ressource trop volumineuse.")], "too-costly")
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError:
        return outcome(400, [Problem("", "Le corps n'est pas du JSON.")], "structure")
    if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
        return outcome(400, [Problem("resourceType", "La ressource n'est pas de type {type}.",
                                     {"type": rtype})], "structure")
    patient = _patient_of(resource)
    if patient is None or not await run_in_threadpool(_known_patient, request, patient):
        return outcome(422, [Problem("subject", "Patient inconnu de la station.")], "not-found")
    if not await run_in_threadpool(access.may_open, request, patient):
        return outcome(403, [Problem("subject", "Patient hors de votre périmètre.")], "forbidden")
    try:
        checked = await run_in_threadpool(_checked, request, rtype, patient, resource, check)
    except Invalid as exc:
        return outcome(422, exc.problems, "business-rule")
    for extra in ("id", "meta"):
        checked.resource.pop(extra, None)  # the journal gives the id; meta is the station's
    entries = await record(request, [Draft(kind, f"Patient/{patient}", checked.resource)], "fhir-api")
    recorded = exported(entries[0])
    headers = {"Location": f"/fhir/{rtype}/{recorded['id']}"}
    if checked.warnings:
        headers["X-Releve-Warnings"] = str(len(checked.warnings))
    return fhir_response(recorded, 201, headers)


async def search(request: Request) -> Response:
    rtype = request.path_params["type"]
    patient = request.query_params.get("patient", "").removeprefix("Patient/")
    if rtype not in READABLE and rtype not in RECORDABLE:
        return outcome(404, [Problem("", "Type de ressource inconnu de l'API de la station.")],
                       "not-supported")
    if current_user(request).role not in READERS:
        return outcome(403, [Problem("", "Ce rôle ne lit pas les dossiers des patients.")], "forbidden")
    if not patient:
        return outcome(400, [Problem("patient", "Le paramètre patient est obligatoire.")], "required")
    if not await run_in_threadpool(_known_patient, request, patient):
        return outcome(404, [Problem("patient", "Patient inconnu de la station.")], "not-found")
    if not await run_in_threadpool(access.may_open, request, patient):
        return outcome(403, [Problem("patient", "Patient hors de votre périmètre.")], "forbidden")
    found = await run_in_threadpool(_shown, request, rtype, patient)
    await run_in_threadpool(audit, request, "view", "fhir-api", patient, rtype)
    return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                          "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]})


def _checked(request: Request, rtype: str, patient: str, resource: dict,
             check: Callable[[dict, Context], Checked]) -> Checked:
    """The kind's check, in the context the form would give it (an administration's order
    and plan: rec_administrations.api_context)."""
    special = CONTEXTS.get(rtype)
    context = special(request, patient, resource) if special else Context(
        clock.now(), station(request).settings().timezone, f"Patient/{patient}",
        current_user(request).role)
    return check(resource, context)


def _shown(request: Request, rtype: str, patient: str) -> list[dict]:
    """The vault's resources of that type, then the current local ones (not cancelled)."""
    conn = db(request)
    out = resources_q.of_patient(conn, patient, rtype) if conn is not None else []
    journal = station(request).journal
    out += [exported(e) for e in current(journal.for_patient(f"Patient/{patient}"))
            if e.resource["resourceType"] == rtype and e.resource.get("status") != "entered-in-error"]
    return out


def _patient_of(resource: dict) -> str | None:
    subject = resource.get("subject") or resource.get("patient")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(ref, str) or not ref.startswith("Patient/") or len(ref) > 80:
        return None
    return ref.removeprefix("Patient/")


def _known_patient(request: Request, patient: str) -> bool:
    conn = db(request)
    if conn is not None and resources_q.resource(conn, "Patient", patient) is not None:
        return True
    return recorded_for(station(request).journal, patient).patient is not None


routes = [
    Route("/fhir/{type}", create, methods=["POST"]),
    Route("/fhir/{type}", search, methods=["GET"]),
]
