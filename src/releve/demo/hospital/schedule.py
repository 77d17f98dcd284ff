"""Care planned ahead: chemotherapy protocols, radiotherapy courses, the operating-room
schedule. This is what the attacked hospitals lost first ("chemo and radiotherapy
cancelled"): a station must show which cycle or fraction comes next and which
operations are booked, so each activity says whether it is done or still to come.
"""

from __future__ import annotations

from datetime import date, timedelta

from . import build as b
from .catalog import SNOMED
from .catalog.conditions import DIAGNOSES
from .catalog.procedures import PROCEDURES, Course, Protocol
from .chart import Chart, blood_group, condition, encounter, lab, staff_ref
from .letters import document, letter_head
from .site import Staff, Unit

LATERAL = {"thr", "tkr", "hernia"}
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
APPOINTMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"


def _cancer(chart: Chart, code: str, first_day: date, doctor: Staff) -> str:
    onset = b.at(first_day - timedelta(days=chart.rng.randint(45, 120)), "10:00")
    return condition(chart, code, "problem-list-item", onset, doctor)


def _tumour_board(chart: Chart, unit: Unit, when: int, doctor: Staff, decision: str) -> None:
    lines = letter_head(unit.name, "Réunion de concertation pluridisciplinaire (RCP)",
                        chart.person.display, b.fr_date(b.at(chart.person.birth, "12:00")),
                        chart.person.ipp)
    lines += [f"RCP d'oncologie du {b.fr_date(when)}.", f"Décision : {decision}.",
              "Information du patient faite en consultation d'annonce.", "", doctor.title]
    chart.out.append(document(chart.new_id("doc"), "rcp", chart.pid, doctor.id, doctor.title,
                              when, lines, chart.now, setting=unit.name))


def chemotherapy(chart: Chart, protocol: Protocol) -> None:
    """A protocol under way: cycles done (each a day-hospital stay) and cycles to come."""
    rng = chart.rng
    unit = chart.site.by_code["hdjo"]
    oncologist = chart.doctor(unit)
    done = rng.randint(1, protocol.cycles - 1)
    last_done = chart.today - timedelta(days=rng.randint(1, protocol.every_days - 1))
    first_day = last_done - timedelta(days=(done - 1) * protocol.every_days)
    cancer = _cancer(chart, protocol.diagnosis, first_day, oncologist)
    board = b.at(first_day - timedelta(days=rng.randint(10, 20)), "14:00")
    _tumour_board(chart, unit, board, oncologist,
                  f"{protocol.title}, {protocol.cycles} cures tous les {protocol.every_days} jours")
    slot = rng.choice(("08:30", "09:00", "09:30", "10:00", "11:00"))
    activities = []
    last_end = board
    for k in range(protocol.cycles):
        day = first_day + timedelta(days=k * protocol.every_days)
        start = b.at(day, slot)
        end = start + protocol.hours * b.HOUR
        detail = {
            "kind": "MedicationRequest",
            "code": {"coding": [b.coding(SNOMED, "367336001", "Chimiothérapie")],
                     "text": f"{protocol.code} - cure {k + 1}/{protocol.cycles}"},
            # a cycle given whose pump still runs at home (46 h for FOLFOX) is in progress
            "status": "scheduled" if k >= done else "completed" if end <= chart.now else "in-progress",
            "scheduledPeriod": b.period(start, end),
            "location": b.ref(f"Location/{unit.id}", unit.name),
            "performer": [staff_ref(oncologist)],
        }
        activity: dict = {"detail": detail}
        if k < done:
            leave = start + 6 * b.HOUR
            enc = encounter(chart, "AMB", "finished", start, leave, unit, oncologist, "Z51.1")
            activity = {"outcomeReference": [b.ref(f"Encounter/{enc['id']}")], "detail": detail}
            last_end = max(last_end, min(leave, chart.now))
            if k == done - 1:  # blood count the day before the last cycle
                check = b.at(day - timedelta(days=1), "08:00")
                for key, value in (("hb", rng.uniform(10.5, 13)), ("wbc", rng.uniform(3.2, 7.5)),
                                   ("plt", rng.uniform(140, 320))):
                    lab(chart, key, value, check, None)
        activities.append(activity)
    next_day = first_day + timedelta(days=done * protocol.every_days)
    resource = chart.header("CarePlan", chart.new_id("cp"), last_end)
    resource.update({
        "status": "active", "intent": "plan",
        "category": [b.text_concept("Chimiothérapie")],
        "title": f"{protocol.title} : {protocol.cycles} cures, une tous les {protocol.every_days} jours",
        "description": protocol.detail,
        "subject": chart.patient_ref,
        "period": b.period(b.at(first_day, slot),
                           b.at(first_day + timedelta(days=(protocol.cycles - 1) * protocol.every_days),
                                slot) + protocol.hours * b.HOUR),
        "created": b.instant(board + b.DAY),
        "author": staff_ref(oncologist),
        "addresses": [b.ref(f"Condition/{cancer}")],
        "activity": activities,
        "note": [{"text": f"{done} cure(s) réalisée(s) sur {protocol.cycles} ; "
                          f"prochaine cure le {b.fr_date(b.at(next_day, slot))}."}],
    })
    chart.out.append(resource)
    chart.touch(last_end)


def _weekdays(start: date, count: int, step: int) -> list[date]:
    """`count` weekdays from `start` (included) going forward (step 1) or back (-1)."""
    out: list[date] = []
    d = start
    while len(out) < count:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=step)
    return out


