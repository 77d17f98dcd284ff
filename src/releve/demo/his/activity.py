"""`--activity`: the demo HIS keeps changing like a hospital does.

Each step makes a few changes through the store's ordinary write path: admissions (a new
inpatient Encounter, its bed Location marked occupied), transfers, discharges, new
medication orders, administrations, results, corrections of a result, and now and then
the deletion of a result entered in error. Given the same data and seed, the same
changes (the clock aside). It works on any data: beds are the Locations whose
physicalType is `bd`; without beds, stays simply have no bed.
"""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console

from .fhir import HisRequestError
from .store import Store, Write

ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"

# (text, ATC code, ATC display, route SNOMED code, route display, period in hours)
DRUGS = [
    ("paracétamol 1 g IV toutes les 6 h", "N02BE01", "paracetamol", "47625008", "voie IV", 6),
    ("enoxaparine 4000 UI SC une fois par jour", "B01AB05", "enoxaparin", "34206005",
     "voie sous-cutanée", 24),
    ("amoxicilline 1 g per os toutes les 8 h", "J01CA04", "amoxicillin", "26643006",
     "voie orale", 8),
    ("furosémide 40 mg per os le matin", "C03CA01", "furosemide", "26643006", "voie orale", 24),
    ("insuline asparte SC selon glycémie capillaire", "A10AB05", "insulin aspart", "34206005",
     "voie sous-cutanée", 8),
]
# (LOINC code, display, category, UCUM unit, low, high, decimals)
RESULTS = [
    ("8867-4", "Fréquence cardiaque", "vital-signs", "/min", 55, 115, 0),
    ("8310-5", "Température corporelle", "vital-signs", "Cel", 36.0, 39.5, 1),
    ("59408-5", "Saturation en oxygène (SpO2)", "vital-signs", "%", 88, 100, 0),
    ("9279-1", "Fréquence respiratoire", "vital-signs", "/min", 12, 26, 0),
    ("2823-3", "Potassium sérique", "laboratory", "mmol/L", 3.1, 5.6, 1),
    ("718-7", "Hémoglobine", "laboratory", "g/dL", 7.5, 16.5, 1),
]
ACTIONS = ["admission", "discharge", "transfer", "order", "administration", "result",
           "correction", "deletion"]
WEIGHTS = [2, 2, 1, 3, 4, 5, 1, 0.5]


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ref(rtype: str, rid: str) -> dict[str, str]:
    return {"reference": f"{rtype}/{rid}"}


def kind(location: dict[str, Any]) -> str | None:
    """A Location's physicalType code: bd (bed), ro (room), wa (ward), si (site)..."""
    return next((c.get("code") for c in (location.get("physicalType") or {}).get("coding", [])),
                None)


