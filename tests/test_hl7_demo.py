"""The demo's HL7 v2 feed: the messages it writes from the demo hospital (read back with
python-hl7), its MLLP sending (ACK awaited, resent when missing), and the round trip:
a hospital captured over HL7 shows on a station the same census and results as the
same hospital captured over FHIR."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime

import hl7
import pytest
from hl7.mllp import start_hl7_server

from releve.demo.his import hl7_feed
from releve.demo.his.hl7_messages import Hospital, esc, messages
from releve.demo.hospital import build as b
from releve.demo.hospital.generate import census_resources

from conftest import NOW

SEED, BEDS = 5, 12


@pytest.fixture(scope="module")
def resources() -> list[dict]:
    """A small demo hospital: its site, and today's inpatients and emergency patients."""
    return list(census_resources(SEED, BEDS, NOW[:10]))


@pytest.fixture(scope="module")
def sent(resources) -> list:
    return messages(Hospital(resources))


def parsed(message) -> hl7.Message:
    return hl7.parse(message.encoded().decode("utf-8"))


def by_id(resources: list[dict], rtype: str) -> dict[str, dict]:
    return {r["id"]: r for r in resources if r["resourceType"] == rtype}


# --- the messages ---------------------------------------------------------------------------


def test_every_stay_is_admitted_and_every_finished_one_discharged(resources, sent):
    encounters = by_id(resources, "Encounter")
    admissions = {}
    discharges = {}
    for message in sent:
        m = parsed(message)
        kind = f"{m['MSH.F9.R1.C1']}^{m['MSH.F9.R1.C2']}"
        assert kind == message.kind
        assert str(m.segment("MSH")[18]) == "UNICODE UTF-8"
        assert str(m.segment("MSH")[12]) == "2.5"
        if kind.startswith("ADT"):
            visit = str(m["PV1.F19.R1.C1"])
            if kind in ("ADT^A01", "ADT^A04", "ADT^A05"):
                admissions[visit] = kind
            elif kind == "ADT^A03":
                discharges[visit] = str(m["PV1.F45"])
    for encounter in encounters.values():
        nda = encounter["identifier"][0]["value"]
        cls = encounter["class"]["code"]
        assert admissions[nda] == ("ADT^A01" if cls == "IMP" else "ADT^A04")
        if encounter["status"] == "finished":
            end = datetime.fromisoformat(encounter["period"]["end"])
            assert discharges[nda] == end.strftime("%Y%m%d%H%M%S%z")
        else:
            assert nda not in discharges
    assert any(e["status"] == "finished" for e in encounters.values())
    assert any(e["status"] == "in-progress" for e in encounters.values())


def test_pid_carries_ipp_and_ins_and_names(resources, sent):
    patients = by_id(resources, "Patient")
    by_ipp = {p["identifier"][0]["value"]: p for p in patients.values()}
    seen = set()
    for message in sent:
        m = parsed(message)
        ids = {}
        for n in range(1, len(m.segment("PID")[3]) + 1):
            ids[str(m[f"PID.F3.R{n}.C4.S2"])] = (str(m[f"PID.F3.R{n}.C1"]),
                                                  str(m[f"PID.F3.R{n}.C4.S2"]),
                                                  str(m[f"PID.F3.R{n}.C5"]))
        ipp, _, kind = ids["2.999.33.1.1"]
        assert kind == "PI"
        patient = by_ipp[ipp]
        ins = next((i["value"] for i in patient["identifier"] if i["system"] == b.INS_SYSTEM), None)
        if ins:
            assert ids["1.2.250.1.213.1.4.10"] == (ins, "1.2.250.1.213.1.4.10", "INS")
        else:
            assert len(ids) == 1
        official = patient["name"][0]
        assert str(m["PID.F5.R1.C1"]) == official["family"]
        assert str(m["PID.F5.R1.C2"]) == official["given"][0]
        assert str(m["PID.F5.R1.C7"]) == "L"
        assert str(m["PID.F7"]) == patient["birthDate"].replace("-", "")
        assert str(m["PID.F8"]) == {"female": "F", "male": "M"}[patient["gender"]]
        seen.add(ipp)
    assert seen == set(by_ipp)