def radiotherapy(chart: Chart, course: Course) -> None:
    """A course of fractions, five a week: those delivered and those planned."""
    rng = chart.rng
    unit = chart.site.by_code["radt"]
    doctor = chart.doctor(unit)
    machine_id, machine_name = chart.site.machines[rng.randrange(len(chart.site.machines))]
    done = rng.randint(1, course.fractions - 1)
    past = list(reversed(_weekdays(chart.today - timedelta(days=1), done, -1)))
    future = _weekdays(chart.today, course.fractions - done, 1)
    cancer = _cancer(chart, course.diagnosis, past[0], doctor)
    board = b.at(past[0] - timedelta(days=rng.randint(15, 30)), "14:00")
    total = course.fractions * course.dose_gy
    _tumour_board(chart, unit, board, doctor,
                  f"{course.title}, {b.fr_number(total)} Gy en {course.fractions} fractions")
    minute = rng.randrange(0, 36) * 15
    slot = f"{8 + minute // 60:02d}:{minute % 60:02d}"
    if future[0] == chart.today and b.at(chart.today, slot) + 15 * 60 <= chart.now:
        past.append(future.pop(0))  # today's session is over: delivered
        done += 1
    activities = []
    for k, day in enumerate(past + future):
        start = b.at(day, slot)
        activities.append({"detail": {
            "kind": "ServiceRequest",
            "code": {"coding": [b.coding(SNOMED, "108290001", "Radiothérapie")],
                     "text": f"Séance {k + 1}/{course.fractions}"},
            "status": "completed" if k < done else "scheduled",
            "scheduledPeriod": b.period(start, start + 15 * 60),
            "location": b.ref(f"Location/{machine_id}", machine_name),
            "performer": [staff_ref(doctor)],
            "dailyAmount": b.quantity(course.dose_gy, "Gy", "Gy"),
        }})
    last = b.at(past[-1], slot) + 15 * 60
    resource = chart.header("CarePlan", chart.new_id("cp"), min(chart.now, last + b.HOUR))
    resource.update({
        "status": "active" if future else "completed", "intent": "plan",
        "category": [b.text_concept("Radiothérapie")],
        "title": f"{course.title} : {b.fr_number(total)} Gy en {course.fractions} fractions "
                 f"de {b.fr_number(course.dose_gy)} Gy",
        "description": f"{done} fractions délivrées ({b.fr_number(done * course.dose_gy)} Gy), "
                       f"{course.fractions - done} prévues, sur {machine_name}.",
        "subject": chart.patient_ref,
        "period": b.period(b.at(past[0], slot), b.at((future or past)[-1], slot) + 15 * 60),
        "created": b.instant(board + b.DAY),
        "author": staff_ref(doctor),
        "addresses": [b.ref(f"Condition/{cancer}")],
        "activity": activities,
    })
    chart.out.append(resource)
    chart.touch(min(chart.now, last))


def operation(chart: Chart, key: str, room: tuple[str, str], start: int) -> None:
    """A booked operation: the order (ServiceRequest) and the OR slot (Appointment)."""
    rng = chart.rng
    snomed, name, service_code, minutes, reason = PROCEDURES[key]
    units = chart.site.by_service[service_code]
    surgeon = chart.doctor(units[rng.randrange(len(units))])
    anesthetist = chart.doctor(chart.site.by_code["bloc"])
    decided = start - rng.randint(14, 60) * b.DAY
    problem = condition(chart, reason, "problem-list-item", decided - rng.randint(20, 200) * b.DAY,
                        surgeon)
    blood_group(chart, decided + 2 * b.HOUR)
    request_id = chart.new_id("sr")
    request = chart.header("ServiceRequest", request_id, decided)
    request.update({
        "status": "active", "intent": "order",
        "category": [b.concept(SNOMED, "387713003", "Acte chirurgical")],
        "priority": "routine",
        "code": b.concept(SNOMED, snomed, name),
        "subject": chart.patient_ref,
        "occurrenceDateTime": b.instant(start),
        "authoredOn": b.instant(decided),
        "requester": staff_ref(surgeon),
        "performer": [staff_ref(surgeon)],
        "locationReference": [b.ref(f"Location/{room[0]}", room[1])],
        "reasonReference": [b.ref(f"Condition/{problem}")],
    })
    if key in LATERAL:
        request["note"] = [{"text": f"Côté {rng.choice(('droit', 'gauche'))}"}]
    chart.out.append(request)
    appointment = chart.header("Appointment", chart.new_id("apt"), decided + b.HOUR)
    appointment.update({
        "status": "booked",
        "serviceCategory": [b.text_concept("Chirurgie")],
        "serviceType": [b.text_concept(units[0].care_service().name)],
        "appointmentType": b.concept(APPOINTMENT_TYPE, "ROUTINE", "Routine appointment", "Programmé"),
        "reasonReference": [b.ref(f"Condition/{problem}")],
        "description": f"{name} - {DIAGNOSES[reason]}",
        "start": b.instant(start),
        "end": b.instant(start + minutes * 60),
        "minutesDuration": minutes,
        "created": b.instant(decided + b.HOUR),
        "basedOn": [b.ref(f"ServiceRequest/{request_id}")],
        "participant": [
            {"actor": chart.patient_ref, "required": "required", "status": "accepted"},
            {"type": [b.concept(PARTICIPATION, "PPRF", "primary performer", "Chirurgien")],
             "actor": staff_ref(surgeon), "required": "required", "status": "accepted"},
            {"type": [b.concept(PARTICIPATION, "SPRF", "secondary performer", "Anesthésiste")],
             "actor": staff_ref(anesthetist), "required": "required", "status": "accepted"},
            {"actor": b.ref(f"Location/{room[0]}", room[1]), "required": "required",
             "status": "accepted"},
        ],
    })
    chart.out.append(appointment)
    chart.touch(decided + b.HOUR)
