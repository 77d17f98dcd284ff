"""Notes (DocumentReference) and transmissions between shifts (Communication).

A note is free text a nurse, a physician or a pharmacist writes in the patient's record:
a DocumentReference typed with a LOINC document code, its text as a text/plain
attachment (base64, as FHIR carries attachments), its date and its author as the
station knows them. A transmission is what one shift hands over to the next: a
Communication whose payload is the text and whose topic names the shift it is for.
`check` applies the form's rules to a resource posted to the station's API.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping

from ...fhir.clinical.values import as_dict, as_list, as_text, codes
from ..entry import Draft
from . import MAX_TEXT, Checked, Context, Fields, Invalid, Problem, fhir_time

NOTE = "note"
TRANSMISSION = "transmission"
LOINC = "http://loinc.org"
# form value: (LOINC code, LOINC display, French label)
NOTE_TYPES: dict[str, tuple[str, str, str]] = {
    "infirmiere": ("34746-8", "Nurse Note", "Note infirmière"),
    "medicale": ("11506-3", "Progress note", "Note d'évolution médicale"),
    "avis": ("11488-4", "Consult note", "Avis (consultation, pharmacie)"),
}
DEFAULT_TYPE = {"nurse": "infirmiere", "physician": "medicale", "pharmacist": "avis"}
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/communication-category"
SHIFT_SYSTEM = "urn:releve:shift"  # the shift a transmission is for (views/summary/shifts.py)
# the shifts of views/summary/shifts.py (a test keeps the two equal)
SHIFTS: dict[str, str] = {"matin": "Équipe du matin", "apres-midi": "Équipe de l'après-midi",
                          "nuit": "Équipe de nuit"}
TEXT = "text"


def from_form(raw: Mapping[str, object], context: Context, author: str = "") -> Draft:
    """A note or a transmission, as the form's `kind` says; `author` is the signed-in
    user's name and role, as the station shows them (never typed)."""
    kind = str(raw.get("kind") or NOTE)
    if kind == TRANSMISSION:
        return transmission_from_form(raw, context, author)
    return note_from_form(raw, context, author)


def note_from_form(raw: Mapping[str, object], context: Context, author: str = "") -> Draft:
    fields = Fields(raw, context)
    chosen = fields.choice("type", NOTE_TYPES, required=False) or DEFAULT_TYPE.get(context.role, "infirmiere")
    text = fields.text(TEXT, required=True, limit=MAX_TEXT)
    when = fields.when("when")
    fields.done()
    return Draft(NOTE, context.patient, document(chosen, text, when, context, author))


def transmission_from_form(raw: Mapping[str, object], context: Context, author: str = "") -> Draft:
    fields = Fields(raw, context)
    shift = fields.choice("shift", SHIFTS)
    text = fields.text(TEXT, required=True, limit=MAX_TEXT)
    when = fields.when("when")
    fields.done()
    return Draft(TRANSMISSION, context.patient, communication(shift, text, when, context, author))


def document(kind: str, text: str, when: dt.datetime, context: Context, author: str) -> dict:
    code, display, label = NOTE_TYPES[kind]
    resource: dict = {
        "resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": label},
        "subject": {"reference": context.patient}, "date": fhir_time(when)}
    if author:
        resource["author"] = [{"display": author}]
    resource["content"] = [{"attachment": {
        "contentType": "text/plain; charset=utf-8", "language": "fr",
        "data": base64.b64encode(text.encode()).decode(), "title": label,
        "creation": fhir_time(when)}}]
    if context.encounter:
        resource["context"] = {"encounter": [{"reference": context.encounter}]}
    return resource


def communication(shift: str, text: str, when: dt.datetime, context: Context, author: str) -> dict:
    resource: dict = {
        "resourceType": "Communication", "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "notification",
                                  "display": "Notification"}], "text": "Transmission"}],
        "subject": {"reference": context.patient},
        "topic": {"coding": [{"system": SHIFT_SYSTEM, "code": shift}], "text": SHIFTS[shift]},
        "sent": fhir_time(when)}
    if context.encounter:
        resource["encounter"] = {"reference": context.encounter}
    if author:
        resource["sender"] = {"display": author}
    resource["payload"] = [{"contentString": text}]
    return resource


# --- what a resource says, for the pages and for check ---------------------------------------


def note_text(resource: Mapping[str, object]) -> str | None:
    """The text of a note or a transmission; None when it cannot be read."""
    if resource.get("resourceType") == "Communication":
        payloads = [as_dict(p) for p in as_list(resource.get("payload"))]
        texts = [p.get("contentString") for p in payloads]
        return texts[0] if texts and isinstance(texts[0], str) else None
    for content in as_list(resource.get("content")):
        attachment = as_dict(as_dict(content).get("attachment"))
        if not as_text(attachment.get("contentType")).startswith("text/plain"):
            continue
        try:
            return base64.b64decode(as_text(attachment.get("data")), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def check(resource: Mapping[str, object], context: Context) -> Checked:
    """A DocumentReference (note) or a Communication (transmission) checked as the forms
    check theirs: the patient, a known type or shift, a text of 1 to MAX_TEXT
    characters, a time neither in the future nor too far back."""
    rtype = resource.get("resourceType")
    problems: list[Problem] = []
    if rtype not in ("DocumentReference", "Communication"):
        raise Invalid([Problem("resourceType", "Une note (DocumentReference) ou une transmission "
                               "(Communication) est attendue.")])
    if as_dict(resource.get("subject")).get("reference") != context.patient:
        problems.append(Problem("subject", "La note doit concerner ce patient."))
    text = note_text(resource)
    where = "payload" if rtype == "Communication" else "content"
    if text is None or not text.strip():
        problems.append(Problem(where, "Le texte est obligatoire (texte brut, text/plain)."))
    elif len(text) > MAX_TEXT:
        problems.append(Problem(where, "Texte trop long ({n} caractères, {limit} au plus).",
                                {"n": len(text), "limit": MAX_TEXT}))
    if rtype == "DocumentReference":
        known = {code for code, _, _ in NOTE_TYPES.values()}
        if not codes(resource.get("type")) & known:
            problems.append(Problem("type", "Type de note attendu (LOINC) : {codes}.",
                                    {"codes": ", ".join(sorted(known))}))
        if resource.get("status") not in ("current", "entered-in-error"):
            problems.append(Problem("status", "Statut attendu : current (ou entered-in-error)."))
        when_name = "date"
    else:
        if not codes(resource.get("topic")) & set(SHIFTS):
            problems.append(Problem("topic", "Équipe attendue : {shifts}.", {"shifts": ", ".join(SHIFTS)}))
        if resource.get("status") not in ("completed", "entered-in-error"):
            problems.append(Problem("status", "Statut attendu : completed (ou entered-in-error)."))
        when_name = "sent"
    when = as_text(resource.get(when_name))
    if not when:
        problems.append(Problem(when_name, "La date est obligatoire."))
    else:
        fields = Fields({"when": when.replace("Z", "+00:00")}, context)
        fields.when("when")
        problems += [Problem(when_name, p.text, p.values) for p in fields.problems]
    if problems:
        raise Invalid(problems)
    return Checked(dict(resource))
