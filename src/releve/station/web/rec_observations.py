"""Recording vital signs, notes and transmissions during the downtime (docs/journal.md §5).

    POST /patients/{pid}/vitals        the vital-signs form: one entry per measure filled
    POST /patients/{pid}/notes         a note or a transmission
    GET|POST /patients/{pid}/entries/{station}/{seq}/correct   a new version of an entry
    GET|POST /patients/{pid}/entries/{station}/{seq}/cancel    its cancellation

The forms sit on the patient summary; a post that records answers 303 back to it (a
reload never records twice), where the values show in the trend, marked as recorded
here, with the warning an implausible one was recorded with. A form with a problem comes
back on a page of its own (rec_form.html), status 400, each problem beside its field,
what was typed kept, nothing written. A correction or a cancellation asks for a reason
and writes a new entry superseding the old one; both stay in the list's history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ... import clock
from ...errors import ReleveError
from ...fhir.clinical.values import unit_text
from ...fhir.clinical.vitals import MEASURES
from ...journal.book import Chain, versions
from ...journal.entry import Draft, Entry, entry_key
from ...journal.kinds import MAX_TEXT, Context, Fields, Invalid, Problem, observation
from ...journal.kinds import note as notes
from ...journal.roles import may_record
from ..recorded import recorded_for
from ..views.formats import shown_instant
from ..views.summary import summary
from ..views.summary.model import Summary
from ..views.summary.shifts import window
from . import access
from .base import audit, current_user, render, station
from .recording import checked_form, patient_context, record, require

KINDS = (observation.KIND, notes.NOTE, notes.TRANSMISSION)
LISTED = (notes.NOTE, notes.TRANSMISSION)


@dataclass
class Item:
    """An entry of the lists: its current version, the versions it replaced (oldest
    first) and what the page shows of each."""

    entry: Entry
    text: str
    label: str
    cancelled: bool
    when: str  # when it was measured or written (the resource's time), FHIR dateTime
    versions: list[tuple[Entry, str]] = field(default_factory=list)  # (entry, text)


def shown_text(entry: Entry) -> tuple[str, str]:
    """(label, text) of an entry for the lists: « Note infirmière », its text;
    « Température », « 38,2 °C »."""
    resource = entry.resource
    if entry.kind == observation.KIND:
        parts = observation.measured(resource)
        label = str(resource.get("code", {}).get("text") or "Observation")
        value = "/".join(observation.shown(v) for _, _, v, _ in parts if v is not None)
        unit = parts[0][1].unit if parts else ""
        return label, f"{value} {unit_text(unit)}".strip()
    text = notes.note_text(resource) or ""
    if entry.kind == notes.TRANSMISSION:
        return "Transmission · " + str(resource.get("topic", {}).get("text") or ""), text
    return str(resource.get("type", {}).get("text") or "Note"), text


# the newest notes and measures a patient page lists: every one is on the entries' page
# (/patients/{pid}/entries), and each listed item carries its correction forms, whose
# rendering cost a page with hundreds of entries more than all the rest of its reading
NOTES_LISTED = 20
MEASURES_LISTED = 5


def items(entries: list[Entry], kinds: tuple[str, ...] = LISTED,
          limit: int | None = None) -> tuple[list[Item], int]:
    """The current entries of these kinds, newest first, each with its history (the
    `limit` newest only: a patient with hundreds of measures shows the last ones, and
    wording each costs more than sorting them), and how many there are in all."""
    chains = versions([e for e in entries if e.kind in kinds]).chains
    chains.sort(key=lambda c: (c.entry.when, c.entry.time, c.entry.seq), reverse=True)
    return ([_item(chain, str(resource_time(chain.entry.resource) or chain.entry.time))
             for chain in chains[:limit]], len(chains))


def _item(chain: Chain, when: str) -> Item:
    entry = chain.entry
    earlier = [(e, shown_text(e)[1]) for e in reversed(chain.earlier)]
    label, text = shown_text(entry)
    cancelled = entry.resource.get("status") == "entered-in-error"
    if cancelled and earlier:
        text = earlier[-1][1]
    return Item(entry, text, label, cancelled, when, earlier)


def form_data(request: Request) -> dict:
    """What the forms show: the measures, note types, shifts, and what the user may record."""
    role = current_user(request).role
    return {"measures": MEASURES, "note_types": notes.NOTE_TYPES, "shifts": notes.SHIFTS,
            "next_shift": next_shift(station(request).settings().timezone),
            "max_text": MAX_TEXT, "may": {kind: may_record(role, kind) for kind in KINDS}}


def next_shift(zone: str) -> str:
    """The shift after the one in progress: whom a transmission is written for."""
    now = clock.now()
    names = list(notes.SHIFTS)
    current = next((n for n in names if window(n, now, zone).start <= now), names[0])
    return names[(names.index(current) + 1) % len(names)]


def page_data(request: Request, pid: str) -> dict:
    """What the summary's recording sections need: the forms' data and the two lists."""
    (notes, notes_total), (measures, measures_total) = station(request).journal.derived(
        f"Patient/{pid}", "lists", lambda entries: (
            items(entries, limit=NOTES_LISTED),
            items(entries, (observation.KIND,), limit=MEASURES_LISTED)))
    return {**form_data(request), "notes": notes, "notes_total": notes_total,
            "observations": measures, "observations_total": measures_total}


# --- the posts ---------------------------------------------------------------------------------


def _patient(request: Request, pid: str) -> Summary:
    """The patient's summary (404 if unknown), once the user may open the patient (403).
    A patient admitted during the downtime is known from the journal alone."""
    here = station(request)
    conn = here.db()
    found = summary(conn, pid, clock.now(), here.settings().timezone,
                    recorded_for(here.journal, pid)) if conn else None
    if found is None:
        raise HTTPException(404, "patient")
    if not access.may_open(request, pid):
        raise HTTPException(403, "role")
    return found


def _context(request: Request, found: Summary) -> Context:
    return Context(now=clock.now(), zone=found.zone, patient=f"Patient/{found.patient_id}",
                   role=current_user(request).role,
                   encounter=f"Encounter/{found.stay.encounter}" if found.stay else None)


def author_text(request: Request) -> str:
    """« Nina Martin (Infirmier·ère) »: the author of a note, as the HIS will show it."""
    from .app import role_label  # the app imports this module: read at call time

    user = current_user(request)
    return f"{user.display_name} ({role_label(user.role)})"


def _back(pid: str, part: str) -> Response:
    """303 to the summary, at the section written to (PRG: a reload never records twice)."""
    anchor = "h-vitals" if part == "vitals" else "h-rec-notes"
    return RedirectResponse(f"/patients/{quote(pid)}?saved={part}#{anchor}", status_code=303)


def _form_page(request: Request, found: Summary, form: str, raw: Mapping[str, object],
               problems: list[Problem], status: int = 400, **extra: object) -> Response:
    audit(request, "view", f"rec-{form}", patient=found.patient_id)
    errors: dict[str, list[Problem]] = {}
    for problem in problems:
        errors.setdefault(problem.field, []).append(problem)
    return render(request, "rec_form.html", status_code=status, s=found, form=form,
                  values=raw, errors=errors, patient_name=found.identity.name,
                  rec=form_data(request), **extra)


async def post_vitals(request: Request) -> Response:
    pid = request.path_params["pid"]
    require(request, observation.KIND)
    context = await run_in_threadpool(patient_context, request, pid)
    raw = dict(await checked_form(request))
    try:
        drafts = observation.from_form(raw, context)
    except Invalid as exc:
        found = await run_in_threadpool(_patient, request, pid)
        return await run_in_threadpool(_form_page, request, found, "vitals", raw, exc.problems)
    await record(request, drafts, "vitals")
    return _back(pid, "vitals")


async def post_note(request: Request) -> Response:
    pid = request.path_params["pid"]
    raw = dict(await checked_form(request))
    kind = str(raw.get("kind") or notes.NOTE)
    if kind not in LISTED:
        raise HTTPException(400)
    require(request, kind)
    context = await run_in_threadpool(patient_context, request, pid)
    try:
        draft = notes.from_form(raw, context, author_text(request))
    except Invalid as exc:
        found = await run_in_threadpool(_patient, request, pid)
        return await run_in_threadpool(_form_page, request, found, kind, raw, exc.problems)
    await record(request, [draft], "notes")
    return _back(pid, "notes")


# --- corrections and cancellations -------------------------------------------------------------


def _entry(request: Request, pid: str) -> Entry:
    """The entry the URL names, for this patient, of a kind recorded here, still current."""
    key = entry_key(request.path_params["station"], int(request.path_params["seq"]))
    entry = station(request).journal.entry(key)
    if entry is None or entry.patient != f"Patient/{pid}" or entry.kind not in KINDS:
        raise HTTPException(404, "entry")
    require(request, entry.kind)
    if station(request).journal.superseding(key):
        raise Superseded()
    return entry


class Superseded(ReleveError):
    """The entry was corrected or cancelled already: the current version is the one to change."""


SUPERSEDED = ("Saisie déjà remplacée",
              "Cette saisie a déjà été corrigée ou annulée. Rien n'a été enregistré : revenez au "
              "dossier et corrigez la version actuelle.")


def resource_time(resource: dict) -> str | None:
    return resource.get("effectiveDateTime") or resource.get("date") or resource.get("sent")


def typed_values(entry: Entry, zone: str) -> dict[str, object]:
    """The form's fields as the entry recorded them, for a correction to start from."""
    resource = entry.resource
    when_text = resource_time(resource)
    when = shown_instant(when_text, zone) if when_text else None
    values: dict[str, object] = {"when": when.strftime("%Y-%m-%dT%H:%M") if when else ""}
    if entry.kind == observation.KIND:
        for _, measure, value, _ in observation.measured(resource):
            values[measure.key] = observation.shown(value) if value is not None else ""
        notes_ = resource.get("note") or []
        values[observation.COMMENT] = notes_[0].get("text", "") if notes_ else ""
        return values
    values["kind"] = entry.kind
    values[notes.TEXT] = notes.note_text(resource) or ""
    if entry.kind == notes.TRANSMISSION:
        values["shift"] = (resource.get("topic", {}).get("coding") or [{}])[0].get("code", "")
    else:
        codes = {c.get("code") for c in resource.get("type", {}).get("coding", [])}
        values["type"] = next((k for k, (code, _, _) in notes.NOTE_TYPES.items() if code in codes), "")
    return values


