"""`releve verify` against a real demo HIS over loopback and a vault captured from it:
an identical restore, a restore that lost and altered resources, extras the journal
explains, the state as of a time, the server's own additions, bad usage."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from test_capture import start_his, transaction

from conftest import Keys, run_releve

PATIENTS, OBSERVATIONS = 400, 4  # observations per patient: 2,000 resources in all
BEFORE = "2026-01-14T09:00:00+01:00"  # the first capture's clock
LATER = "2026-01-14T11:00:00+01:00"
JOURNAL_SYSTEM = "urn:ietf:rfc:3986"


@dataclass
class World:
    """A HIS's data and database as captured, the vault and capture state it gave."""

    data: Path
    his_db: Path
    vault: Path
    state: Path
    keys: Keys


def _resources() -> list[dict]:
    found = []
    for i in range(PATIENTS):
        found.append({"resourceType": "Patient", "id": f"p{i}", "gender": "female",
                      "birthDate": "1950-03-02", "name": [{"family": f"Dupontel{i}", "given": ["Anne"]}]})
        for j in range(OBSERVATIONS):
            found.append({"resourceType": "Observation", "id": f"o{i}-{j}", "status": "final",
                          "code": {"text": "Température"}, "subject": {"reference": f"Patient/p{i}"},
                          "valueQuantity": {"value": 37.5 + j / 10, "unit": "°C"}})
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from releve.vault.keys import create_signer, create_station_identity
    from releve.vault.store import LocalVault

    folder = tmp_path_factory.mktemp("verify-world")
    identity, recipient = create_station_identity(folder / "keys", "station")
    signing_key, public_key, _ = create_signer(folder / "keys", "capture")
    keys = Keys(folder / "keys", identity, recipient, signing_key, public_key)
    vault = folder / "vault"
    LocalVault.init(vault, [recipient], [str(public_key)])
    data = folder / "his.ndjson"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _resources()))
    server, base = start_his(data, folder / "his.sqlite")
    try:
        capture(vault, keys, folder / "capture-state", base, BEFORE)
    finally:
        server.stop()
    return World(data, folder / "his.sqlite", vault, folder / "capture-state", keys)