def test_an_inpatient_admission_names_ward_room_bed_and_the_nursing_ward(resources, sent):
    locations = by_id(resources, "Location")
    stays = [e for e in by_id(resources, "Encounter").values()
             if e["status"] == "in-progress" and e["class"]["code"] == "IMP"]
    assert stays
    for stay in stays:
        nda = stay["identifier"][0]["value"]
        message = next(parsed(m) for m in sent if m.kind == "ADT^A01" and f"|{nda}^" in m.text)
        bed = locations[stay["location"][0]["location"]["reference"].removeprefix("Location/")]
        room = locations[bed["partOf"]["reference"].removeprefix("Location/")]
        ward = locations[room["partOf"]["reference"].removeprefix("Location/")]
        assert str(message["PV1.F2"]) == "I"
        assert str(message["PV1.F3.R1.C1"]) == ward["alias"][0]
        assert str(message["PV1.F3.R1.C2"]) == room["name"]
        assert str(message["PV1.F3.R1.C3"]) == bed["name"]
        assert str(message["PV1.F19.R1.C4.S2"]) == "2.999.33.1.2"
        assert str(message["ZBE.F4"]) == "INSERT"
        assert str(message["ZBE.F8.R1.C1"]) == ward["name"]
        assert str(message["ZBE.F8.R1.C10"]) == ward["alias"][0]
        assert str(message["ZBE.F2"]) == str(message["EVN.F6"]) == str(message["PV1.F44"])


def test_results_are_one_oru_per_panel_with_units_ranges_and_flags(resources, sent):
    labs = [o for o in by_id(resources, "Observation").values()
            if o["category"][0]["coding"][0]["code"] == "laboratory"
            and "valueQuantity" in o]
    expected = {(o["subject"]["reference"], o["code"]["coding"][0]["code"],
                 o["effectiveDateTime"]): o for o in labs}
    ipps = {f"Patient/{p['id']}": p["identifier"][0]["value"]
            for p in by_id(resources, "Patient").values()}
    found = flagged = 0
    for message in sent:
        if message.kind != "ORU^R01":
            continue
        m = parsed(message)
        ipp = str(m["PID.F3.R1.C1"])
        assert str(m["OBR.F25"]) == "F"
        for obx in m.segments("OBX"):
            if str(obx[2]) != "NM":
                continue
            patient = next(ref for ref, value in ipps.items() if value == ipp)
            taken = datetime.strptime(str(obx[14]), "%Y%m%d%H%M%S%z").isoformat()
            observation = expected[(patient, str(obx[3][0][0]), taken)]
            quantity = observation["valueQuantity"]
            assert float(str(obx[5])) == quantity["value"]
            unit = [str(c) for c in obx[6][0]]
            if quantity["unit"] == quantity["code"]:
                assert unit[:3] == [quantity["code"], quantity["unit"], "UCUM"]
            else:  # the laboratory's spelling, and UCUM's as the alternate
                assert unit == [quantity["unit"], quantity["unit"], "L", quantity["code"], "", "UCUM"]
            found += 1
            if "interpretation" not in observation:  # capillary glucose at the bedside
                assert str(obx[7]) == str(obx[8]) == ""
                continue
            assert str(obx[8]) == observation["interpretation"][0]["coding"][0]["code"]
            high = observation["referenceRange"][0]["high"]["value"]
            assert str(obx[7]).endswith(str(high))
            flagged += str(obx[8]) in ("H", "L")
    assert found == len(labs) and flagged
    assert any(message.kind == "ORU^R01" and "µmol/L" in message.text for message in sent)


