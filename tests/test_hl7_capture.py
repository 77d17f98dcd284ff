"""Capture from HL7 v2 feeds, the middle of it: the segment writer that maps what the
message log holds and appends it to the vault, its projection, the `releve capture hl7`
command, and one chain shared with a FHIR capture on the same state folder.

Real parts throughout: a real message log written by the listener's own module, real
SQLite, a real vault and keys, the FHIR capture against `releve demo his` over HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hl7.client import MLLPClient

from releve.capture.hl7.mapping import ids
from releve.capture.scan import Task
from releve.capture.state import StateError
from releve.capture.writer import Writer
from releve.vault.keys import load_signer
from releve.vault.store import LocalVault
from test_bulk_deletions import start_demo_his
from test_capture import capture, server_state, transaction, vault_state

from conftest import RELEVE, run_releve
from helpers import ServerProcess, make_ca_and_server_cert, wait_until

# --- one chain with a FHIR capture -----------------------------------------------------------


def made_here(count: int) -> list[dict]:
    """Resources as an HL7 v2 feed writes them: ids from mapping/ids.py."""
    found = []
    for i in range(count):
        patient = ids.patient(f"1.2.250.1.71.4.2.7|{i:06d}")
        found.append({"resourceType": "Patient", "id": patient,
                      "name": [{"family": f"Feed{i}"}]})
        found.append({"resourceType": "Observation", "id": ids.make("obs", str(i)),
                      "status": "final", "code": {"text": "Kaliémie"},
                      "subject": {"reference": f"Patient/{patient}"}})
    return found


def write_resources(writer: Writer, resources: list[dict], source: str = "hl7") -> None:
    data = b"".join(orjson.dumps(r) + b"\n" for r in resources)
    writer.write(lambda: iter([Task(label=source, data=data)]), source, parallel=False)


@pytest.fixture
def hiding_his(tmp_path: Path) -> Iterator[str]:
    """The demo HIS (60 patients, 120 observations), its `_since` exports silent about
    deletions: only the id walk finds them."""
    yield from start_demo_his(tmp_path / "hiding-his", "--hide-deletions")


def test_a_fhir_capture_keeps_what_a_feed_wrote_on_the_same_state(hiding_his, tmp_path, keys,
                                                                    vault_dir):
    """The FHIR capture's first cycle into a state a feed already filled is a delta (a
    full segment would make the stations drop the feed's resources), and its id walk
    leaves the `v2-` ids, which the server never lists, alone."""
    state = tmp_path / "state"
    writer = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), state)
    try:
        write_resources(writer, made_here(10))
    finally:
        writer.close()
    feed = {f"{r['resourceType']}/{r['id']}": r for r in made_here(10)}
    first = capture(vault_dir, keys, state, hiding_his, "--mode", "bulk")
    assert "segment 2 (delta): 180 put, 0 deleted" in first.stdout.decode()
    held = vault_state(vault_dir, keys)
    assert {key: held[key] for key in feed} == feed
    transaction(hiding_his, [{"request": {"method": "DELETE", "url": "Patient/p7"}}])
    walked = capture(vault_dir, keys, state, hiding_his, "--mode", "bulk",
                     "--deletion-walk-every", "0")
    assert "0 put, 1 deleted" in walked.stdout.decode()
    held = vault_state(vault_dir, keys)
    assert "Patient/p7" not in held
    server = server_state(hiding_his)
    assert {key: value for key, value in held.items() if key not in feed}.keys() == server.keys()
    assert {key: held[key] for key in feed} == feed
    assert [LocalVault(vault_dir).info(seq).descriptor.kind for seq in (1, 2, 3)] == [
        "delta", "delta", "delta"]


def test_a_first_capture_into_an_empty_state_is_still_full(hiding_his, tmp_path, keys,
                                                             vault_dir):
    result = capture(vault_dir, keys, tmp_path / "state", hiding_his, "--mode", "bulk")
    assert "segment 1 (full): 180 put" in result.stdout.decode()


def test_a_second_writer_waits_for_the_state_lock(tmp_path, keys, vault_dir):
    """Two sources on one state take turns: the second waits for the lock (here 0.4 s)
    instead of failing; past its bound it fails with the same clear sentence."""
    state = tmp_path / "state"
    writer = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), state)
    try:
        with open(state / "lock", "a+") as other:  # another process's writer, in effect
            fcntl.flock(other.fileno(), fcntl.LOCK_EX)
            started = time.monotonic()
            with pytest.raises(StateError, match=r"another import or capture is using .* "
                                                 r"\(waited 0.3 s for it\)"):
                with writer.state.locked(wait=0.3):
                    pass
            assert time.monotonic() - started >= 0.3
            threading.Timer(0.4, fcntl.flock, (other.fileno(), fcntl.LOCK_UN)).start()
            started = time.monotonic()
            write_resources(writer, made_here(2))
            assert time.monotonic() - started >= 0.35
        assert LocalVault(vault_dir).sequence_numbers() == [1]
    finally:
        writer.close()


# --- the projection ------------------------------------------------------------------------


def test_the_projection_tells_what_a_group_no_longer_produces(tmp_path):
    """A group's keys dropped since its last mapping are deleted, unless another group
    still produces them (a shared ward); a merge joins two groups, whose keys the joined
    group answers for; the sequence mapped through only moves forward."""
    from releve.capture.hl7.projection import Group, Mapped, Projection, recorded

    a, b, c = "1.2.250.1|A", "1.2.250.1|B", "1.2.250.1|C"
    ward = "Location/v2-loc-ward"
    projection = Projection(tmp_path)
    try:
        first = [Mapped(Group(frozenset({a}), a), frozenset({"Patient/pa", "Encounter/ea", ward})),
                 Mapped(Group(frozenset({b}), b), frozenset({"Patient/pb", ward})),
                 Mapped(Group(frozenset({c}), c), frozenset({"Patient/pc", ward}))]
        assert projection.gone(first) == []
        projection.record(12, first, {"segment": 3})
        assert projection.mapped_through == 12
        # A's admission cancelled, and A merged into B: A's Patient goes, the ward stays
        merged = [Mapped(Group(frozenset({a, b}), b), frozenset({"Patient/pb", ward}))]
        assert projection.gone(merged) == ["Encounter/ea", "Patient/pa"]
        projection.record(15, merged, {"segment": 4})
        assert projection.survivors({a}) == {b}
        assert projection.produced({b}) == {"Patient/pb", ward}
        # B leaves the ward, where C still is; then C leaves it too
        left = [Mapped(Group(frozenset({a, b}), b), frozenset({"Patient/pb"}))]
        assert projection.gone(left) == []
        projection.record(9, left, {})
        assert projection.gone([Mapped(Group(frozenset({c}), c), frozenset({"Patient/pc"}))]) == [ward]
        assert projection.mapped_through == 15
        assert recorded(tmp_path)["segment"] == 4
    finally:
        projection.close()
    assert (tmp_path / "hl7" / "projection.sqlite").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "hl7").stat().st_mode & 0o777 == 0o700


# --- messages, as the HIS's interface engine sends them -------------------------------------

AUTHORITY = "HOPITAL&1.2.250.1.213.1.4.8&ISO"  # a French hospital's IPP authority (an OID)
IPP_OID = "1.2.250.1.213.1.4.8"


def segment(name: str, *fields: str) -> str:
    """A segment from its fields, numbered from 1 (trailing empty fields left out)."""
    return "|".join((name, *fields)).rstrip("|")


def fields(**numbered: str) -> list[str]:
    """Fields given by number (f3="..."): the others empty."""
    top = max(int(name[1:]) for name in numbered)
    return [numbered.get(f"f{n}", "") for n in range(1, top + 1)]


def msh(kind: str, control: str, sent: str, sender: str = "SIH^HOPITAL") -> str:
    app, facility = sender.split("^")
    return "MSH|^~\\&|" + "|".join([app, facility, "RELEVE", "HOPITAL", sent, "", kind, control,
                                    "P", "2.5", "", "", "", "", "FRA", "8859/1"])


def pid(ipp: str, family: str, given: str) -> str:
    return segment("PID", *fields(f1="1", f3=f"{ipp}^^^{AUTHORITY}^PI",
                                  f5=f"{family}^{given}^^^^^L", f7="19520317", f8="F"))


def pv1(visit: str, ward: str, room: str, bed: str) -> str:
    return segment("PV1", *fields(f1="1", f2="I", f3=f"{ward}^{room}^{bed}^HOPITAL",
                                  f19=f"{visit}^^^{AUTHORITY}^VN", f44="20260114082500"))


def admission(ipp: str, visit: str, control: str, when: str = "20260114082500") -> bytes:
    lines = [msh("ADT^A01^ADT_A01", control, when), segment("EVN", "A01", when, "", "", "", when),
             pid(ipp, "DUPONT", "JEANNE"), pv1(visit, "CARDIO", "101", "1")]
    return "\r".join(lines).encode("latin-1") + b"\r"


def potassium(ipp: str, visit: str, control: str, value: str = "4.2",
              when: str = "20260114090000", filler: str = "RES1") -> bytes:
    lines = [msh("ORU^R01^ORU_R01", control, when, "LABO^HOPITAL"), pid(ipp, "DUPONT", "JEANNE"),
             pv1(visit, "CARDIO", "101", "1"),
             segment("OBR", "1", "CMD1^SIH", f"{filler}^LABO", "2823-3^Potassium^LN", "", "",
                     "20260114084500"),
             segment("OBX", "1", "NM", "2823-3^Potassium^LN", "", value, "mmol/L^mmol/L^UCUM",
                     "3.5-5.0", "N", "", "", "F", "", "", "20260114084500")]
    return "\r".join(lines).encode("latin-1") + b"\r"


def merge(kept: str, away: str, control: str, when: str = "20260114120000") -> bytes:
    """An A40: patient `away` merged into `kept`."""
    lines = [msh("ADT^A40^ADT_A39", control, when), segment("EVN", "A40", when),
             pid(kept, "DUPONT", "JEANNE"), segment("MRG", f"{away}^^^{AUTHORITY}^PI")]
    return "\r".join(lines).encode("latin-1") + b"\r"


def test_a_group_maps_to_one_patient_and_the_later_event_wins():
    """Two patients merged: one Patient, every stay and result under the survivor; two
    versions of a result, the later sent first: the later event's value."""
    from releve.capture.hl7.mapping import project
    from releve.capture.hl7.message import read

    messages = [read(raw) for raw in (
        admission("111", "V1", "M1"), admission("222", "V2", "M2", "20260114083000"),
        potassium("111", "V1", "L2", "5.1", when="20260114100000"),
        potassium("111", "V1", "L1", "4.2", when="20260114090000"),
        merge("222", "111", "M3"))]
    survivor = f"{IPP_OID}|222"
    found = project(messages, survivor)
    by_type: dict[str, list[dict]] = {}
    for resource in found.values():
        by_type.setdefault(resource["resourceType"], []).append(resource)
    assert [p["id"] for p in by_type["Patient"]] == [ids.patient(survivor)]
    assert sorted(e["id"] for e in by_type["Encounter"]) == sorted(
        [ids.encounter(f"{IPP_OID}|V1"), ids.encounter(f"{IPP_OID}|V2")])
    subjects = {r["subject"]["reference"] for t in ("Encounter", "Observation")
                for r in by_type[t]}
    assert subjects == {f"Patient/{ids.patient(survivor)}"}
    (observation,) = by_type["Observation"]
    assert observation["valueQuantity"]["value"] == 5.1
    assert project(list(reversed(messages)), survivor) == found  # arrival order is no matter


