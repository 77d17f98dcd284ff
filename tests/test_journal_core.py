"""The journal's format and storage: entries signed, chained, durable, checkable with
standard tools, ingested from peers only when sound (docs/journal.md)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from releve.journal import files
from releve.journal.book import Journal
from releve.journal.entry import GENESIS, IDENTIFIER_SYSTEM, Author, Draft, split
from releve.journal.verify import verify_all
from releve.vault.minisign import PublicKey

from conftest import run_releve

NURSE = Author("ines", "Inès Martin", "nurse")


def observation(value: float, patient: str = "Patient/p1") -> Draft:
    return Draft("observation", patient, {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
        "subject": {"reference": patient}, "effectiveDateTime": "2026-01-14T09:00:00+01:00",
        "valueQuantity": {"value": value, "unit": "°C", "system": "http://unitsofmeasure.org",
                          "code": "Cel"}})


@pytest.fixture
def station(tmp_path: Path) -> Path:
    path = tmp_path / "station"
    path.mkdir()
    return path


def test_entries_are_chained_signed_and_identified(station: Path):
    journal = Journal(station)
    first, second = journal.append([observation(37.2), observation(38.4)], NURSE,
                                   vault={"seq": 12, "hash": "ab" * 32})
    assert (first.seq, second.seq) == (1, 2)
    assert first.body["prev"] == GENESIS and second.body["prev"] == first.hash
    assert first.body["author"] == {"user": "ines", "name": "Inès Martin", "role": "nurse"}
    assert first.body["vault"] == {"seq": 12, "hash": "ab" * 32}
    assert first.body["time"] == "2026-01-14T09:00:00.000Z"  # RELEVE_NOW, in UTC
    ident = first.resource["identifier"][0]
    assert ident["system"] == IDENTIFIER_SYSTEM and ident["value"] == f"urn:uuid:{first.resource['id']}"
    lines = files.entries_file(station, journal.station).read_bytes().split(b"\n")
    assert lines[:2] == [first.line, second.line] and lines[2] == b""
    assert verify_all(station).sound
    assert oct(files.journal_key(station).stat().st_mode & 0o777) == "0o600"


def test_a_correction_keeps_the_resource_identity(station: Path):
    journal = Journal(station)
    (first,) = journal.append([observation(3.72)], NURSE)
    (fixed,) = journal.append([Draft("observation", "Patient/p1", observation(37.2).resource,
                                     supersedes=first.key, reason="virgule oubliée")], NURSE)
    assert fixed.resource["id"] == first.resource["id"]
    assert fixed.identifier == first.identifier
    assert fixed.body["supersedes"] == first.key and fixed.body["reason"] == "virgule oubliée"
    assert journal.superseding(first.key) == [fixed.key]
    assert [e.key for e in journal.for_patient("Patient/p1")] == [first.key, fixed.key]


def test_an_entry_checks_with_sed_sha256sum_jq_and_minisign(station: Path, tmp_path: Path):
    journal = Journal(station)
    first, second = journal.append([observation(37.2), observation(38.4)], NURSE)
    path = files.entries_file(station, journal.station)
    pub = files.key_file(station, journal.station)
    body = tmp_path / "entry.json"
    sig = tmp_path / "entry.json.minisig"
    script = (f"sed -n 2p {path} | sed -E 's/,\"sig\":\"[^\"]*\"}}$/}}/' | tr -d '\\n' > {body}; "
              f"sed -n 2p {path} | jq -r .sig > {sig}; "
              f"minisign -Vm {body} -x {sig} -p {pub} && sha256sum {body} && "
              f"sed -n 1p {path} | sed -E 's/,\"sig\":\"[^\"]*\"}}$/}}/' | tr -d '\\n' | sha256sum")
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert "Signature and comment signature verified" in done.stdout
    assert f"releve journal {journal.station} 2" in done.stdout
    hashes = re.findall(r"^([0-9a-f]{64}) ", done.stdout, re.M)
    assert hashes == [second.hash, first.hash]
    assert json.loads(body.read_text())["prev"] == first.hash


def test_a_torn_last_line_is_ignored_then_cut(station: Path):
    journal = Journal(station)
    journal.append([observation(37.0)], NURSE)
    path = files.entries_file(station, journal.station)
    with open(path, "ab") as handle:
        handle.write(b'{"journal":1,"station":"half')  # a crash mid-write, never acknowledged
    assert verify_all(station).verdicts[0].torn_tail
    (second,) = Journal(station).append([observation(37.5)], NURSE)
    assert second.seq == 2
    assert path.read_bytes().count(b"\n") == 2 and b"half" not in path.read_bytes()
    report = verify_all(station)
    assert report.sound and report.verdicts[0].entries == 2


def test_verify_names_an_altered_entry(station: Path):
    journal = Journal(station)
    journal.append([observation(37.0), observation(38.0), observation(39.0)], NURSE)
    path = files.entries_file(station, journal.station)
    path.write_bytes(path.read_bytes().replace(b'"value":38.0', b'"value":36.0'))
    done = run_releve("journal", "verify", "--station", station, check=False)
    assert done.returncode == 1
    assert f"entry {journal.station}/2: bad signature" in done.stdout.decode()
    assert "after 1 good entries" in done.stdout.decode()


def _peer(tmp_path: Path, name: str, count: int) -> Journal:
    folder = tmp_path / name
    folder.mkdir()
    journal = Journal(folder)
    journal.append([observation(36.0 + i / 10) for i in range(count)], NURSE)
    return journal


def test_ingest_keeps_a_peers_good_entries_and_refuses_a_forged_one(station: Path, tmp_path: Path):
    peer = _peer(tmp_path, "peer", 5)
    lines = peer.lines_after(peer.station, 0)
    # a forger rewrites entry 3 and re-chains 4 and 5 without the peer's key
    forged = [*lines[:2]]
    prev = peer.entry(f"{peer.station}/2").hash
    for line in lines[2:]:
        raw, signature = split(line)
        body = json.loads(raw)
        body["prev"] = prev
        if body["seq"] == 3:
            body["resource"]["valueQuantity"]["value"] = 41.0
        encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        forged.append(encoded[:-1] + b',"sig":' + json.dumps(signature).encode() + b"}")
        prev = hashlib.sha256(encoded).hexdigest()
    mine = Journal(station)
    done = mine.ingest(peer.station, peer.key.public, forged)
    assert done.accepted == 2
    assert done.refused and f"entry {peer.station}/3: bad signature" in done.refused
    assert mine.last(peer.station)[0] == 2
    # the genuine lines then complete it; what is held is skipped
    again = mine.ingest(peer.station, peer.key.public, lines)
    assert (again.accepted, again.refused) == (3, None)
    assert verify_all(station).sound


def test_ingest_refuses_a_reordered_entry_and_a_changed_key(station: Path, tmp_path: Path):
    peer = _peer(tmp_path, "peer", 3)
    lines = peer.lines_after(peer.station, 0)
    mine = Journal(station)
    done = mine.ingest(peer.station, peer.key.public, [lines[0], lines[2], lines[1]])
    assert done.accepted == 1
    assert f"entry {peer.station}/3 where entry {peer.station}/2 was expected" in done.refused
    other = _peer(tmp_path, "other", 1)
    impostor = PublicKey(peer.key.public.key_id, other.key.public.raw)
    with pytest.raises(Exception, match="another key than the one pinned"):
        mine.ingest(peer.station, impostor, lines)


def test_the_index_is_rebuilt_from_the_files(station: Path, tmp_path: Path):
    peer = _peer(tmp_path, "peer", 2)
    mine = Journal(station)
    mine.append([observation(37.0)], NURSE)
    mine.ingest(peer.station, peer.key.public, peer.lines_after(peer.station, 0))
    files.journal_db(station).unlink()
    for extra in ("-wal", "-shm"):
        Path(f"{files.journal_db(station)}{extra}").unlink(missing_ok=True)
    fresh = Journal(station)
    assert len(fresh.for_patient("Patient/p1")) == 3


def test_export_writes_fhir_ndjson_with_provenance(station: Path, tmp_path: Path):
    journal = Journal(station)
    (first,) = journal.append([observation(37.0)], NURSE)
    cancel = dict(first.resource, status="entered-in-error")
    journal.append([Draft("observation", "Patient/p1", cancel, supersedes=first.key,
                          reason="mauvais patient")], NURSE)
    out = tmp_path / "out.ndjson"
    run_releve("journal", "export", "--station", station, "--out", out)
    resources = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["resourceType"] for r in resources] == ["Observation", "Observation", "Provenance"]
    assert resources[0]["meta"]["source"] == f"releve-journal:{first.key}"
    assert resources[1]["identifier"] == resources[0]["identifier"]
    provenance = resources[2]
    assert provenance["activity"]["coding"][0]["code"] == "NULLIFY"
    assert provenance["target"][0]["identifier"]["value"] == first.identifier
    assert provenance["reason"] == [{"text": "mauvais patient"}]


def test_a_copied_station_folder_is_checked_whole(station: Path, tmp_path: Path):
    journal = Journal(station)
    journal.append([observation(37.0)], NURSE)
    copy = tmp_path / "copy"
    shutil.copytree(station, copy)
    assert run_releve("journal", "verify", "--station", copy).returncode == 0


def test_ingest_refuses_a_second_version_of_an_entry_already_held(station: Path, tmp_path: Path):
    peer = _peer(tmp_path, "peer", 2)
    lines = peer.lines_after(peer.station, 0)
    mine = Journal(station)
    assert mine.ingest(peer.station, peer.key.public, lines).accepted == 2
    altered = lines[0].replace(b'"value":36.0', b'"value":39.0')
    done = mine.ingest(peer.station, peer.key.public, [altered, *lines[1:]])
    assert done.accepted == 0
    assert f"entry {peer.station}/1 differs from the one held" in done.refused


def test_station_init_makes_the_key_and_status_counts_entries(tmp_path: Path, keys):
    folder = tmp_path / "poste"
    made = run_releve("station", "init", folder, "--identity", keys.identity)
    station_id = Journal(folder).station
    assert f"this station's id is {station_id}" in made.stdout.decode()
    Journal(folder).append([observation(37.0), observation(37.4)], NURSE)
    shown = run_releve("station", "status", "--station", folder, check=False).stdout.decode()
    assert f"journal: this station {station_id}: 2 entries, last at 2026-01-14T09:00:00.000Z" in shown


def test_a_summary_is_handed_only_what_it_can_show(station: Path, monkeypatch):
    """Hundreds of measures: the summary gets the newest SHOWN_VALUES of each code and
    the administrations of the last days; the other lists read every entry."""
    from releve.station.recorded import recorded_for
    from releve.station.views.summary.observations import SHOWN_VALUES

    journal = Journal(station)
    drafts = []
    for minute in range(15):
        draft = observation(36.0 + minute / 10)
        draft.resource["effectiveDateTime"] = f"2026-01-14T08:{minute:02d}:00+01:00"
        drafts.append(draft)
    weight = observation(70.0)
    weight.resource["code"] = {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}
    given = Draft("administration", "Patient/p1", {"resourceType": "MedicationAdministration",
                                                    "status": "completed"})
    monkeypatch.setenv("RELEVE_NOW", "2026-01-10T10:00:00+01:00")  # four days ago
    journal.append([given], NURSE)
    monkeypatch.setenv("RELEVE_NOW", "2026-01-14T10:00:00+01:00")
    journal.append([*drafts, weight, given], NURSE)
    kept = recorded_for(journal, "p1")
    temperatures = [r["valueQuantity"]["value"] for t, r in kept.resources
                    if t == "Observation" and r["code"]["coding"][0]["code"] == "8310-5"]
    assert len(temperatures) == SHOWN_VALUES == 6
    assert sorted(temperatures)[0] == 36.9  # the nine oldest left out
    assert any(r["code"]["coding"][0]["code"] == "29463-7" for t, r in kept.resources if t == "Observation")
    assert [t for t, _ in kept.resources].count("MedicationAdministration") == 1  # not the old one
    assert len(journal.for_patient("Patient/p1")) == 18


def test_writers_and_readers_in_threads_lose_nothing(station: Path):
    """Pages read (and catch the index up) while others append: an entry acknowledged is
    never cut, the chain never forks, the index ends where the file does."""
    import threading

    journal = Journal(station)
    stop = threading.Event()
    written: list[str] = []
    problems: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(60):
                written.extend(e.key for e in journal.append([observation(30 + (n * 60 + i) % 100 / 10)], NURSE))
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                journal.for_patient("Patient/p1")
        except BaseException as exc:  # noqa: BLE001
            problems.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in [*readers, *writers]:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert problems == []
    assert len(written) == len(set(written)) == 240
    assert {e.key for e in Journal(station).for_patient("Patient/p1")} == set(written)
    report = verify_all(station)
    assert report.sound and report.verdicts[0].entries == 240