class Activity:
    """`step()` makes a few changes and says which; `Activity(store, rng)` first reads
    what it needs from the store (patients, beds, current stays, active orders)."""

    def __init__(self, store: Store, rng: random.Random | None = None):
        self.store = store
        self.rng = rng or random.Random()
        self.patients: list[str] = []
        self.free_beds: list[str] = []
        self.places: dict[str, dict[str, Any]] = {}  # Location id -> Location
        self.beds: set[str] = set()
        self.stays: dict[str, str | None] = {}  # in-progress Encounter id -> its bed
        self.orders: list[str] = []
        self.results: list[str] = []
        self._discover()

    def _discover(self) -> None:
        with self.store.reading() as conn:
            self.patients = [r[0] for r in conn.execute(
                "SELECT id FROM current WHERE type = 'Patient' AND deleted = 0 ORDER BY id")]
            self.places = {rid: location for rid, location in self._matching(conn, "Location")}
            beds = sorted(rid for rid, location in self.places.items() if kind(location) == "bd")
            self.beds = set(beds)
            self.stays = {rid: self._bed_of(encounter) for rid, encounter in
                          self._matching(conn, "Encounter", b'"in-progress"')
                          if encounter.get("status") == "in-progress"}
            self.results = [rid for rid in self.results if conn.execute(
                "SELECT 1 FROM current WHERE type = 'Observation' AND id = ? AND deleted = 0",
                (rid,)).fetchone()]
            self.orders = [rid for rid, order in self._matching(conn, "MedicationRequest",
                                                                   b'"active"')
                           if order.get("status") == "active"][:5000]
        occupied = set(self.stays.values())
        self.free_beds = [bed for bed in beds if bed not in occupied]

    @staticmethod
    def _matching(conn: Any, rtype: str, needle: bytes = b"{") -> list[tuple[str, dict[str, Any]]]:
        """The live resources of a type whose JSON holds `needle` (a cheap pre-filter)."""
        rows = conn.execute("SELECT c.id, v.json FROM current c JOIN versions v ON v.lu = c.lu "
                            "WHERE c.type = ? AND c.deleted = 0 AND instr(v.json, ?) > 0 "
                            "ORDER BY c.id", (rtype, needle))
        return [(rid, orjson.loads(json)) for rid, json in rows]

    def _bed_of(self, encounter: dict[str, Any]) -> str | None:
        for place in encounter.get("location") or []:
            reference = (place.get("location") or {}).get("reference", "")
            rid = reference.removeprefix("Location/")
            if place.get("status", "active") == "active" and rid in self.beds:
                return rid
        return None

    def _unit_of(self, bed: str) -> str | None:
        """The ward (physicalType `wa`) a bed is part of, up its partOf chain."""
        place = bed
        for _ in range(4):
            reference = (self.places.get(place, {}).get("partOf") or {}).get("reference", "")
            place = reference.removeprefix("Location/")
            if place not in self.places:
                return None
            if kind(self.places[place]) == "wa":
                return place
        return None

    def _placed(self, bed: str) -> list[dict[str, Any]]:
        """Encounter.location entries for a stay starting now in `bed` (and its ward)."""
        entries = []
        for rid in (bed, self._unit_of(bed)):
            if rid is not None:
                code = kind(self.places[rid]) or "bd"
                entries.append({"location": ref("Location", rid), "status": "active",
                                "physicalType": {"coding": [{"system": PHYSICAL, "code": code}]},
                                "period": {"start": now_text()}})
        return entries

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _get(self, rtype: str, rid: str) -> dict[str, Any]:
        found = self.store.read(rtype, rid)
        assert found.json is not None
        return orjson.loads(found.json)

    def _bed_write(self, bed: str | None, code: str) -> list[Write]:
        if bed is None:
            return []
        location = self._get("Location", bed)
        location["operationalStatus"] = {"system": BED_STATUS, "code": code,
                                         "display": "Occupé" if code == "O" else "Libre"}
        return [Write("PUT", "Location", bed, location)]

    def step(self) -> list[str]:
        """A few changes, each one transaction; returns what was done."""
        done = []
        for _ in range(self.rng.randint(2, 5)):
            action = self.rng.choices(ACTIONS, WEIGHTS)[0]
            try:
                done.append(getattr(self, action)() or self.result())
            except HisRequestError as exc:  # changed under us (deleted over REST...): look again
                done.append(f"{action} skipped: {exc}")
                self._discover()
        return done

    def admission(self) -> str | None:
        if not self.patients:
            return None
        patient = self.rng.choice(self.patients)
        bed = self.free_beds.pop(self.rng.randrange(len(self.free_beds))) if self.free_beds else None
        stay = self.new_id()
        encounter: dict[str, Any] = {
            "resourceType": "Encounter", "id": stay, "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "IMP", "display": "inpatient encounter"},
            "subject": ref("Patient", patient), "period": {"start": now_text()}}
        if bed:
            encounter["location"] = self._placed(bed)
        self.store.write([Write("PUT", "Encounter", stay, encounter), *self._bed_write(bed, "O")])
        self.stays[stay] = bed
        return f"admission Encounter/{stay}" + (f" in Location/{bed}" if bed else "")

    def discharge(self) -> str | None:
        if not self.stays:
            return None
        stay = self.rng.choice(sorted(self.stays))
        encounter = self._get("Encounter", stay)
        encounter["status"] = "finished"
        encounter.setdefault("period", {})["end"] = now_text()
        for place in encounter.get("location") or []:
            if place.get("status", "active") == "active":
                place["status"] = "completed"
                place.setdefault("period", {})["end"] = now_text()
        encounter.setdefault("hospitalization", {})["dischargeDisposition"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
            "code": "home", "display": "Home"}]}
        bed = self.stays.pop(stay)
        self.store.write([Write("PUT", "Encounter", stay, encounter), *self._bed_write(bed, "U")])
        if bed:
            self.free_beds.append(bed)
        return f"discharge Encounter/{stay}"

    def transfer(self) -> str | None:
        movable = sorted(s for s, b in self.stays.items() if b)
        if not movable or not self.free_beds:
            return None
        stay = self.rng.choice(movable)
        old, new = self.stays[stay], self.free_beds.pop(self.rng.randrange(len(self.free_beds)))
        encounter = self._get("Encounter", stay)
        for place in encounter.get("location") or []:
            if place.get("status", "active") == "active":
                place["status"] = "completed"
                place.setdefault("period", {})["end"] = now_text()
        encounter.setdefault("location", []).extend(self._placed(new))
        self.store.write([Write("PUT", "Encounter", stay, encounter), *self._bed_write(old, "U"),
                          *self._bed_write(new, "O")])
        self.stays[stay] = new
        assert old is not None
        self.free_beds.append(old)
        return f"transfer Encounter/{stay} to Location/{new}"

    def _inpatient(self) -> tuple[str, str | None] | None:
        """(patient, encounter): someone in a bed, or anyone when nobody is."""
        if self.stays:
            stay = self.rng.choice(sorted(self.stays))
            subject = self._get("Encounter", stay).get("subject", {}).get("reference", "")
            return subject.removeprefix("Patient/"), stay
        return (self.rng.choice(self.patients), None) if self.patients else None

    def order(self) -> str | None:
        who = self._inpatient()
        if who is None:
            return None
        text, code, display, route, route_text, hours = self.rng.choice(DRUGS)
        rid = self.new_id()
        order: dict[str, Any] = {
            "resourceType": "MedicationRequest", "id": rid, "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": ATC, "code": code,
                                                      "display": display}], "text": text},
            "subject": ref("Patient", who[0]), "authoredOn": now_text(),
            "dosageInstruction": [{"text": text, "timing": {"repeat": {
                "frequency": 1, "period": hours, "periodUnit": "h"}},
                "route": {"coding": [{"system": SNOMED, "code": route, "display": route_text}]}}]}
        if who[1]:
            order["encounter"] = ref("Encounter", who[1])
        self.store.write([Write("PUT", "MedicationRequest", rid, order)])
        self.orders.append(rid)
        return f"order MedicationRequest/{rid}"

    def administration(self) -> str | None:
        if not self.orders:
            return None
        order_id = self.rng.choice(self.orders)
        order = self._get("MedicationRequest", order_id)
        rid = self.new_id()
        given: dict[str, Any] = {
            "resourceType": "MedicationAdministration", "id": rid, "status": "completed",
            "medicationCodeableConcept": order.get("medicationCodeableConcept",
                                                   {"text": "médicament"}),
            "subject": order.get("subject", {}), "effectiveDateTime": now_text(),
            "request": ref("MedicationRequest", order_id)}
        if "encounter" in order:
            given["context"] = order["encounter"]
        dosage = (order.get("dosageInstruction") or [{}])[0]
        if "text" in dosage:
            given["dosage"] = {"text": dosage["text"]}
        self.store.write([Write("PUT", "MedicationAdministration", rid, given)])
        return f"administration MedicationAdministration/{rid}"

    def result(self) -> str:
        who = self._inpatient()
        if who is None:
            return "nothing to do: no patients"
        code, display, category, unit, low, high, decimals = self.rng.choice(RESULTS)
        rid = self.new_id()
        observation: dict[str, Any] = {
            "resourceType": "Observation", "id": rid, "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": category}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}],
                     "text": display},
            "subject": ref("Patient", who[0]), "effectiveDateTime": now_text(),
            "issued": now_text(),
            "valueQuantity": {"value": self._value(low, high, decimals), "unit": unit,
                              "system": UCUM, "code": unit}}
        if who[1]:
            observation["encounter"] = ref("Encounter", who[1])
        self.store.write([Write("PUT", "Observation", rid, observation)])
        self.results.append(rid)
        return f"result Observation/{rid}"

    def _value(self, low: float, high: float, decimals: int) -> float | int:
        value = round(self.rng.uniform(low, high), decimals)
        return int(value) if decimals == 0 else value

    def correction(self) -> str | None:
        if not self.results:
            return None
        rid = self.rng.choice(self.results)
        observation = self._get("Observation", rid)
        quantity = observation.get("valueQuantity") or {}
        if isinstance(quantity.get("value"), (int, float)):
            quantity["value"] = round(quantity["value"] * self.rng.uniform(0.9, 1.1), 1)
        observation["status"] = "amended"
        observation["note"] = [{"text": "Résultat corrigé"}]
        self.store.write([Write("PUT", "Observation", rid, observation)])
        return f"correction Observation/{rid}"

    def deletion(self) -> str | None:
        if len(self.results) < 2:
            return None
        rid = self.results.pop(self.rng.randrange(len(self.results)))
        self.store.write([Write("DELETE", "Observation", rid)])
        return f"deletion Observation/{rid} (entered in error)"


class ActivityRunner:
    """Runs `activity.step()` every `interval` seconds in a thread until stopped."""

    def __init__(self, activity: Activity, interval: float = 2.0, console: Console | None = None):
        self.activity = activity
        self.interval = interval
        self.console = console
        self.steps = 0
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._step_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="his-activity", daemon=True)

    def start(self) -> ActivityRunner:
        self._thread.start()
        return self

    def pause(self) -> None:
        """No step runs after this returns (until `resume`)."""
        self._running.clear()
        with self._step_lock:
            pass

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._step_lock:
                if not self._running.is_set():
                    continue
                try:
                    self.activity.step()
                    self.steps += 1
                except Exception as exc:  # keep the hospital going; say what went wrong
                    if self.console is not None:
                        self.console.print(f"[yellow]activity step failed:[/] {exc}",
                                           highlight=False)
