"""The demo hospital (`releve demo generate`): deterministic, coherent, valid FHIR R4 that
a ward would recognise, and that `releve import` takes as it is.

One 50-bed hospital is generated per module and read back from its ndjson files; most
tests look at it. References, ids and timestamps are checked over every resource.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from releve import clock
from releve.demo.hospital.generate import DemoInputError, generate_to, iter_resources, parse_now
from releve.errors import ReleveError

from conftest import run_releve

NOW_TEXT = "2026-03-02T06:00:00+01:00"
NOW = datetime.fromisoformat(NOW_TEXT)
ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
REFERENCE_RE = re.compile(rb'"reference":"([^"]+)"')
INSTANT_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")
DEMO_INS = {"urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11"}
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
EXPECTED_TYPES = {
    "Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Encounter",
    "Condition", "AllergyIntolerance", "Observation", "MedicationRequest",
    "MedicationAdministration", "NutritionOrder", "Flag", "DocumentReference", "CarePlan",
    "ServiceRequest", "Appointment",
}


def when(text: str) -> datetime:
    assert INSTANT_RE.fullmatch(text), f"not an instant with an explicit offset: {text}"
    return datetime.fromisoformat(text)


def read(folder: Path, rtype: str) -> list[dict]:
    return [orjson.loads(line) for line in (folder / f"{rtype}.ndjson").read_bytes().splitlines()]


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hospital")
    counts = generate_to(folder, seed=3, beds=50, now=NOW_TEXT)
    assert set(counts) == EXPECTED_TYPES
    return folder


@pytest.fixture(scope="module")
def by_type(hospital: Path) -> dict[str, list[dict]]:
    """Every resource except Observations (kept out of memory; checked streaming)."""
    return {t: read(hospital, t) for t in EXPECTED_TYPES if t != "Observation"}


# --- determinism ----------------------------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_arguments_same_bytes_whatever_the_workers(tmp_path):
    first = generate_to(tmp_path / "a", seed=11, beds=12, patients=1200, now=NOW_TEXT, workers=1)
    second = generate_to(tmp_path / "b", seed=11, beds=12, patients=1200, now=NOW, workers=2)
    assert first == second
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert all(p.name.endswith(".ndjson") for p in (tmp_path / "a").iterdir())
    # the files are iter_resources split by type, in the same order
    lines: dict[str, list[bytes]] = defaultdict(list)
    for resource in iter_resources(11, 12, 1200, NOW):
        lines[resource["resourceType"]].append(orjson.dumps(resource))
    assert {f"{t}.ndjson": b"\n".join(v) + b"\n" for t, v in lines.items()} == _files(tmp_path / "a")


def test_another_seed_another_hospital(tmp_path):
    generate_to(tmp_path / "a", seed=11, beds=12, patients=300, now=NOW_TEXT)
    generate_to(tmp_path / "b", seed=12, beds=12, patients=300, now=NOW_TEXT)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a["Patient.ndjson"] != b["Patient.ndjson"]
    assert a["Practitioner.ndjson"] != b["Practitioner.ndjson"]
    assert a["Encounter.ndjson"] != b["Encounter.ndjson"]


def test_bad_input_is_refused_clearly(tmp_path):
    with pytest.raises(DemoInputError, match="at least 10 beds"):
        generate_to(tmp_path, seed=1, beds=5, now=NOW_TEXT)
    with pytest.raises(DemoInputError, match="too few for 50 beds"):
        generate_to(tmp_path, seed=1, beds=50, patients=40, now=NOW_TEXT)
    with pytest.raises(DemoInputError, match="not an ISO 8601"):
        generate_to(tmp_path, seed=1, beds=50, now="tomorrow morning")
    assert issubclass(DemoInputError, ReleveError)
    assert list(tmp_path.iterdir()) == []


def test_now_defaults_to_the_clock_in_paris():
    default = parse_now(None)
    assert default == clock.now().replace(second=0, microsecond=0)
    assert str(default.tzinfo) == "Europe/Paris"
    assert parse_now("2026-07-14").isoformat() == "2026-07-14T06:00:00+02:00"
    assert parse_now("2026-01-05T08:30").utcoffset() == timedelta(hours=1)
    assert parse_now(NOW_TEXT) == NOW


# --- every resource -------------------------------------------------------------------------


def test_every_resource_is_well_formed_and_every_reference_resolves(hospital):
    keys: set[str] = set()
    references: set[bytes] = set()
    for path in sorted(hospital.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            rtype = resource["resourceType"]
            assert path.name == f"{rtype}.ndjson"
            assert ID_RE.fullmatch(resource["id"]), resource["id"]
            key = f"{rtype}/{resource['id']}"
            assert key not in keys, f"duplicate {key}"
            keys.add(key)
            assert when(resource["meta"]["lastUpdated"]) <= NOW, key
            references.update(REFERENCE_RE.findall(line))
    dangling = sorted(r.decode() for r in references if r.decode() not in keys)
    assert not dangling, dangling[:10]
    assert len(references) > 1000


def test_counts_are_those_of_a_50_bed_hospital(hospital, by_type):
    counts = {t: len(v) for t, v in by_type.items()}
    counts["Observation"] = len((hospital / "Observation.ndjson").read_bytes().splitlines())
    assert counts["Patient"] == 5000  # 100 per bed
    assert counts["Organization"] == 1
    assert 40 <= counts["Practitioner"] == counts["PractitionerRole"] <= 400
    assert counts["Encounter"] > counts["Patient"]
    assert counts["Observation"] > 10 * counts["Patient"]
    assert counts["MedicationAdministration"] > counts["MedicationRequest"] > 100
    for rtype in ("AllergyIntolerance", "Condition", "DocumentReference", "Flag",
                  "NutritionOrder", "CarePlan", "ServiceRequest", "Appointment"):
        assert counts[rtype] > 0, rtype


def _code(resource: dict, field: str = "physicalType") -> str:
    return resource[field]["coding"][0]["code"]


def test_census_one_stay_per_occupied_bed(by_type):
    locations = {loc["id"]: loc for loc in by_type["Location"]}
    beds = [loc for loc in locations.values() if _code(loc) == "bd"]
    assert len(beds) == 50
    occupied = {bed["id"] for bed in beds if bed["operationalStatus"]["code"] == "O"}
    assert {bed["operationalStatus"]["code"] for bed in beds} <= {"O", "U"}
    assert 0.80 <= len(occupied) / len(beds) <= 0.90
    for bed in beds:  # bed -> room -> unit -> site
        room = locations[bed["partOf"]["reference"].split("/")[1]]
        unit = locations[room["partOf"]["reference"].split("/")[1]]
        site = locations[unit["partOf"]["reference"].split("/")[1]]
        assert [_code(room), _code(unit), _code(site)] == ["ro", "wa", "si"]
    in_beds: Counter = Counter()
    classes: Counter = Counter()
    for enc in by_type["Encounter"]:
        classes[(enc["class"]["code"], enc["status"])] += 1
        if enc["status"] == "in-progress" and enc["class"]["code"] == "IMP":
            active = [loc["location"]["reference"].split("/")[1] for loc in enc["location"]
                      if loc["status"] == "active" and loc["physicalType"]["coding"][0]["code"] == "bd"]
            assert len(active) == 1
            in_beds[active[0]] += 1
            assert enc["participant"][0]["individual"]["reference"].startswith("Practitioner/")
            assert when(enc["period"]["start"]) <= NOW and "end" not in enc["period"]
        if enc["status"] == "finished":
            assert when(enc["period"]["start"]) < when(enc["period"]["end"]) <= NOW
    assert set(in_beds) == occupied and set(in_beds.values()) == {1}
    assert classes[("IMP", "finished")] > 1000
    assert classes[("EMER", "finished")] > 100
    assert sum(n for (cls, status), n in classes.items()
               if cls == "EMER" and status in ("arrived", "triaged", "in-progress")) >= 3


def test_every_unit_has_an_extension_and_every_practitioner_a_reachable_role(by_type):
    units = [loc for loc in by_type["Location"] if _code(loc) == "wa"]
    names = {u["name"] for u in units}
    assert {"Urgences", "Réanimation polyvalente", "Cardiologie", "Maternité", "Pédiatrie",
            "Psychiatrie adulte", "Bloc opératoire", "Pharmacie à usage intérieur"} <= names
    extensions = [u["telecom"][0]["value"] for u in units]
    assert all(re.fullmatch(r"\d{4}", e) for e in extensions)
    assert len(set(extensions)) == len(extensions)
    roles = defaultdict(list)
    for role in by_type["PractitionerRole"]:
        roles[role["practitioner"]["reference"]].append(role)
        assert role["telecom"] and role["code"][0]["text"] and role["location"]
    for practitioner in by_type["Practitioner"]:
        assert roles[f"Practitioner/{practitioner['id']}"], practitioner["id"]
        assert practitioner["name"][0]["family"] and practitioner["telecom"]


def test_patients_are_french_with_valid_demo_ins(by_type):
    with_ins = 0
    with_contact = 0
    for patient in by_type["Patient"]:
        systems = {i["system"]: i["value"] for i in patient["identifier"]}
        assert systems.get("urn:oid:2.999.33.1.1")  # IPP
        for system, value in systems.items():
            if system.startswith("urn:oid:1.2.250.1.213.1.4."):
                assert system in DEMO_INS
                assert re.fullmatch(r"[12]\d{14}", value), value
                assert int(value[13:]) == 97 - int(value[:13]) % 97
                assert value[1:3] == patient["birthDate"][2:4]  # year of birth
                assert value[3:5] == patient["birthDate"][5:7]  # month of birth
                assert value[0] == ("1" if patient["gender"] == "male" else "2")
                with_ins += 1
        address = patient["address"][0]
        assert re.fullmatch(r"\d{5}", address["postalCode"]) and address["city"]
        assert patient["name"][0]["use"] == "official" and patient["name"][0]["given"]
        if "contact" in patient:
            with_contact += 1
            assert patient["contact"][0]["relationship"][0]["coding"][0]["code"] == "C"
            assert patient["contact"][0]["telecom"][0]["value"].startswith("06 39 98")
    assert with_ins > 0.85 * len(by_type["Patient"])
    assert with_contact > 0.8 * len(by_type["Patient"])


def test_medication_orders_say_dose_route_and_timing(by_type):
    texts = []
    for request in by_type["MedicationRequest"]:
        assert request["intent"] == "order" and request["status"] in ("active", "completed")
        assert request["medicationCodeableConcept"]["coding"][0]["system"] == "http://www.whocc.no/atc"
        dosage = request["dosageInstruction"][0]
        repeat = dosage["timing"]["repeat"]
        assert repeat["frequency"] >= 1 and repeat["period"] > 0 and repeat["periodUnit"] in ("h", "d")
        assert dosage["route"]["coding"][0]["system"] == "http://snomed.info/sct"
        amount = dosage["doseAndRate"][0]
        assert {"doseQuantity", "doseRange", "rateQuantity"} & set(amount)
        for quantity in (amount.get("doseQuantity"), amount.get("rateQuantity")):
            if quantity:
                assert quantity["system"] == UCUM and quantity["value"] > 0
        texts.append(dosage["text"])
    joined = "\n".join(texts)
    assert "Paracétamol 1 g IV toutes les 6 h" in joined
    assert "Insuline asparte SC avant les repas selon la glycémie capillaire" in joined
    assert "Énoxaparine" in joined
    scales = [r for r in by_type["MedicationRequest"] if "doseRange" in r["dosageInstruction"][0]["doseAndRate"][0]]
    assert scales and all("asNeededCodeableConcept" in r["dosageInstruction"][0] for r in scales)


def test_administrations_are_of_the_last_48_hours_and_follow_an_order(by_type):
    orders = {r["id"]: r for r in by_type["MedicationRequest"]}
    statuses = Counter()
    for given in by_type["MedicationAdministration"]:
        moment = when(given["effectiveDateTime"])
        assert NOW - timedelta(hours=48) <= moment <= NOW
        order = orders[given["request"]["reference"].split("/")[1]]
        assert order["subject"]["reference"] == given["subject"]["reference"]
        assert order["encounter"] == given["context"]
        assert when(order["authoredOn"]) <= moment
        statuses[given["status"]] += 1
        if given["status"] == "completed":
            assert {"dose", "rateQuantity"} & set(given["dosage"])
        else:
            assert given["status"] == "not-done" and given["statusReason"][0]["text"]
    assert statuses["completed"] > 10 * statuses["not-done"] > 0


def test_observations_are_loinc_and_ucum_with_trends(hospital):
    series = defaultdict(list)
    blood_groups = 0
    for line in (hospital / "Observation.ndjson").read_bytes().splitlines():
        obs = orjson.loads(line)
        assert obs["status"] == "final" and obs["code"]["coding"][0]["system"] == LOINC
        assert when(obs["effectiveDateTime"]) <= NOW
        if "valueQuantity" in obs:
            assert obs["valueQuantity"]["system"] == UCUM
            series[(obs["subject"]["reference"], obs["code"]["coding"][0]["code"])].append(
                (obs["effectiveDateTime"], obs["valueQuantity"]["value"]))
        elif obs["code"]["coding"][0]["code"] == "85354-9":
            assert [c["code"]["coding"][0]["code"] for c in obs["component"]] == ["8480-6", "8462-4"]
        else:
            assert obs["code"]["coding"][0]["code"] == "882-1"
            assert [c["code"]["coding"][0]["code"] for c in obs["component"]] == ["883-9", "10331-7"]
            blood_groups += 1
    assert blood_groups > 500
    # treated infections: some CRP series fall by half or more, some (worsening) climb
    crp = [sorted(v) for (_, code), v in series.items() if code == "1988-5" and len(v) >= 3]
    assert any(s[-1][1] < s[0][1] / 2 for s in crp)
    assert any(s[-1][1] > 2 * s[0][1] > 0 for s in crp)
    assert any(code == "8310-5" for _, code in series)  # temperature


def test_oncology_cycles_and_fractions_add_up(by_type):
    folfox = radiotherapy = 0
    for plan in by_type["CarePlan"]:
        activities = [a["detail"] for a in plan["activity"]]
        done = [a for a in activities if a["status"] == "completed"]
        planned = [a for a in activities if a["status"] == "scheduled"]
        assert done and planned and len(done) + len(planned) == len(activities)
        starts = [when(a["scheduledPeriod"]["start"]) for a in activities]
        assert starts == sorted(starts)
        assert all(s < NOW for s in starts[: len(done)]) and all(s > NOW for s in starts[len(done):])
        if plan["title"].startswith("Protocole FOLFOX"):
            folfox += 1
            assert len(activities) == 12
            assert {(b.date() - a.date()).days for a, b in itertools.pairwise(starts)} == {14}
            assert all("outcomeReference" in a for a in plan["activity"][: len(done)])
        if "25 fractions de 2 Gy" in plan["title"]:
            radiotherapy += 1
            assert len(activities) == 25
            assert {a["dailyAmount"]["value"] for a in activities} == {2.0}
            assert all(a["dailyAmount"]["code"] == "Gy" for a in activities)
            assert all(s.weekday() < 5 for s in starts)
            assert f"{len(done)} fractions délivrées ({len(done) * 2} Gy)" in plan["description"]
    assert folfox >= 1 and radiotherapy >= 1


def test_operating_room_schedule_of_the_coming_days(by_type):
    requests = {r["id"]: r for r in by_type["ServiceRequest"]}
    rooms = set()
    for appointment in by_type["Appointment"]:
        start, end = when(appointment["start"]), when(appointment["end"])
        assert NOW < start < end < NOW + timedelta(days=6)
        assert appointment["status"] == "booked"
        actors = [p["actor"]["reference"].split("/")[0] for p in appointment["participant"]]
        assert actors.count("Patient") == 1 and "Practitioner" in actors and "Location" in actors
        request = requests[appointment["basedOn"][0]["reference"].split("/")[1]]
        assert request["occurrenceDateTime"] == appointment["start"]
        rooms.add(appointment["participant"][-1]["actor"]["reference"])
    assert len(rooms) >= 2


def test_diets_flags_and_allergies(by_type):
    allergy = by_type["AllergyIntolerance"][0]
    assert allergy["reaction"][0]["severity"] in ("mild", "moderate", "severe")
    assert allergy["reaction"][0]["manifestation"][0]["coding"][0]["system"] == "http://snomed.info/sct"
    texts = {f["code"]["text"] for f in by_type["Flag"]}
    assert "Risque de chute" in texts
    assert all(f["status"] == "active" and f["period"]["start"] for f in by_type["Flag"])
    assert all(n["oralDiet"]["type"][0]["text"] for n in by_type["NutritionOrder"])
    problems = [c for c in by_type["Condition"] if c["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10"]
    assert len(problems) == len(by_type["Condition"])


def _check_pdf(data: bytes) -> None:
    """Header, trailer, and every xref offset pointing at its object."""
    assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
    xref = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert data[xref:].startswith(b"xref\n")
    entries = data[xref:].split(b"\n")[3:]
    for number, entry in enumerate(entries[:5], start=1):
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj" % number)


def test_documents_are_small_readable_letters_and_pdfs(by_type):
    kinds = Counter()
    for doc in by_type["DocumentReference"]:
        attachment = doc["content"][0]["attachment"]
        data = base64.b64decode(attachment["data"])
        assert attachment["size"] == len(data) < 8000
        assert base64.b64decode(attachment["hash"]) == hashlib.sha1(data).digest()
        if attachment["contentType"] == "application/pdf":
            _check_pdf(data)
        else:
            assert attachment["contentType"].startswith("text/plain")
            assert "Centre hospitalier des Trois-Rivières" in data.decode()
        kinds[(doc["type"]["coding"][0]["code"], attachment["contentType"][:9])] += 1
    assert kinds[("18842-5", "text/plai")] > 100  # discharge letters
    assert kinds[("11504-8", "applicati")] > 0  # operative reports as PDF


# --- through the command line and into the vault ----------------------------------------------


def test_cli_generates_and_the_vault_imports_it(tmp_path, keys, vault_dir):
    out = tmp_path / "export"
    result = run_releve("demo", "generate", "--out", out, "--beds", "30", "--seed", "7",
                        "--now", NOW_TEXT)
    total = sum(len(p.read_bytes().splitlines()) for p in out.glob("*.ndjson"))
    assert result.stdout.decode().startswith(f"{total} resources written to")
    imported = run_releve("import", "--vault", vault_dir, "--signing-key", keys.signing_key,
                          "--state", tmp_path / "state", out)
    puts = re.search(r"segment 1 \(delta\): (\d+) put, 0 deleted", imported.stdout.decode())
    assert puts and int(puts.group(1)) == total
    again = run_releve("import", "--vault", vault_dir, "--signing-key", keys.signing_key,
                       "--state", tmp_path / "state", out)
    assert "nothing changed" in again.stdout.decode()


@pytest.mark.slow  # 20,000 patients: 7 to 12 s alone, more on a loaded machine
def test_smoke_timing_200_beds(tmp_path):
    """Not an assertion on speed: a line in the log to notice a regression."""
    started = time.perf_counter()
    counts = generate_to(tmp_path, seed=1, beds=200, now=NOW_TEXT)
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    print(f"\n200 beds / 20,000 patients: {total} resources in {elapsed:.1f} s "
          f"({total / elapsed:,.0f} resources/s)")
    assert counts["Patient"] == 20000