def test_a_later_bed_is_an_a02_that_the_mapping_follows(resources):
    """A stay moved to another bed: A01 in the first bed, then A02 in the second (ZBE-9
    L for a bed of the same ward, HMS for another ward); the capture's mapping has the
    stay in the second bed, the first one left."""
    import copy

    from releve.capture.hl7.mapping import adt
    from releve.capture.hl7.message import read

    locations = by_id(resources, "Location")
    stay = copy.deepcopy(next(e for e in by_id(resources, "Encounter").values()
                              if e["status"] == "in-progress" and e["class"]["code"] == "IMP"))
    first = stay["location"][0]["location"]["reference"].removeprefix("Location/")
    room = locations[first]["partOf"]["reference"].removeprefix("Location/")
    ward = locations[room]["partOf"]["reference"]
    beds = [r for r in locations.values() if r["physicalType"]["coding"][0]["code"] == "bd"
            and r["id"] != first]
    rooms = {r["id"] for r in locations.values() if r.get("partOf", {}).get("reference") == ward}
    other = next((r for r in beds if r["partOf"]["reference"].removeprefix("Location/") in rooms),
                 beds[0])
    nature = "L" if other["partOf"]["reference"].removeprefix("Location/") in rooms else "HMS"
    moved = datetime.fromisoformat(stay["period"]["start"]).timestamp() + 3600
    when = datetime.fromtimestamp(moved).astimezone(b.PARIS).isoformat()
    for entry in stay["location"]:
        if entry["physicalType"]["coding"][0]["code"] == "bd":
            entry["status"], entry["period"]["end"] = "completed", when
    stay["location"].append({"location": {"reference": f"Location/{other['id']}"},
                             "status": "active", "physicalType": {"coding": [{"code": "bd"}]},
                             "period": {"start": when}})
    others = [r for r in resources if r["resourceType"] != "Encounter"]
    sent = [m for m in messages(Hospital([*others, stay])) if m.kind.startswith("ADT")]
    assert [m.kind for m in sent] == ["ADT^A01", "ADT^A02"]
    a02 = parsed(sent[1])
    assert str(a02["PV1.F3.R1.C3"]) == other["name"] and str(a02["ZBE.F9"]) == nature
    assert str(a02["EVN.F6"]) == str(a02["ZBE.F2"]) != str(parsed(sent[0])["ZBE.F2"])
    read_back = [read(m.encoded()) for m in sent]
    mapped_stay = next(r for r in adt.stay_resources(read_back, read_back[0].patient)
                       if r["resourceType"] == "Encounter")
    active = [e["location"]["display"] for e in mapped_stay["location"] if e["status"] == "active"]
    assert other["name"] in active and locations[first]["name"] not in active


def test_the_admission_message_follows_the_stay_class_and_status(resources):
    """A01 for an inpatient stay, A04 for an emergency or day-hospital visit (PV1-2 E,
    O), A05 for a planned stay; a cancelled one sends nothing."""
    import copy

    patient = next(iter(by_id(resources, "Patient").values()))
    base = {"resourceType": "Encounter", "subject": {"reference": f"Patient/{patient['id']}"},
            "identifier": [{"system": b.NDA_SYSTEM, "value": "1"}],
            "period": {"start": "2026-01-14T08:00:00+01:00"}}
    cases = {("IMP", "in-progress"): ("ADT^A01", "I"), ("EMER", "arrived"): ("ADT^A04", "E"),
             ("AMB", "in-progress"): ("ADT^A04", "O"), ("IMP", "planned"): ("ADT^A05", "I"),
             ("IMP", "cancelled"): None}
    for number, ((cls, status), wanted) in enumerate(cases.items()):
        stay = {**copy.deepcopy(base), "id": f"e{number}", "status": status,
                "class": {"code": cls}}
        sent = messages(Hospital([patient, stay]))
        if wanted is None:
            assert sent == []
            continue
        assert [m.kind for m in sent] == [wanted[0]]
        assert str(parsed(sent[0])["PV1.F2"]) == wanted[1]


def test_messages_go_in_event_time_order_with_stable_ids(resources, sent):
    times = [message.when for message in sent]
    assert times == sorted(times)
    assert len({message.control_id for message in sent}) == len(sent)
    assert all(len(message.control_id) <= 20 for message in sent)
    again = messages(Hospital(census_resources(SEED, BEDS, NOW[:10])))
    assert [m.text for m in again] == [m.text for m in sent]


def test_separators_in_values_are_escaped():
    name = "O'Brien | Smith ^ & co ~ \\ Zoé"
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female",
               "identifier": [{"type": {"coding": [{"code": "PI"}]}, "system": b.IPP_SYSTEM,
                               "value": "123"}],
               "name": [{"use": "official", "family": name, "given": ["Anne-Œlise"]}]}
    text = Hospital([patient]).pid(patient)
    assert name not in text and esc(name) in text
    m = hl7.parse(f"MSH|^~\\&|A|B|C|D|20260114||ADT^A08|1|P|2.5\r{text}\r")
    assert str(m["PID.F5.R1.C1"]) == name  # the accessor unescapes
    assert str(m["PID.F5.R1.C2"]) == "Anne-Œlise"