@pytest.fixture
def his(world: World, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The captured HIS served again from a copy of its database (a restore from the
    backup): its base URL and the copy, which a test may alter."""
    copy = tmp_path / "his.sqlite"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{world.his_db}{suffix}").exists():
            shutil.copy(f"{world.his_db}{suffix}", f"{copy}{suffix}")
    server, base = start_his(world.data, copy)
    try:
        yield base, copy
    finally:
        server.stop()


def capture(vault: Path, keys: Keys, state: Path, base: str, now: str) -> None:
    """One capture cycle by search, its segment dated `now`."""
    run_releve("capture", "--vault", vault, "--fhir", base, "--signing-key", keys.signing_key,
               "--state", state, "--once", "--mode", "search", env={"RELEVE_NOW": now})


def verify(world: World, base: str, *extra: str | Path, vault: Path | None = None):
    return run_releve("verify", "--vault", vault or world.vault, "--identity", world.keys.identity,
                      "--fhir", base, *extra, check=False)


def read_report(path: Path) -> dict:
    return orjson.loads(path.read_bytes())


def keys_of(report: dict, status: str, explained: bool | None = None) -> set[str]:
    return {f"{r['type']}/{r['id']}" for r in report["resources"]
            if r["status"] == status and (explained is None or r["explained"] == explained)}


def current(base: str, key: str) -> dict:
    return httpx.get(f"{base}/{key}", timeout=30).json()


def put(key: str, resource: dict) -> dict:
    return {"resource": resource, "request": {"method": "PUT", "url": key}}


# --- the tests -----------------------------------------------------------------------------------


def test_an_identical_restore_is_ok(world, his, tmp_path):
    base, _ = his
    result = verify(world, base, "--out", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr.decode()
    report = read_report(tmp_path / "r.json")
    assert report["verdict"] == "ok" and report["resources"] == [] and report["diffs"] == {}
    assert {t: (c["vault"], c["his"], c["identical"], c["verdict"]) for t, c in report["types"].items()} == {
        "Patient": (PATIENTS, PATIENTS, PATIENTS, "ok"),
        "Observation": (PATIENTS * OBSERVATIONS,) * 3 + ("ok",)}
    assert report["reference"]["segments"] == [1]
    assert "OK" in result.stdout.decode()


def test_lost_and_altered_resources_are_found_and_nothing_else(world, his, tmp_path):
    base, db_path = his
    rng = random.Random(18)
    every = [f"Patient/p{i}" for i in range(PATIENTS)] + \
        [f"Observation/o{i}-{j}" for i in range(PATIENTS) for j in range(OBSERVATIONS)]
    chosen = rng.sample(every, 20 + 5 + 3)
    deleted, touched, tagged = set(chosen[:20]), chosen[20:25], chosen[25:]
    rest = [key for key in every if key not in chosen]
    altered = [rng.choice([k for k in rest if k.startswith("Patient/")]),
               rng.choice([k for k in rest if k.startswith("Observation/")])]  # 0.1%
    entries = [{"request": {"method": "DELETE", "url": key}} for key in sorted(deleted)]
    names = []
    for key in altered:
        resource = current(base, key)
        resource.pop("meta")
        if resource["resourceType"] == "Patient":
            names.append(resource["name"][0]["family"])
            resource["name"][0]["family"] = "Lemaréchal"
        else:
            resource["valueQuantity"]["value"] = 39.9
        entries.append(put(key, resource))
    for key in touched:  # a new version, the same content: not a change
        resource = current(base, key)
        resource.pop("meta")
        entries.append(put(key, resource))
    transaction(base, entries)
    _add_meta(db_path, tagged)  # what a server adds of its own, in place
    for key in tagged:
        assert current(base, key)["meta"]["source"] == "#restore"

    result = verify(world, base, "--out", tmp_path / "r.json", "--show", "5")
    assert result.returncode == 1, result.stderr.decode()
    report = read_report(tmp_path / "r.json")
    assert keys_of(report, "missing") == deleted
    assert keys_of(report, "changed") == set(altered)
    assert keys_of(report, "extra") == set()
    assert report["verdict"] == "differs"
    changes = {f"{t}/{d['id']}": d["changes"] for t, ds in report["diffs"].items() for d in ds}
    for key in altered:
        if key.startswith("Patient/"):
            assert changes[key] == [{"path": "name[0].family", "before": names[0], "after": "Lemaréchal"}]
        else:
            [change] = changes[key]
            assert change["path"] == "valueQuantity.value" and change["after"] == 39.9
    additions: dict[str, dict[str, int]] = {}
    for key in tagged:
        paths = additions.setdefault(key.split("/")[0], {})
        for path in ("meta.source", "meta.tag"):
            paths[path] = paths.get(path, 0) + 1
    assert report["server_additions"] == additions
    counted = {t: c["identical"] for t, c in report["types"].items()}
    assert sum(counted.values()) == len(every) - len(deleted) - len(altered)
    # the terminal names ids and paths, never a patient's name
    shown = result.stdout.decode()
    assert f"changed {altered[0]}: name[0].family" in shown
    assert "Lemaréchal" not in shown and not any(name in shown for name in names)
    for suffix in (".json", ".html", ".pdf"):
        assert stat.S_IMODE(os.stat(tmp_path / f"r{suffix}").st_mode) == 0o600
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(deleted)[0].split("/")[1] in (tmp_path / "r.html").read_text()


def _add_meta(db_path: Path, keys: list[str]) -> None:
    """meta.source and a meta.tag added to the current versions, as a server would."""
    with sqlite3.connect(db_path) as db:
        for key in keys:
            rtype, rid = key.split("/")
            lu, body = db.execute("SELECT v.lu, v.json FROM versions v JOIN current c ON c.lu = v.lu "
                                  "WHERE c.type = ? AND c.id = ?", (rtype, rid)).fetchone()
            resource = orjson.loads(body)
            resource["meta"]["source"] = "#restore"
            resource["meta"]["tag"] = [{"system": "urn:restore", "code": "restored"}]
            db.execute("UPDATE versions SET json = ? WHERE lu = ?", (orjson.dumps(resource), lu))


def test_what_the_journal_filed_is_explained(world, his, tmp_path):
    base, _ = his
    moved = current(base, "Patient/p7")
    moved.pop("meta")
    moved["identifier"] = [{"system": JOURNAL_SYSTEM, "value": "urn:uuid:11111111-2222-4333-8444-555555555555"}]
    moved["deceasedDateTime"] = "2026-01-20T08:00:00+01:00"
    admitted = {"resourceType": "Patient", "id": "66666666-7777-4888-9999-000000000000", "gender": "male",
                "identifier": [{"system": JOURNAL_SYSTEM,
                                "value": "urn:uuid:66666666-7777-4888-9999-000000000000"}]}
    stray = {"resourceType": "Observation", "id": "stray", "status": "final", "code": {"text": "Poids"}}
    transaction(base, [put("Patient/p7", moved), put(f"Patient/{admitted['id']}", admitted),
                       put("Observation/stray", stray)])
    result = verify(world, base, "--out", tmp_path / "r.json")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    report = read_report(tmp_path / "r.json")
    assert keys_of(report, "changed", explained=True) == {"Patient/p7"}
    assert keys_of(report, "changed", explained=False) == set()
    assert keys_of(report, "extra", explained=True) == {f"Patient/{admitted['id']}"}
    assert keys_of(report, "extra", explained=False) == {"Observation/stray"}
    assert report["types"]["Patient"]["changed_explained"] == 1
    assert report["types"]["Patient"]["extra_explained"] == 1
    assert all(r["after_reference"] for r in report["resources"] if r["status"] == "extra")


def test_the_state_as_of_a_time(world, his, tmp_path):
    base, _ = his
    from releve.vault.store import LocalVault

    vault, state = tmp_path / "vault", tmp_path / "capture-state"
    LocalVault.init(vault, [world.keys.recipient], [str(world.keys.public_key)])
    capture(vault, world.keys, state, base, BEFORE)
    gone = "Patient/p3"
    born = {"resourceType": "Patient", "id": "newborn", "gender": "female"}
    transaction(base, [{"request": {"method": "DELETE", "url": gone}}, put("Patient/newborn", born)])
    capture(vault, world.keys, state, base, LATER)

    latest = verify(world, base, "--out", tmp_path / "latest.json", vault=vault)
    report = read_report(tmp_path / "latest.json")
    assert latest.returncode == 0 and report["resources"] == []
    assert report["reference"]["segments"][-1] > 1

    earlier = verify(world, base, "--as-of", "2026-01-14T10:00:00+01:00", "--out",
                     tmp_path / "earlier.json", vault=vault)
    report = read_report(tmp_path / "earlier.json")
    assert earlier.returncode == 1
    assert report["reference"]["segments"] == [1] and report["reference"]["cut"] >= 1
    assert keys_of(report, "missing") == {gone}
    assert keys_of(report, "extra") == {"Patient/newborn"}
    assert keys_of(report, "changed") == set()


def test_types_can_be_restricted(world, his, tmp_path):
    base, _ = his
    transaction(base, [{"request": {"method": "DELETE", "url": "Observation/o1-1"}}])
    result = verify(world, base, "--type", "Patient", "--out", tmp_path / "r.json")
    report = read_report(tmp_path / "r.json")
    assert result.returncode == 0 and list(report["types"]) == ["Patient"]
    assert verify(world, base, "--type", "Observation").returncode == 1


@pytest.mark.parametrize("extra", [["--as-of", "14/01/2026"], ["--as-of", "2026-01-14T10:00:00"],
                                   ["--out", "r.txt"], ["--out", "no/such/r.json"], ["--show", "-1"]])
def test_bad_usage_exits_2(world, extra):
    assert verify(world, "http://127.0.0.1:9", *extra).returncode == 2


def test_with_a_station_only_its_journal_explains(world, his, tmp_path):
    from releve.journal.book import Journal
    from releve.journal.entry import Author, Draft

    base, _ = his
    station = tmp_path / "station"
    station.mkdir()
    (entry,) = Journal(station).append([Draft("observation", "Patient/p2", {
        "resourceType": "Observation", "status": "final", "code": {"text": "Température"},
        "subject": {"reference": "Patient/p2"}, "valueQuantity": {"value": 38.2, "unit": "°C"}})],
        Author("ines", "Inès Martin", "nurse"))
    filed = {k: v for k, v in entry.resource.items() if k != "meta"}
    unknown = {"resourceType": "Observation", "id": "other", "status": "final", "code": {"text": "Poids"},
               "identifier": [{"system": JOURNAL_SYSTEM, "value": "urn:uuid:99999999-8888-4777-8666-555555555555"}]}
    transaction(base, [put(f"Observation/{filed['id']}", filed), put("Observation/other", unknown)])
    result = verify(world, base, "--station", station, "--out", tmp_path / "r.json")
    report = read_report(tmp_path / "r.json")
    assert result.returncode == 0
    assert keys_of(report, "extra", explained=True) == {f"Observation/{filed['id']}"}
    assert keys_of(report, "extra", explained=False) == {"Observation/other"}
    assert {r["identifier"] for r in report["resources"]} == {
        entry.identifier, "urn:uuid:99999999-8888-4777-8666-555555555555"}


def test_many_new_versions_of_the_same_content_are_identical(world, his, tmp_path):
    """More candidates than are read one by one: their type is paged again."""
    from releve.wayback.verify.compare import FETCH_LIMIT

    base, _ = his
    keys = [f"Observation/o{i}-0" for i in range(FETCH_LIMIT + 50)]
    entries = []
    for key in keys:
        resource = current(base, key)
        resource.pop("meta")
        entries.append(put(key, resource))
    altered = current(base, keys[-1])
    altered.pop("meta")
    altered["status"] = "amended"
    entries[-1] = put(keys[-1], altered)
    for start in range(0, len(entries), 100):
        transaction(base, entries[start:start + 100])
    result = verify(world, base, "--out", tmp_path / "r.json")
    report = read_report(tmp_path / "r.json")
    assert result.returncode == 1
    assert keys_of(report, "changed") == {keys[-1]} and keys_of(report, "missing") == set()
    assert report["diffs"]["Observation"][0]["changes"] == [
        {"path": "status", "before": "final", "after": "amended"}]


def test_the_vault_side_keeps_each_keys_last_record(tmp_path):
    """The vault's records, appended in log order, become the state: a later put replaces
    an earlier one, a delete removes the key, a put after a delete brings it back."""
    from releve.wayback.verify import scratch

    db = scratch.connect(tmp_path / scratch.VAULT_DB, scratch.VAULT_SCHEMA)
    log = [("Patient/a", 1, 1, 2), ("Patient/b", 2, 1, 3), ("Patient/c", 3, 1, 4),  # the full segment
           ("Patient/a", None, 2, 2), ("Patient/b", 22, 2, 3), ("Patient/d", None, 2, 4),
           ("Patient/a", 11, 3, 2), ("Patient/c", None, 3, 3)]
    scratch.append(db, "vault", [(key, "Patient", digest, seq, line) for key, digest, seq, line in log])
    scratch.keep_last(db, deletes=True)
    assert db.execute("SELECT key, digest, seq, line FROM vault ORDER BY key").fetchall() == [
        ("Patient/a", 11, 3, 2), ("Patient/b", 22, 2, 3)]
    with pytest.raises(sqlite3.IntegrityError):  # one row a key, indexed
        db.execute("INSERT INTO vault VALUES ('Patient/a', 'Patient', 1, 4, 2)")


def test_an_hl7_feeds_resources_are_left_out(world, his, tmp_path):
    """A vault fed by an HL7 v2 feed too: the feed's resources (ids beginning `v2-`) were
    never in the HIS's FHIR API under those ids, so verify does not call them missing."""
    from releve.capture.scan import Task
    from releve.capture.writer import Writer
    from releve.vault.keys import load_signer
    from releve.vault.store import LocalVault

    vault, state = tmp_path / "vault", tmp_path / "state"
    shutil.copytree(world.vault, vault)
    shutil.copytree(world.state, state)
    fed = [{"resourceType": "Patient", "id": "v2-pat-0123456789abcdef0123",
            "name": [{"family": "ROUSSEL"}]},
           {"resourceType": "Binary", "id": "v2-msg-0123456789abcdef0123",
            "contentType": "x-application/hl7-v2+er7", "data": "TVNIfA=="}]
    writer = Writer(LocalVault(vault), load_signer(world.keys.signing_key), state)
    try:
        data = b"".join(orjson.dumps(r) + b"\n" for r in fed)
        assert writer.write(lambda: iter([Task(label="feed", data=data)]), "hl7", parallel=False)
    finally:
        writer.close()
    base, _ = his
    result = verify(world, base, "--out", tmp_path / "r.json", vault=vault)
    report = read_report(tmp_path / "r.json")
    assert result.returncode == 0 and report["verdict"] == "ok", result.stdout.decode()
    assert "Binary" not in report["types"] and report["resources"] == []


def test_a_vault_on_s3_is_captured_into_and_verified_against(world, his, tmp_path, object_store):
    """The FHIR capture writes into a vault on S3 (a real radosgw) with the capture's keys,
    and `releve verify` reads it with the stations' keys."""
    from s3_store import apply_policy, new_bucket

    base, _ = his
    bucket = new_bucket(object_store, lock_days=None)
    url = f"s3://{bucket}/chu"
    run_releve("vault", "init", url, "--recipient", world.keys.recipient, "--signer",
               world.keys.public_key, "--retention-days", "1", env=object_store.env("owner"))
    apply_policy(object_store, bucket, "chu")
    run_releve("capture", "--vault", url, "--fhir", base, "--signing-key", world.keys.signing_key,
               "--state", tmp_path / "state", "--once", "--mode", "search",
               env={"RELEVE_NOW": BEFORE, **object_store.env("capture")})
    result = run_releve("verify", "--vault", url, "--identity", world.keys.identity, "--fhir", base,
                        "--out", tmp_path / "r.json", env=object_store.env("station"), check=False)
    assert result.returncode == 0, result.stderr.decode()
    report = read_report(tmp_path / "r.json")
    assert report["verdict"] == "ok" and report["reference"]["segments"] == [1]
    assert report["types"]["Observation"]["identical"] == PATIENTS * OBSERVATIONS
