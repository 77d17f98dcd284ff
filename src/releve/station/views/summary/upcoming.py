"""What is coming for the patient: appointments, pending requests and procedures under
way, from two hours ago on."""

from __future__ import annotations

import datetime as dt

from ....fhir.clinical.values import as_dict, as_list, as_text, concept_text, effective, reference_text
from ....fhir.refs import target
from .model import Summary, Upcoming
from .reader import Reader


def upcoming(reader: Reader, summary: Summary) -> None:
    horizon = reader.now - dt.timedelta(hours=2)
    linked: set[str] = set()

    def appointment(resource: dict) -> Upcoming | None:
        if resource.get("status") in ("cancelled", "noshow", "fulfilled", "entered-in-error"):
            return None
        start = resource.get("start") if isinstance(resource.get("start"), str) else None
        when = reader.when(start)
        if when is None or when < horizon:
            return None
        for ref in as_list(resource.get("basedOn")):
            found = target(ref)
            if found:
                linked.add(found[1])
        where, who = "", []
        for participant in as_list(resource.get("participant")):
            actor = as_dict(participant).get("actor")
            found = target(actor)
            if found and found[0] == "Location":
                where = where or reference_text(actor) or reader.lookup.location(found[1]).get("ro", "")
            elif found and found[0] == "Patient":
                continue
            else:
                name = reader.lookup.person(actor)
                role = concept_text(as_list(as_dict(participant).get("type")))
                if name:
                    who.append(f"{name} ({role})" if role else name)
        notes = [as_text(resource.get("comment")), as_text(resource.get("patientInstruction"))]
        for ref in as_list(resource.get("basedOn")):
            request = reader.lookup.of(ref, "ServiceRequest")
            if request:
                notes += [as_text(as_dict(n).get("text")) for n in as_list(request.get("note"))]
        what = as_text(resource.get("description")) or concept_text(as_list(resource.get("serviceType"))) \
            or concept_text(as_list(resource.get("serviceCategory"))) or "Rendez-vous"
        return Upcoming(start, what, where, who, as_text(resource.get("status")), "Appointment",
                        " ".join(n for n in notes if n))

    def request(resource: dict) -> Upcoming | None:
        if resource.get("id") in linked or resource.get("status") not in ("active", "draft", "on-hold"):
            return None
        if resource.get("intent") in ("proposal", "plan", "filler-order") and not resource.get("occurrenceDateTime"):
            return None
        when_text = effective(resource, "occurrenceDateTime", "occurrencePeriod")
        when = reader.when(when_text)
        if when is not None and when < horizon:
            return None
        where = ", ".join(reference_text(r) for r in as_list(resource.get("locationReference"))
                          if reference_text(r))
        who = [reader.lookup.person(p) for p in as_list(resource.get("performer"))]
        notes = [as_text(as_dict(n).get("text")) for n in as_list(resource.get("note"))]
        return Upcoming(when_text, concept_text(resource.get("code")) or "Demande", where,
                        [w for w in who if w], as_text(resource.get("status")), "ServiceRequest",
                        " ".join(n for n in notes if n))

    def procedure(resource: dict) -> Upcoming | None:
        if resource.get("status") not in ("preparation", "in-progress"):
            return None
        when_text = effective(resource, "performedDateTime", "performedPeriod")
        who = [reader.lookup.person(as_dict(p).get("actor")) for p in as_list(resource.get("performer"))]
        return Upcoming(when_text, concept_text(resource.get("code")) or "Acte",
                        reference_text(resource.get("location")), [w for w in who if w],
                        as_text(resource.get("status")), "Procedure")

    found = reader.each("Appointment", appointment)
    found += reader.each("ServiceRequest", request)
    for resource in reader.by_type.get("Procedure", []):
        if resource.get("status") in ("preparation", "in-progress"):
            try:
                item = procedure(resource)
            except Exception:  # noqa: BLE001
                reader.other("Procedure", resource)
                continue
            if item:
                found.append(item)
    found.sort(key=lambda u: reader.sort_key(u.when) if u.when else float("inf"))
    summary.upcoming = found

