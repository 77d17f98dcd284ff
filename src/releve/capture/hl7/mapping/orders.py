"""Orders as FHIR: ORM^O01 and OMG^O19 (an OBR: a ServiceRequest; an RXO in an ORM: a
MedicationRequest), RDE^O11 (RXE: a MedicationRequest), RAS^O17 (each RXA: a
MedicationAdministration pointing to its order's MedicationRequest).

An order is named by its placer order number (ORC-2, else OBR-2: the number the
prescribing application gave it, in every message about it), else its filler number
(ORC-3): a cancellation, a hold or a change sent later updates the same resource, and
an administration finds its order. What a message does (ORC-1: NW new, CA cancel, DC
discontinue, HD hold...) decides the status, else the order status (ORC-5), else the
order is active.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import datatypes
from ..message import Message
from . import ids, links, timing
from .links import Number, Segment
from .quantities import decimal, quantity, unit_of
from .results import V2_0074

DOSE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
# ORC-1 (HL7 table 0119): what this message does to the order, when it decides the status
CONTROL = {"CA": "revoked", "OC": "revoked", "CR": "revoked", "DC": "revoked", "OD": "revoked",
           "DR": "revoked", "HD": "on-hold", "OH": "on-hold", "HR": "on-hold", "RL": "active",
           "OR": "active"}
# ORC-5 (HL7 table 0038) -> ServiceRequest.status, after HL7's v2-to-FHIR ConceptMap
ORDER_STATUS = {"A": "active", "CA": "revoked", "CM": "completed", "DC": "revoked",
                "ER": "entered-in-error", "HD": "on-hold", "IP": "active", "RP": "revoked",
                "SC": "active"}
# a MedicationRequest says cancelled (never started) and stopped (discontinued) apart
MEDICATION_STATUS = {"CA": "cancelled", "OC": "cancelled", "CR": "cancelled", "DC": "stopped",
                     "OD": "stopped", "DR": "stopped", "RP": "stopped"}
# ORC-1 codes that only change the order's status: their ORC-9 is when the status changed,
# not when the order was written, so they give no authoredOn (the first one is kept)
STATUS_ONLY = frozenset(CONTROL) | {"SC", "OK"}
PRIORITY = {"S": "stat", "A": "asap", "R": "routine", "T": "urgent", "P": "urgent"}
# RXA-20 (HL7 table 0322) -> MedicationAdministration.status
COMPLETION = {"CP": "completed", "PA": "completed", "RE": "not-done", "NA": "not-done"}
PARTIAL = "Administration partielle"


def order_resources(m: Message, patient_id: str) -> list[dict]:
    """The ServiceRequests, MedicationRequests and MedicationAdministrations of an order
    message (its first patient's)."""
    groups = list(links.walk(m, frozenset({"ORC"}))) or \
        list(links.walk(m, frozenset({"OBR", "RXO", "RXE", "RXA"})))
    made: list[dict] = []
    for index, group in enumerate(groups, 1):
        order = _Order(m, group, patient_id, index)
        if m.header.kind == "RAS^O17":
            made += [order.administration(rxa, n) for n, rxa in enumerate(order.all("RXA"), 1)]
        elif order.first("OBR") is not None and m.header.kind != "RDE^O11":
            made.append(order.service_request())
        elif order.first("RXE") is not None or order.first("RXO") is not None:
            made.append(order.medication_request())
    return made


def order_key(placer: Number | None, filler: Number | None) -> str | None:
    """The text an order's ids are made from: its placer number, else its filler's."""
    if placer:
        return links.key("placer", placer)
    return links.key("filler", filler) if filler else None


def status(m: Message, orc: Segment | None, medication: bool) -> str:
    """ORC-1 when it cancels, stops or holds; else ORC-5; else active."""
    control = (datatypes.value(m, orc, 1) or "").upper() if orc is not None else ""
    state = (datatypes.value(m, orc, 5) or "").upper() if orc is not None else ""
    for code, table in ((control, CONTROL), (state, ORDER_STATUS)):
        if code in table:
            if medication:
                return MEDICATION_STATUS.get(code, table[code])
            return table[code]
    return "active"


class _Order:
    """One ORC group: its segments, its number, what its resources share."""

    def __init__(self, m: Message, group: Sequence[Segment], patient_id: str, index: int):
        self.m, self.group, self.patient_id = m, group, patient_id
        self.orc = self.first("ORC")
        detail = self.first("OBR") or self.first("RXO") or self.first("RXE")
        self.placer = links.number(m, self.orc, 2) or links.number(m, detail, 2)
        self.filler = links.number(m, self.orc, 3) or links.number(m, detail, 3)
        self.key = order_key(self.placer, self.filler) or links.unnumbered(m, str(index))

    def first(self, kind: str) -> Segment | None:
        return next((s for s in self.group if links.name(s) == kind), None)

    def all(self, kind: str) -> list[Segment]:
        return links.among(self.group, kind)

    def head(self, rtype: str, kind: str) -> dict:
        made: dict = {"resourceType": rtype, "id": ids.make(kind, self.key)}
        numbers = links.numbers(self.placer, self.filler)
        if numbers:
            made["identifier"] = numbers
        return made

    def when(self, tq_segment: Segment | None, tq_field: int) -> timing.When:
        """TQ1, else the detail segment's TQ field, else ORC-7."""
        return timing.of_tq1(self.m, self.first("TQ1")) | timing.of_tq(self.m, tq_segment, tq_field) \
            | timing.of_tq(self.m, self.orc, 7)

    def authored(self, made: dict, requester: dict | None) -> None:
        control = (datatypes.value(self.m, self.orc, 1) or "").upper() if self.orc is not None else ""
        when = datatypes.dtm(datatypes.value(self.m, self.orc, 9), datatypes.PARIS) \
            if self.orc is not None and control not in STATUS_ONLY else None
        if when:
            made["authoredOn"] = when
        if requester:
            made["requester"] = requester

    def notes(self, made: dict) -> None:
        said = links.notes(self.m, self.all("NTE"))
        if said:
            made["note"] = said

    # --- the resources ----------------------------------------------------------------

    def service_request(self) -> dict:
        m, obr = self.m, self.first("OBR")
        made = self.head("ServiceRequest", "sr")
        made["status"] = status(m, self.orc, medication=False)
        made["intent"] = "order"
        section = datatypes.value(m, obr, 24)
        if section:
            made["category"] = [{"coding": [{"system": V2_0074, "code": section.upper()}]}]
        when = self.when(obr, 27)
        priority = PRIORITY.get(when.priority or (datatypes.value(m, obr, 5) or "").upper())
        if priority:
            made["priority"] = priority
        made["code"] = links.concept(m, obr, 4) or {"text": datatypes.value(m, obr, 4, 2) or links.NO_REQUEST}
        made.update(links.about(m, self.patient_id))
        start = when.start or datatypes.dtm(datatypes.value(m, obr, 6), datatypes.PARIS)
        if start and when.end:
            made["occurrencePeriod"] = {"start": start, "end": when.end}
        elif start:
            made["occurrenceDateTime"] = start
        self.authored(made, (links.person(m, self.orc, 12) if self.orc is not None else None)
                      or links.person(m, obr, 16))
        reasons = links.concepts(m, obr, 31)
        if reasons:
            made["reasonCode"] = reasons
        self.notes(made)
        return made

    def medication_request(self) -> dict:
        m = self.m
        rxe = self.first("RXE")
        # RXE (pharmacy's encoded order) and RXO (the prescriber's) number their fields apart
        seg, code, low, high, units, instructions, rate, rate_units = \
            (rxe, 2, 3, 4, 5, 7, 23, 24) if rxe is not None else \
            (self.first("RXO"), 1, 2, 3, 4, 7, 21, 22)
        made = self.head("MedicationRequest", "mr")
        made["status"] = status(m, self.orc, medication=True)
        made["intent"] = "order"
        made["medicationCodeableConcept"] = links.concept(m, seg, code) or \
            {"text": datatypes.value(m, seg, code, 2) or links.NO_DRUG}
        made.update(links.about(m, self.patient_id))
        self.authored(made, links.person(m, self.orc, 12) if self.orc is not None else None)
        when = self.when(rxe, 1)  # RXE-1 is a TQ; RXO has none
        dosage: dict = {"sequence": 1}
        words = datatypes.value(m, seg, instructions, 2) or datatypes.value(m, seg, instructions, 1)
        said = links.text(words) or when.text
        if said:
            dosage["text"] = said
        repeat = timing.repeat(when)
        if repeat:
            dosage["timing"] = {"repeat": repeat}
        if timing.as_needed(when):
            dosage["asNeededBoolean"] = True
        route = links.concept(m, self.first("RXR"), 1) if self.first("RXR") is not None else None
        if route:
            dosage["route"] = route
        dose = _dose(m, seg, low, high, units, rate, rate_units)
        if dose:
            dosage["doseAndRate"] = [dose]
        made["dosageInstruction"] = [dosage]
        self.notes(made)
        return made

    def administration(self, rxa: Segment, index: int) -> dict:
        m = self.m
        raw_time = datatypes.value(m, rxa, 3) or str(index)
        made: dict = {"resourceType": "MedicationAdministration",
                      "id": ids.make("mad", self.key, datatypes.value(m, rxa, 1) or "",
                                     datatypes.value(m, rxa, 2) or "", raw_time)}
        completion = (datatypes.value(m, rxa, 20) or "").upper()
        deleted = (datatypes.value(m, rxa, 21) or "").upper() == "D"
        made["status"] = "entered-in-error" if deleted else COMPLETION.get(completion, "completed")
        if made["status"] == "not-done":
            reasons = links.concepts(m, rxa, 18) or links.concepts(m, rxa, 9)
            if reasons:
                made["statusReason"] = reasons
        made["medicationCodeableConcept"] = links.concept(m, rxa, 5) or \
            {"text": datatypes.value(m, rxa, 5, 2) or links.NO_DRUG}
        made.update(links.about(m, self.patient_id, "context"))
        start = datatypes.dtm(datatypes.value(m, rxa, 3), datatypes.PARIS)
        end = datatypes.dtm(datatypes.value(m, rxa, 4), datatypes.PARIS)
        if start and end and end != start:
            made["effectivePeriod"] = {"start": start, "end": end}
        elif start:
            made["effectiveDateTime"] = start
        nurse = links.person(m, rxa, 10)
        if nurse:
            made["performer"] = [{"actor": nurse}]
        made["request"] = {"reference": f"MedicationRequest/{ids.make('mr', self.key)}"}
        dosage: dict = {}
        route = links.concept(m, self.first("RXR"), 1) if self.first("RXR") is not None else None
        if route:
            dosage["route"] = route
        amount = decimal(datatypes.value(m, rxa, 6))
        if amount is not None and made["status"] == "completed":
            dosage["dose"] = quantity(amount, *unit_of(m, rxa, 7))
        if dosage:
            made["dosage"] = dosage
        said = [{"text": c["text"]} for c in links.concepts(m, rxa, 9) if c.get("text")]
        if completion == "PA":
            said.insert(0, {"text": PARTIAL})
        if said and made["status"] != "not-done":
            made["note"] = said
        return made


def _dose(m: Message, seg: Segment, low: int, high: int, units: int, rate: int,
          rate_units: int) -> dict | None:
    """doseAndRate: the amount (a range when minimum and maximum differ) and the rate."""
    unit, code = unit_of(m, seg, units)
    least, most = decimal(datatypes.value(m, seg, low)), decimal(datatypes.value(m, seg, high))
    made: dict = {"type": {"coding": [{"system": DOSE_TYPE, "code": "ordered"}]}}
    if least is not None and most is not None and most != least:
        made["doseRange"] = {"low": quantity(least, unit, code), "high": quantity(most, unit, code)}
    elif least is not None:
        made["doseQuantity"] = quantity(least, unit, code)
    speed = decimal(datatypes.value(m, seg, rate))
    if speed is not None:
        made["rateQuantity"] = quantity(speed, *unit_of(m, seg, rate_units))
    return made if len(made) > 1 else None

