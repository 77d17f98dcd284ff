"""Recording movements during the downtime: admission, transfer, discharge, death
(journal/kinds/movement.py; docs/journal.md §5.4).

    /wards/{ward}/admit                        admission form (GET) and its post
    /patients/{pid}/movements/{action}         transfer, discharge or death: form and post
    /wards/{ward}/print/downtime-labels.pdf    POST: numbered labels (the numbers reserved)
    /wards/{ward}/print/admission-form.pdf     POST: a blank admission form, numbers reserved

A post that cannot be recorded answers 400 with every field's problem in French, the
typed values kept, nothing written (no number taken either: the form is checked before a
number is given). A post that records redirects (303) to the patient's page.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ... import clock
from ...journal.kinds import Context, Invalid, Problem
from ...journal.kinds import movement as kind
from ...journal.roles import may_record
from ..local.identifiers import WARN_SHARE, IdentifierError, Identifiers
from ..views import census as census_q
from ..views import movements, resources
from . import access
from .base import current_user, db, render, station
from .rec_movements_print import print_routes
from .recording import checked_form, record, require

ACTIONS = {"transfer": "Transfert", "discharge": "Sortie", "death": "Décès"}
NUMBER_PROBLEMS = {
    "used-up": "Les numéros de mode dégradé de cette station sont épuisés : aucune admission ne "
               "peut recevoir de numéro. Un administrateur doit attribuer une nouvelle plage "
               "(releve station identifiers --station DOSSIER --ipp DEBUT-FIN --stay DEBUT-FIN).",
    "not-ours": "Ce numéro n'appartient pas aux plages de cette station.",
    "given": "Ce numéro a déjà été attribué à un patient.",
    "not-printed": "Ce numéro n'a pas été imprimé sur une étiquette : laissez le champ vide "
                   "pour prendre le numéro suivant.",
}


def need(request: Request) -> sqlite3.Connection:
    conn = db(request)
    if conn is None:
        raise HTTPException(503, "nodata")
    return conn


def context(request: Request, pid: str = "") -> Context:
    return Context(clock.now(), station(request).settings().timezone,
                   f"Patient/{pid}" if pid else "", current_user(request).role)


def free_beds(request: Request, ward: str, moves: movements.Moves) -> dict[str, tuple[str, str]]:
    """The ward's beds nobody occupies, as the census shows them: bed id -> (name, ward)."""
    found = census_q.census(need(request), ward, clock.now(), station(request).settings().timezone,
                            moves)
    if found is None:
        raise HTTPException(404, "ward")
    return {row.place.id: (row.place.name, ward) for row in found.rows
            if row.place and row.place.physical_type == census_q.BED and row.occupant is None
            and movements.open_bed(row.place)}


# --- admission -----------------------------------------------------------------------------------


async def admit(request: Request) -> Response:
    ward = request.path_params["ward"]
    require(request, "admission")
    if not access.may_open_ward(request, ward):
        return access.ask_ward_reason(request, ward)
    moves = await run_in_threadpool(movements.read, station(request).journal)
    beds = await run_in_threadpool(free_beds, request, ward, moves)
    if request.method == "GET":
        return _admission_page(request, ward, beds, {"bed": request.query_params.get("bed", "")}, [])
    form = await checked_form(request)
    raw = {k: str(v) for k, v in form.items()}
    here = context(request)
    try:  # checked before any number is given: a refused form takes none
        kind.admission_from_form({**raw, "ipp": "", "stay": "", "ipp_system": "",
                                  "stay_system": ""}, here, beds)
        ipp, stay = await run_in_threadpool(Identifiers(station(request).dir).take_admission,
                                            raw.get("ipp_label") or None, raw.get("stay_label") or None)
    except Invalid as exc:
        return _admission_page(request, ward, beds, raw, exc.problems, 400)
    except IdentifierError as exc:
        return _admission_page(request, ward, beds, raw, [number_problem(str(exc))], 400)
    drafts = kind.admission_from_form({**raw, "ipp": ipp.value, "stay": stay.value,
                                       "ipp_system": ipp.system, "stay_system": stay.system},
                                      here, beds)
    entries = await record(request, drafts, "admission")
    return RedirectResponse(f"/patients/{quote(entries[0].resource['id'], safe='')}", 303)


def number_problem(code: str) -> Problem:
    """An IdentifierError's code ("ipp:used-up") as the form's problem, in French."""
    which, _, what = code.partition(":")
    return Problem(f"{which}_label" if what != "used-up" else "numbers",
                   NUMBER_PROBLEMS.get(what, code))


def _admission_page(request: Request, ward: str, beds: Mapping[str, tuple[str, str]],
                    values: Mapping[str, str], problems: list[Problem], status: int = 200) -> Response:
    book = Identifiers(station(request).dir)
    unit = census_q.all_places(need(request)).get(ward)
    return render(request, "rec_admission.html", status_code=status, ward=ward,
                  ward_name=unit.name if unit else ward, beds=beds, values=values,
                  errors={p.field: p for p in problems},
                  next_ipp=book.peek("ipp"), next_stay=book.peek("stay"),
                  sexes=kind.SEXES, classes=kind.CLASSES)


# --- transfer, discharge, death ------------------------------------------------------------------


def vault_stay(conn: sqlite3.Connection, pid: str) -> dict | None:
    """The patient's stay in progress in the vault (an inpatient one first, latest first)."""
    return resources.current_stay(conn, pid)