def test_other_establishment_has_its_own_identifiers():
    other = hl7_feed.establishment(SEED + 1000, BEDS, NOW[:10])
    sent = messages(other)
    assert sent
    for message in sent[:20]:
        m = parsed(message)
        assert str(m["MSH.F4"]) == "SABLES"
        assert str(m["PID.F3.R1.C4.S2"]) == "2.999.33.2.1"
        assert "2.999.33.1." not in message.text
        if message.kind.startswith("ADT"):
            assert str(m["ZBE.F8.R1.C1"]).endswith(" – site des Sables")


def test_the_capture_reads_every_message_as_sent(resources, sent):
    """The capture's own reader takes every message: kind, patient key, event time, and
    PID-3, PID-5, PV1-3, PV1-19 read back as the FHIR data had them."""
    from releve.capture.hl7 import datatypes as dt
    from releve.capture.hl7.message import read

    patients = by_id(resources, "Patient")
    by_ipp = {p["identifier"][0]["value"]: p for p in patients.values()}
    for message in sent:
        m = read(message.encoded())
        assert m.header.kind == message.kind and m.header.charset == "utf-8"
        assert m.header.control_id == message.control_id
        authority, ipp = m.patient.split("|")
        assert authority == "2.999.33.1.1"
        patient = by_ipp[ipp]
        assert datetime.fromisoformat(m.event_time).timestamp() == message.when
        pid = dt.segments(m, "PID")[0]
        ids = [dt.identifier(rep) for rep in dt.repetitions(m, pid, 3)]
        wanted = [{"system": i["system"], "value": i["value"]} for i in patient["identifier"]]
        assert [{"system": i["system"], "value": i["value"]} for i in ids] == wanted
        names = [dt.human_name(rep) for rep in dt.repetitions(m, pid, 5)]
        assert [(n["use"], n["family"], n["given"][0]) for n in names] == \
            [(n["use"], n["family"], n["given"][0]) for n in patient["name"]]
        if message.kind.startswith("ADT"):
            assert dt.visit_key(m).startswith("2.999.33.1.2|")
            place = dt.place(dt.repetitions(m, dt.segments(m, "PV1")[0], 3)[0])
            assert place.facility == "2.999.33.1" and place.ward


# --- sending ------------------------------------------------------------------------------


class Receiver:
    """python-hl7's MLLP server in a thread: it records what arrives and ACKs it, except
    that it drops the connection without an ACK the first time it sees the messages
    `drop`."""

    def __init__(self, drop: set[str] | None = None, code: str = "AA"):
        self.drop = set(drop or ())
        self.code = code
        self.received: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    async def _handle(self, reader, writer) -> None:
        try:
            while not reader.at_eof():
                message = await reader.readmessage()
                control = str(message.segment("MSH")[10])
                self.received.append(control)
                if control in self.drop:
                    self.drop.discard(control)
                    writer.close()
                    return
                writer.writemessage(message.create_ack(ack_code=self.code))
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def serve():
            server = await start_hl7_server(self._handle, "127.0.0.1", 0, encoding="utf-8")
            self.port = server.sockets[0].getsockname()[1]
            self.server = server
            self.ready.set()

        self.loop.run_until_complete(serve())
        self.loop.run_forever()

    def __enter__(self) -> Receiver:
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        async def close():
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(close(), self.loop)
        self.thread.join(5)


@pytest.fixture
def few(sent) -> Iterator[list]:
    yield sent[:12]


def test_sends_in_order_each_once_acked(few):
    with Receiver() as receiver:
        tally = hl7_feed.send_all(few, "127.0.0.1", receiver.port)
    assert receiver.received == [m.control_id for m in few]
    assert (tally.sent, tally.accepted, tally.resent, tally.refused) == (12, 12, 0, [])