# --- the segment writer ----------------------------------------------------------------------


@contextlib.contextmanager
def listening(state: Path) -> Iterator[int]:
    """The listener in a thread of this process (the real one: messages reach the log
    through MLLP); its port."""
    from releve.capture.hl7.listener import serve

    stop, ports = threading.Event(), []
    thread = threading.Thread(target=serve, args=(("127.0.0.1", 0), state),
                              kwargs={"ready": ports.append, "stop": stop}, daemon=True)
    thread.start()
    try:
        yield wait_until("the listener", lambda: ports and ports[0], 20, step=0.02)
    finally:
        stop.set()
        thread.join(20)


def test_each_interval_maps_the_groups_it_touches_and_deletes_what_they_drop(tmp_path, keys,
                                                                           vault_dir):
    """Two patients, a result, then a merge: the merged-away Patient is deleted and its
    stay and result follow the survivor; the raw messages are kept; an interval with
    nothing new writes nothing; a crash before the projection is recorded writes
    nothing twice."""
    from releve.capture.hl7.log import LogReader
    from releve.capture.hl7.projection import Projection
    from releve.capture.hl7.segments import write_interval

    state = tmp_path / "state"
    writer = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), state)
    projection, reader = Projection(state), LogReader(state)
    kept, away = ids.patient(f"{IPP_OID}|222"), ids.patient(f"{IPP_OID}|111")
    try:
        with listening(state) as port:
            send(port, admission("111", "V1", "M1"), admission("222", "V2", "M2"),
                 potassium("111", "V1", "L1"))
            first = write_interval(reader, projection, writer)
            assert first is not None and first.written is not None
            assert (first.messages, first.groups, first.deletes) == (3, 2, 0)
            held = held_by_type(vault_dir, keys)
            assert sorted(p["id"] for p in held["Patient"]) == sorted([kept, away])
            assert held["Observation"][0]["subject"]["reference"] == f"Patient/{away}"
            assert write_interval(reader, projection, writer) is None
            send(port, merge("222", "111", "M3"))
        merged = write_interval(reader, projection, writer)
        assert merged is not None and merged.written is not None
        assert (merged.messages, merged.groups, merged.deletes) == (1, 1, 1)
        assert merged.written.types["Patient"]["delete"] == 1  # the survivor may change too
        held = held_by_type(vault_dir, keys)
        assert [p["id"] for p in held["Patient"]] == [kept]
        for resource in held["Observation"] + held["Encounter"]:
            assert resource["subject"]["reference"] == f"Patient/{kept}"
        assert len(held["Binary"]) == 4
        assert projection.mapped_through == 4
        # a crash after the append, before the record: the same interval again
        projection.db.execute("UPDATE meta SET value = 3 WHERE name = 'mapped_through'")
        again = write_interval(reader, projection, writer)
        assert again is not None and again.written is None
        assert LocalVault(vault_dir).sequence_numbers() == [1, 2]
    finally:
        reader.close()
        projection.close()
        writer.close()