def current_stay(conn: sqlite3.Connection, moves: movements.Moves,
                 pid: str) -> tuple[dict | None, str | None]:
    """(the stay in progress, the journal entry of its current version or None)."""
    local = moves.stay_of(pid)
    if local is not None:
        return local.resource, local.key
    stay = vault_stay(conn, pid)
    if stay is not None and (moves.stays.get(str(stay.get("id"))) is not None):
        return None, None  # ended here during the downtime
    return stay, None


def ward_of(conn: sqlite3.Connection, bed: str | None) -> str | None:
    """The unit ('wa') a place belongs to."""
    places = census_q.all_places(conn)
    current, seen = places.get(bed or ""), set()
    while current is not None and current.id not in seen:
        if current.physical_type == census_q.UNIT:
            return current.id
        seen.add(current.id)
        current = places.get(current.part_of or "")
    return None


async def move(request: Request) -> Response:
    pid, action = request.path_params["pid"], request.path_params["action"]
    if action not in ACTIONS:
        raise HTTPException(404, "action")
    require(request, action)
    if not access.may_open(request, pid):
        return access.ask_reason(request, pid)
    conn = need(request)
    moves = await run_in_threadpool(movements.read, station(request).journal)
    stay, stay_key = current_stay(conn, moves, pid)
    if stay is None and action != "death":
        raise HTTPException(409, "no stay")
    form = await checked_form(request) if request.method == "POST" else None
    raw = {k: str(v) for k, v in (form or {}).items()}
    ward = raw.get("ward") or request.query_params.get("ward") or ward_of(
        conn, kind.current_bed(stay) if stay else None) or ""
    beds = await run_in_threadpool(free_beds, request, ward, moves) \
        if action == "transfer" and ward else {}
    if form is None or raw.get("choose") == "1":
        return _move_page(request, pid, action, ward, beds, raw, [])
    here = context(request, pid)
    try:
        if action == "transfer":
            drafts = [kind.transfer_from_form(raw, here, stay or {}, beds, stay_key)]
        elif action == "discharge":
            drafts = [kind.discharge_from_form(raw, here, stay or {}, stay_key)]
        else:
            patient = moves.patients.get(pid) or _vault_patient(conn, pid)
            drafts = kind.death_from_form(raw, here, patient, stay,
                                          (moves.patient_keys.get(pid), stay_key))
    except Invalid as exc:
        return _move_page(request, pid, action, ward, beds, raw, exc.problems, 400)
    await record(request, drafts, action)
    return RedirectResponse(f"/patients/{quote(pid, safe='')}", 303)


def _vault_patient(conn: sqlite3.Connection, pid: str) -> dict:
    found = resources.resource(conn, "Patient", pid)
    if found is None:
        raise HTTPException(404, "patient")
    return found


def _move_page(request: Request, pid: str, action: str, ward: str,
               beds: Mapping[str, tuple[str, str]], values: Mapping[str, str],
               problems: list[Problem], status: int = 200) -> Response:
    units = census_q.units(need(request)) if action == "transfer" else []
    return render(request, "rec_movement.html", status_code=status, pid=pid, action=action,
                  title=ACTIONS[action], ward=ward, beds=beds, units=units, values=values,
                  errors={p.field: p for p in problems},
                  dispositions=kind.DISPOSITIONS)


# --- what the pages show -------------------------------------------------------------------------


class PageMoves:
    """For the templates (base.common_context): the patient header's movement facts and
    buttons, the ward's « admis en mode dégradé » marks, the numbers running out."""

    def __init__(self, request: Request):
        self.request = request
        self._moves: movements.Moves | None = None

    def moves(self) -> movements.Moves:
        if self._moves is None:
            self._moves = movements.read(station(self.request).journal)
        return self._moves

    def may(self, action: str) -> bool:
        user = getattr(self.request.state, "user", None)
        return user is not None and may_record(user.role, action)

    def admit_at(self, place: object) -> bool:
        """Whether the census offers « Admettre ici » on this empty place."""
        return self.may("admission") and getattr(place, "physical_type", None) == census_q.BED \
            and movements.open_bed(place)

    def patient(self, pid: str) -> dict:
        moves = self.moves()
        found = moves.patients.get(pid) if pid in moves.admitted else None
        conn = db(self.request)
        stay = moves.stay_of(pid)
        return {"admitted": found is not None,
                "ipp": movements.downtime_ipp(found) if found else "",
                "duplicates": movements.duplicates(conn, moves, pid),
                "moved": stay is not None and stay.kind == "transfer",
                "in_stay": stay is not None or (conn is not None and
                                                vault_stay(conn, pid) is not None
                                                and not _ended_here(conn, moves, pid)),
                "dead": "deceasedDateTime" in (moves.patients.get(pid) or {})}

    def numbers_low(self) -> list[tuple[str, int, int]]:
        """(kind, used, total) of the kinds 80 % used, for admins and care roles."""
        user = getattr(self.request.state, "user", None)
        if user is None or user.role not in ("admin", "nurse", "physician", "secretary"):
            return []
        try:
            shares = Identifiers(station(self.request).dir).shares()
        except IdentifierError:
            return []
        return [(k, used, total) for k, (used, total) in shares.items() if used >= WARN_SHARE * total]


def _ended_here(conn: sqlite3.Connection, moves: movements.Moves, pid: str) -> bool:
    stay = vault_stay(conn, pid)
    return stay is not None and str(stay.get("id")) in moves.stays


routes: list[BaseRoute] = [
    Route("/wards/{ward}/admit", admit, methods=["GET", "POST"]),
    Route("/patients/{pid}/movements/{action}", move, methods=["GET", "POST"]),
    *print_routes,
]