def test_a_missing_ack_sends_the_same_message_again(few):
    lost = few[3].control_id
    with Receiver(drop={lost}) as receiver:
        tally = hl7_feed.send_all(few, "127.0.0.1", receiver.port, ack_seconds=2)
    expected = [m.control_id for m in few]
    expected.insert(4, lost)  # the fourth arrived twice, then the rest in order
    assert receiver.received == expected
    assert (tally.sent, tally.accepted, tally.resent) == (12, 12, 1)


def test_a_refusal_is_counted_not_resent(few):
    with Receiver(code="AE") as receiver:
        tally = hl7_feed.send_all(few[:3], "127.0.0.1", receiver.port)
    assert receiver.received == [m.control_id for m in few[:3]]
    assert tally.accepted == 0 and [code for _, code in tally.refused] == ["AE"] * 3


@contextlib.contextmanager
def listening(state) -> Iterator[int]:
    """The capture's HL7 listener in a thread, on a free loopback port, its log in
    `state`; stopped after."""
    from releve.capture.hl7.listener import serve

    from helpers import wait_until

    ports: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(("127.0.0.1", 0), state),
                              kwargs={"ready": ports.append, "stop": stop}, daemon=True)
    thread.start()
    try:
        yield wait_until("the listener to listen", lambda: ports, 20, 0.05)[0]
    finally:
        stop.set()
        thread.join(20)


def test_the_listener_logs_each_message_once_whatever_is_resent(tmp_path, sent):
    """The feed into the capture's listener: every message acknowledged AA and logged in
    the order sent; the whole feed sent again (a demo resumed) is acknowledged and logged
    no second time."""
    from releve.capture.hl7.log import LogReader

    with listening(tmp_path) as port:
        for _ in range(2):
            tally = hl7_feed.send_all(sent, "127.0.0.1", port)
            assert (tally.accepted, tally.refused, tally.resent) == (len(sent), [], 0)
    logged = LogReader(tmp_path).after(0, 10 * len(sent))
    assert [r.control_id for r in logged] == [m.control_id for m in sent]
    assert {r.sender for r in logged} == {"DEMO-HIS|CHTR"}
    assert logged[0].raw == sent[0].encoded()


def test_demo_status_has_a_line_for_the_hl7_feed(tmp_path, sent):
    """`releve demo status` says what the listener received, from its message log."""
    import os

    from releve.demo.system.health import DOWN, OK, hl7_line
    from releve.demo.system.place import Place, Run

    place = Place(tmp_path)
    run = Run(pid=os.getpid(), his_port=1, vault_port=2, web_ports={}, capture_interval=30,
              processes={"capture-hl7": os.getpid()}, hl7_port=2575)
    assert hl7_line(place, None).state == DOWN
    assert hl7_line(place, run).detail == "127.0.0.1:2575: listening, no message yet"
    with listening(place.capture) as port:
        hl7_feed.send_all(sent[:5], "127.0.0.1", port)
    line = hl7_line(place, run)
    assert line.state == OK and line.component == "HL7 feed"
    assert line.detail.startswith(f"127.0.0.1:2575: DEMO-HIS|CHTR: 5 messages, last {sent[4].kind} at ")


# --- the round trip: FHIR and HL7 captures of one hospital, as a nurse sees them ------------


def nurse_view(station) -> tuple[dict, dict]:
    """What the station shows: per ward (by name), its occupied places with who is there;
    per patient (by name and birth date), each result's label, time, value, unit, flag."""
    from releve.station.index.connection import reader
    from releve.station.views import census as views
    from releve.station.views.summary import summary

    conn = reader(station)
    assert conn is not None, "the station has no index"
    try:
        wards: dict[str, list] = {}
        people: dict[str, tuple] = {}
        for unit in views.units(conn):
            if not unit.patients:
                continue
            found = views.census(conn, unit.place.id)
            assert found is not None
            rows = []
            for row in found.rows + found.unplaced:
                occupant = row.occupant
                if occupant is None:
                    continue
                who = (occupant.family, occupant.given, occupant.birth_date)
                rows.append((row.place.name if row.place else "", *who))
                people[occupant.patient] = who
            wards[unit.place.name] = sorted(rows)
        results = {}
        for patient, who in people.items():
            seen = summary(conn, patient)
            assert seen is not None
            results[who] = sorted((series.label, value.when, value.text, value.unit, value.flag)
                                  for series in seen.results for value in series.values)
        return wards, results
    finally:
        conn.close()