def _reason(raw: Mapping[str, object], found: Summary, request: Request) -> str:
    fields = Fields(raw, _context(request, found))
    reason = fields.text("reason", required=True)
    fields.done()
    return reason


async def correct(request: Request) -> Response:
    return await _supersede(request, "correct")


async def cancel(request: Request) -> Response:
    return await _supersede(request, "cancel")


async def _supersede(request: Request, action: str) -> Response:
    pid = request.path_params["pid"]
    found = await run_in_threadpool(_patient, request, pid)
    try:
        entry = _entry(request, pid)
    except Superseded:
        title, message = SUPERSEDED
        return render(request, "error.html", status_code=409, status=409, title=title, message=message)
    label, text = shown_text(entry)
    extra: dict[str, Any] = {"entry": entry, "action": action, "entry_label": label, "entry_text": text,
             "measures": [m.key for _, m, _, _ in observation.measured(entry.resource)]}
    if request.method == "GET":
        return _form_page(request, found, action, typed_values(entry, found.zone), [], 200, **extra)
    raw = dict(await checked_form(request))
    problems: list[Problem] = []
    try:
        reason = _reason(raw, found, request)
    except Invalid as exc:
        problems += exc.problems
    try:
        draft = _replacement(entry, action, raw, _context(request, found), request)
    except Invalid as exc:
        problems += exc.problems
    if problems:
        return _form_page(request, found, action, raw, problems, **extra)
    await record(request, [Draft(entry.kind, entry.patient, draft.resource, entry.key, reason)],
                 "correct" if action == "correct" else "cancel")
    return _back(pid, "vitals" if entry.kind == observation.KIND else "notes")


def _replacement(entry: Entry, action: str, raw: Mapping[str, object], context: Context,
                 request: Request) -> Draft:
    """The new version: the same resource entered-in-error, or what the form says now."""
    if action == "cancel":
        return Draft(entry.kind, entry.patient, {**entry.resource, "status": "entered-in-error"})
    if entry.kind != observation.KIND:
        return notes.from_form({**raw, "kind": entry.kind}, context, author_text(request))
    wanted = {m.key for _, m, _, _ in observation.measured(entry.resource)}
    kept = {k: v for k, v in raw.items() if k in wanted or k in ("when", observation.COMMENT)}
    drafts = observation.from_form(kept, context)
    return drafts[0]


routes: list[BaseRoute] = [
    Route("/patients/{pid}/vitals", post_vitals, methods=["POST"]),
    Route("/patients/{pid}/notes", post_note, methods=["POST"]),
    Route("/patients/{pid}/entries/{station}/{seq:int}/correct", correct, methods=["GET", "POST"]),
    Route("/patients/{pid}/entries/{station}/{seq:int}/cancel", cancel, methods=["GET", "POST"]),
]