# --- `releve capture hl7`, end to end --------------------------------------------------------


def start_listener(vault: Path, keys, state: Path, *extra: str) -> tuple[ServerProcess, int]:
    """`releve capture hl7` on a port of its choosing, every 0.3 s; it and that port."""
    server = ServerProcess([*RELEVE, "capture", "hl7", "--listen", "127.0.0.1:0", "--vault", vault,
                            "--signing-key", keys.signing_key, "--state", state,
                            "--interval", "0.3", *extra])

    def port() -> int | None:
        if not server.running():
            raise AssertionError(f"the listener exited:\n{server.output()}")
        found = re.search(r"listening for HL7 v2 .* on 127\.0\.0\.1:(\d+)", server.output(20000))
        return int(found.group(1)) if found else None

    try:
        return server, wait_until("the listener to listen", port, 30)
    except BaseException:
        server.stop()
        raise


def send(port: int, *messages: bytes) -> list[bytes]:
    """Each message sent and its acknowledgement waited for, on one connection."""
    with MLLPClient("127.0.0.1", port) as client:
        return [client.send_message(message) for message in messages]


def held_by_type(vault: Path, keys) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for resource in vault_state(vault, keys).values():
        found.setdefault(resource["resourceType"], []).append(resource)
    return found


def test_the_listener_writes_what_arrives_to_the_vault(tmp_path, keys, vault_dir):
    state = tmp_path / "state"
    server, port = start_listener(vault_dir, keys, state)
    try:
        acks = send(port, admission("123456", "V0001", "MSG0001"),
                    potassium("123456", "V0001", "LAB0001"))
        assert all(b"MSA|AA|" in ack for ack in acks)
        binaries = {ids.message("SIH|HOPITAL", "MSG0001"), ids.message("LABO|HOPITAL", "LAB0001")}
        held = wait_until("the segment", lambda: (lambda h: h if len(h.get("Binary", [])) == 2
                                                  else None)(held_by_type(vault_dir, keys)), 30)
    finally:
        assert server.stop() == 0, server.output()
    patient = ids.patient(f"{IPP_OID}|123456")
    assert [p["id"] for p in held["Patient"]] == [patient]
    assert [e["id"] for e in held["Encounter"]] == [ids.encounter(f"{IPP_OID}|V0001")]
    assert held["Encounter"][0]["subject"]["reference"] == f"Patient/{patient}"
    (observation,) = held["Observation"]
    assert observation["subject"]["reference"] == f"Patient/{patient}"
    assert observation["valueQuantity"]["value"] == 4.2
    assert {b["id"] for b in held["Binary"]} == binaries
    raw = next(b for b in held["Binary"] if b["id"] == ids.message("SIH|HOPITAL", "MSG0001"))
    assert raw["contentType"] == "x-application/hl7-v2+er7"
    assert base64.b64decode(raw["data"]) == admission("123456", "V0001", "MSG0001")
    assert LocalVault(vault_dir).info(1).descriptor.source == "hl7"
    status = run_releve("capture", "status", "--state", state, check=False).stdout.decode()
    assert "feed SIH|HOPITAL: last message ADT^A01" in status
    assert "feed LABO|HOPITAL: last message ORU^R01" in status
    assert "FHIR server" not in status  # no FHIR capture on this state