def station_of(folder, keys, vault):
    """A station synced once from `vault`."""
    from releve.station.sync import init_station, open_source, sync_once

    init_station(folder, keys.identity, name=folder.name, source=open_source(str(vault)))
    sync_once(folder, open_source(str(vault)))
    return folder


def new_vault(path, keys):
    from releve.vault.store import LocalVault

    LocalVault.init(path, [keys.recipient], [str(keys.public_key)])
    return path


def fhir_station(tmp_path, keys, resources, name: str = "fhir"):
    """The resources imported into a vault as a FHIR capture takes them, and a station."""
    import orjson

    from conftest import run_releve

    vault = new_vault(tmp_path / f"vault-{name}", keys)
    data = tmp_path / name
    data.mkdir()
    by_type: dict[str, list[bytes]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(orjson.dumps(resource))
    for rtype, lines in by_type.items():
        (data / f"{rtype}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    run_releve("import", "--vault", vault, "--signing-key", keys.signing_key, "--full", data)
    return station_of(tmp_path / f"station-{name}", keys, vault)


def test_the_fhir_side_of_the_round_trip_shows_wards_and_results(tmp_path, keys, resources):
    """What the round trip compares is there to compare: wards with their patients in
    their beds or boxes, results with units and flags."""
    wards, results = nurse_view(fhir_station(tmp_path, keys, resources))
    assert len(wards) >= 3 and sum(len(rows) for rows in wards.values()) >= 10
    assert any(name for rows in wards.values() for name, *_ in rows)  # beds, boxes
    values = [value for series in results.values() for value in series]
    assert len(values) > 50
    assert {"↑", "↓"} & {flag for *_, flag in values}
    assert "µmol/L" in {unit for *_, unit, _ in values}


def mapped(sent) -> list[dict]:
    """The resources the capture's mapping makes of the messages, patient by patient
    (there is no merge among them)."""
    from releve.capture.hl7.mapping import project
    from releve.capture.hl7.message import read

    groups: dict[str, list] = {}
    for message in sent:
        m = read(message.encoded())
        groups.setdefault(m.patient, []).append(m)
    return [resource for key, group in groups.items() for resource in project(group, key).values()]


def test_the_mapping_of_the_messages_shows_what_fhir_shows(tmp_path, keys, resources, sent):
    """The feed's messages through the capture's mapping (without the listener) give a
    station the same census and results as the FHIR data they were written from."""
    expected = nurse_view(fhir_station(tmp_path, keys, resources))
    assert nurse_view(fhir_station(tmp_path, keys, mapped(sent), "hl7")) == expected


def test_hl7_capture_shows_the_same_census_and_results_as_fhir(tmp_path, keys, resources):
    """The issue's check, end to end: the feed sends over MLLP to `releve capture hl7`,
    which writes segments into its vault; a station synced from it shows what a station
    synced from the FHIR import of the same hospital shows."""
    import subprocess

    from releve.station.sync import open_source, sync_once

    from conftest import RELEVE
    from helpers import free_port, wait_until

    expected = nurse_view(fhir_station(tmp_path, keys, resources))
    vault = new_vault(tmp_path / "vault-hl7", keys)
    port = free_port()
    listener = subprocess.Popen([*RELEVE, "capture", "hl7", "--listen", f"127.0.0.1:{port}",
                                 "--vault", vault, "--signing-key", keys.signing_key,
                                 "--state", tmp_path / "state", "--interval", "1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sent = messages(Hospital(resources))
        tally = hl7_feed.send_all(sent, "127.0.0.1", port)
        assert (tally.accepted, tally.refused) == (len(sent), [])
        station = station_of(tmp_path / "station-hl7", keys, vault)
        seen: list = []

        def same() -> bool:
            sync_once(station, open_source(str(vault)))
            seen[:] = [nurse_view(station)]
            return seen[0] == expected

        try:
            wait_until("the HL7 capture's station to show what the FHIR one shows", same, 60, 1)
        except AssertionError:
            assert seen[0] == expected  # pytest shows the difference
    finally:
        listener.terminate()
        listener.wait(20)
