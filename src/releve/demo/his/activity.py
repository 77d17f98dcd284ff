"""`--activity`: the demo HIS keeps changing like a hospital does.

Each step makes the changes of a few minutes of the hospital's life through the store's
ordinary write path, at the pace of RATES in each ward: admissions (a new inpatient
Encounter, its bed Location marked occupied), transfers, discharges (which stop the
stay's drug orders), new medication orders, administrations (by a nurse of the ward,
ward_team.py), results, corrections of a result, and now and then the deletion of a
result entered in error. Given the same data and seed, the same changes (the clock
aside); the time written is the clock's (releve.clock, RELEVE_NOW when pinned). It
works on any data: beds are the Locations whose physicalType is `bd`, wards those of
type `wa` holding beds; without beds, stays simply have no bed and the hospital counts
as one ward.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from typing import Any

import orjson

from ... import clock
from .activity_catalog import ATC, BED_STATUS, DRUGS, LOINC, PHYSICAL, RESULTS, SNOMED, UCUM
from .fhir import HisRequestError
from .store import Store, Write
from .ward_team import WardTeams

log = logging.getLogger("releve.demo.his")

# The pace of one ward, in changes a minute: under three in all, most of them results
# (vital signs, labs) and drugs given, a new order every few minutes, an admission and a
# discharge every fifty minutes or so (docs/demo.md gives the table).
RATES = {"result": 1.2, "administration": 1.0, "order": 0.3, "correction": 0.05,
         "deletion": 0.02, "admission": 0.02, "discharge": 0.02, "transfer": 0.01}


def now_text() -> str:
    return clock.now().isoformat(timespec="seconds")


def ref(rtype: str, rid: str) -> dict[str, str]:
    return {"reference": f"{rtype}/{rid}"}


def kind(location: dict[str, Any]) -> str | None:
    """A Location's physicalType code: bd (bed), ro (room), wa (ward), si (site)..."""
    return next((c.get("code") for c in (location.get("physicalType") or {}).get("coding", [])),
                None)


def _stay_of(order: dict[str, Any]) -> str | None:
    reference = str((order.get("encounter") or {}).get("reference", ""))
    return reference.removeprefix("Encounter/") if reference.startswith("Encounter/") else None


def stopped(order: dict[str, Any], when: str) -> dict[str, Any]:
    """An order ended at `when`, as the generated hospital writes an ended one: status
    completed, each dosage's timing bounded by `when`."""
    order["status"] = "completed"
    for dosage in order.setdefault("dosageInstruction", [{}]):
        repeat = dosage.setdefault("timing", {}).setdefault("repeat", {})
        bounds = repeat.setdefault("boundsPeriod", {})
        if "start" not in bounds and order.get("authoredOn"):
            bounds["start"] = order["authoredOn"]
        bounds["end"] = when
    return order


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
        self.orders: dict[str, str | None] = {}  # active MedicationRequest id -> its stay
        self.results: list[str] = []
        self.wards = 1  # wards holding beds: the pace is RATES in each
        self.teams: WardTeams | None = None
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
            self.orders = dict([(rid, _stay_of(order)) for rid, order in self._matching(
                conn, "MedicationRequest", b'"active"') if order.get("status") == "active"][:5000])
            self.teams = WardTeams(conn)
        occupied = set(self.stays.values())
        self.free_beds = [bed for bed in beds if bed not in occupied]
        self.wards = max(1, len({self._unit_of(bed) for bed in beds} - {None}))

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

    def step(self, minutes: float = 1.0) -> list[str]:
        """The changes of `minutes` of the hospital's life, each one transaction; returns
        what was done."""
        done = []
        for action in self._draw(minutes):
            try:
                done.append(getattr(self, action)() or self.result())
            except HisRequestError as exc:  # changed under us (deleted over REST...): look again
                done.append(f"{action} skipped: {exc}")
                self._discover()
        return done

    def _draw(self, minutes: float) -> list[str]:
        """The actions of `minutes` in every ward: each action's expected count, its
        fraction drawn at random (so a short step often does nothing), in random order."""
        actions = []
        for action, rate in RATES.items():
            expected = rate * self.wards * minutes
            count = int(expected) + (self.rng.random() < expected - int(expected))
            actions += [action] * count
        self.rng.shuffle(actions)
        return actions

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
        orders = sorted(rid for rid, of in self.orders.items() if of == stay)
        stops = [Write("PUT", "MedicationRequest", rid,
                       stopped(self._get("MedicationRequest", rid), now_text())) for rid in orders]
        self.store.write([Write("PUT", "Encounter", stay, encounter), *self._bed_write(bed, "U"),
                          *stops])
        for rid in orders:
            del self.orders[rid]
        if bed:
            self.free_beds.append(bed)
        return f"discharge Encounter/{stay}" + (f", {len(orders)} orders stopped" if orders else "")

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
                "boundsPeriod": {"start": now_text()},
                "frequency": 1, "period": hours, "periodUnit": "h"}},
                "route": {"coding": [{"system": SNOMED, "code": route, "display": route_text}]}}]}
        if who[1]:
            order["encounter"] = ref("Encounter", who[1])
        self.store.write([Write("PUT", "MedicationRequest", rid, order)])
        self.orders[rid] = who[1]
        return f"order MedicationRequest/{rid}"

    def administration(self) -> str | None:
        if not self.orders:
            return None
        order_id = self.rng.choice(sorted(self.orders))
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
        performer = self._nurse(self.orders[order_id])
        if performer:
            given["performer"] = performer
        dosage = (order.get("dosageInstruction") or [{}])[0]
        if "text" in dosage:
            given["dosage"] = {"text": dosage["text"]}
        self.store.write([Write("PUT", "MedicationAdministration", rid, given)])
        return f"administration MedicationAdministration/{rid}"

    def _nurse(self, stay: str | None) -> list[dict[str, Any]] | None:
        """A nurse of the ward the stay is in (ward_team.py)."""
        bed = self.stays.get(stay or "")
        ward = self._unit_of(bed) if bed else None
        return self.teams.performer(ward, self.rng) if self.teams else None

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
    """Runs `activity.step()` every `interval` seconds in a thread until stopped, each
    step the changes of `interval` seconds of the hospital's life times `speed` (1: the
    real pace of RATES; more for tests that cannot wait)."""

    def __init__(self, activity: Activity, interval: float = 2.0, speed: float = 1.0):
        self.activity = activity
        self.interval = interval
        self.speed = speed
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
                    done = self.activity.step(self.interval * self.speed / 60)
                    self.steps += 1
                except Exception as exc:  # keep the hospital going; say what went wrong
                    log.warning("activity step failed: %s", exc)
                else:
                    if done:
                        log.info("activity: %s", summary(done))


def summary(done: list[str]) -> str:
    """What a step did, counted by kind ("2 result, 1 administration"): no ids in the log."""
    counts: dict[str, int] = {}
    for line in done:
        kind_of = line.split(" ", 1)[0]
        counts[kind_of] = counts.get(kind_of, 0) + 1
    return ", ".join(f"{n} {what}" for what, n in counts.items())