def test_a_fhir_capture_and_the_listener_keep_one_chain(hiding_his, tmp_path, keys, vault_dir):
    """Both on one state: their segments interleave in one chain, each keeping the
    other's resources; the status shows both."""
    state = tmp_path / "state"
    server, port = start_listener(vault_dir, keys, state)
    try:
        send(port, admission("123456", "V0001", "MSG0001"))
        wait_until("the feed's segment", lambda: LocalVault(vault_dir).sequence_numbers(), 30)
        first = capture(vault_dir, keys, state, hiding_his, "--mode", "bulk")
        assert "(delta): 180 put, 0 deleted" in first.stdout.decode()
        send(port, potassium("123456", "V0001", "LAB0001"))
        transaction(hiding_his, [{"request": {"method": "DELETE", "url": "Patient/p7"}}])
        capture(vault_dir, keys, state, hiding_his, "--mode", "bulk", "--deletion-walk-every", "0")
        held = wait_until("the result's segment", lambda: (lambda h: h if "Observation" in h and any(
            o["id"].startswith("v2-") for o in h["Observation"]) else None)(
                held_by_type(vault_dir, keys)), 30)
    finally:
        assert server.stop() == 0, server.output()
    sources = [LocalVault(vault_dir).info(seq).descriptor.source
               for seq in LocalVault(vault_dir).sequence_numbers()]
    assert sources[0] == "hl7" and any(s.startswith("capture bulk") for s in sources)
    assert "hl7" in sources[2:]  # the feed wrote again after the FHIR capture
    keys_held = {f"{r['resourceType']}/{r['id']}" for rs in held.values() for r in rs}
    assert f"Patient/{ids.patient(f'{IPP_OID}|123456')}" in keys_held
    assert "Patient/p7" not in keys_held and "Patient/p8" in keys_held
    verified = run_releve("vault", "verify", vault_dir, "--identity", keys.identity)
    assert "chain sound" in verified.stdout.decode()
    status = run_releve("capture", "status", "--state", state, check=False).stdout.decode()
    assert "FHIR server: " in status and "feed SIH|HOPITAL" in status


def test_the_segment_writer_is_started_again_when_it_dies(tmp_path, keys, vault_dir):
    """kill -9 of the child writing the segments: the listener goes on acknowledging, and
    starts a new child, which writes what arrived meanwhile."""
    server, port = start_listener(vault_dir, keys, tmp_path / "state")
    try:
        send(port, admission("123456", "V0001", "MSG0001"))
        wait_until("the first segment", lambda: LocalVault(vault_dir).sequence_numbers(), 30)
        (child,) = [pid for pid in children_of(server.process.pid)
                    if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(child, signal.SIGKILL)
        assert b"MSA|AA|" in send(port, potassium("123456", "V0001", "LAB0001"))[0]
        wait_until("the result's Binary", lambda: len(
            held_by_type(vault_dir, keys).get("Binary", [])) == 2, 30)
        assert "segment writer: exited with status -9" in server.output(20000)
    finally:
        assert server.stop() == 0, server.output()


def children_of(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def test_status_asks_for_attention_when_messages_wait(tmp_path):
    """Messages in the log that no segment writer has mapped (the command's child
    cannot write: the vault unreachable, say): exit 1 with the reason."""
    state = tmp_path / "state"
    with listening(state) as port:
        send(port, admission("123456", "V0001", "MSG0001"))
    shown = run_releve("capture", "status", "--state", state, check=False)
    assert shown.returncode == 1
    text = shown.stdout.decode()
    assert "feed SIH|HOPITAL: last message ADT^A01" in text and "1 accepted" in text
    assert "attention: the HL7 segment writer has written nothing yet" in text
    assert "refused" not in text


def test_status_asks_for_attention_when_a_message_was_refused(tmp_path, keys, vault_dir):
    """A refused message is lost unless someone acts: an engine never sends it again."""
    state = tmp_path / "state"
    server, port = start_listener(vault_dir, keys, state)
    try:
        send(port, admission("123456", "V0001", "MSG0001"))
        wait_until("the segment", lambda: LocalVault(vault_dir).sequence_numbers(), 30)
        shown = run_releve("capture", "status", "--state", state, check=False)
        assert shown.returncode == 0, shown.stdout.decode()
        (refusal,) = send(port, b"MSH|^~\\&|SIH|HOPITAL|RELEVE|HOPITAL|20260114090000||MFN^M02|"
                                b"MFN1|P|2.5\rMFI|LOC\r")
        assert b"MSA|AR|MFN1" in refusal
    finally:
        assert server.stop() == 0, server.output()
    shown = run_releve("capture", "status", "--state", state, check=False)
    text = shown.stdout.decode()
    assert shown.returncode == 1 and "(AR): message type MFN^M02 is not supported" in text
    assert "attention: HL7 messages were refused in the last hour" in text
    nothing = run_releve("capture", "status", "--state", tmp_path / "nowhere", check=False)
    assert nothing.returncode == 2


def test_the_listener_speaks_tls_with_the_hospitals_certificate(tmp_path, keys, vault_dir):
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    server, port = start_listener(vault_dir, keys, tmp_path / "state", "--tls-cert", cert,
                                  "--tls-key", key)
    try:
        context = ssl.create_default_context(cafile=str(ca))
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"\x0b" + admission("123456", "V0001", "TLS1") + b"\x1c\r")
            answer = b""
            while not answer.endswith(b"\x1c\r"):
                answer += tls.recv(4096)
        assert b"MSA|AA|TLS1" in answer
        wait_until("the segment", lambda: LocalVault(vault_dir).sequence_numbers(), 30)
    finally:
        assert server.stop() == 0, server.output()
    bad = run_releve("capture", "hl7", "--listen", "127.0.0.1:0", "--vault", vault_dir,
                     "--signing-key", keys.signing_key, "--state", tmp_path / "state",
                     "--tls-cert", cert, check=False)
    assert bad.returncode == 2 and "give both --tls-cert and --tls-key" in bad.stderr.decode()
