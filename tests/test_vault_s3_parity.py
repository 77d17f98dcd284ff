"""What the folder vault's tests check, checked again on a vault in a bucket with Object
Lock on a real Ceph radosgw (tests/s3_store.py): its objects read with the standard tools
alone, dedup, checkpoints and a rebuilt writer state, and tampering.

Tampering is what an attacker can do on S3, which is less than on a folder: with the
capture's credentials, put new objects or new versions over a vault's names (a segment
signed by an unknown key, a segment of another vault, a fork's segment put by a writer
holding the signing key but another state, another config.json); never change or remove
a locked version. `vault verify` and the stations' sync name what is wrong (BROKEN for a
chain that does not hold, INCIDENT for a rewrite beside a sound chain), stations keep
their state, and every reader keeps the versions the chain names.

One vault is built per module through the command line; each test that attacks or
extends it works on a clone (the same objects put again, in order, under a fresh
bucket), so the module stays quick on the session's shared store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from releve.capture.files import discover, import_tasks, total_size
from releve.capture.state import StateError
from releve.capture.writer import Writer
from releve.station.index.connection import reader
from releve.station.sync import SyncError, init_station, sync_once
from releve.vault import format as fmt
from releve.vault.errors import VaultError
from releve.vault.keys import create_signer, create_station_identity, load_signer
from releve.vault.minisign import SecretKey, Signature, file_digest_bytes
from releve.vault.s3 import S3Vault
from releve.vault.store import LocalVault
from s3_store import ObjectStore, apply_policy, new_bucket
from test_open_formats import age_plaintext, minisign_descriptor, sha256sum, tool
from test_vault_s3_crash import CRASH_SCRIPT

from conftest import Keys, run_releve

PREFIX = "ght/vault"
PATIENTS = 40
CHANGED = 30  # the second import changes the first 30 patients


# --- data ------------------------------------------------------------------------------------------


def _patients(version: int, count: int = PATIENTS, first: int = 0) -> list[dict]:
    return [{"resourceType": "Patient", "id": f"p{i}", "meta": {"versionId": str(version)},
             "name": [{"family": f"Lefèvre{i}", "given": [f"v{version}"]}]}
            for i in range(first, first + count)]


def _ndjson(path: Path, resources: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return path


def _given(resources: dict[str, dict]) -> dict[str, str]:
    return {key: r["name"][0]["given"][0] for key, r in resources.items()}


EXPECTED = {f"Patient/p{i}": "v2" if i < CHANGED else "v1" for i in range(PATIENTS)}


# --- the store -------------------------------------------------------------------------------------


@dataclasses.dataclass
class S3:
    """A vault's bucket on the store, read and written with each role's own keys."""

    store: ObjectStore
    bucket: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{PREFIX}"

    def key(self, name: str) -> str:
        return f"{PREFIX}/{name}"

    def releve(self, role: str, *args: str | Path, check: bool = True
               ) -> subprocess.CompletedProcess:
        return run_releve(*args, env=self.store.env(role), check=check)

    def versions(self) -> list[tuple[str, str]]:
        """(name under the prefix, version id) of every version, delete markers aside."""
        listed = self.store.client("station").list_object_versions(Bucket=self.bucket)
        return sorted((v["Key"][len(PREFIX) + 1:], v["VersionId"])
                      for v in listed.get("Versions", []))

    def first_versions(self) -> list[tuple[str, str]]:
        """(name, version id) of each name's oldest version, in the order they were put."""
        listed = self.store.client("station").list_object_versions(Bucket=self.bucket)
        oldest: dict[str, dict] = {}
        for version in listed.get("Versions", []):  # newest first within a key
            oldest[version["Key"]] = version
        ordered = sorted(oldest.values(), key=lambda v: (v["LastModified"], v["Key"]))
        return [(v["Key"][len(PREFIX) + 1:], v["VersionId"]) for v in ordered]

    def get(self, name: str, version_id: str) -> dict[str, Any]:
        return self.store.client("station").get_object(Bucket=self.bucket, Key=self.key(name),
                                                       VersionId=version_id)

    def download(self, folder: Path) -> Path:
        """Every name's first version into `folder`, by version id: the vault as a folder."""
        (folder / fmt.SEGMENTS_DIR).mkdir(parents=True)
        for name, version_id in self.first_versions():
            (folder / name).write_bytes(self.get(name, version_id)["Body"].read())
        return folder

    def put(self, name: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        """One object put with the capture's keys, locked like any: what an attacker holding
        them, or a second writer, can do."""
        capture = S3Vault(self.url, client=self.store.client("capture"))
        capture._put(name, body, 1, metadata)

    def source(self) -> S3Vault:
        return S3Vault(self.url, client=self.store.client("station"))

    def verify(self, *extra: str | Path) -> tuple[int, str]:
        result = self.releve("station", "vault", "verify", self.url, *extra, check=False)
        return result.returncode, result.stdout.decode() + result.stderr.decode()

    def cat(self, identity: Path) -> dict[str, dict]:
        out = self.releve("station", "vault", "cat", self.url, "--identity", identity).stdout
        state: dict[str, dict] = {}
        for line in out.splitlines():
            resource = orjson.loads(line)
            key = f"{resource['resourceType']}/{resource['id']}"
            assert key not in state, f"{key} twice in the current state"
            state[key] = resource
        return state


def _put_segment(s3: S3, seq: int, segment: bytes, signature: bytes) -> None:
    """Signature then segment, as the writer puts them, with the hashes it records."""
    s3.put("segments/" + fmt.signature_name(seq), signature)
    s3.put("segments/" + fmt.segment_name(seq), segment, {
        "sha256": hashlib.sha256(segment).hexdigest(),
        "blake2b": hashlib.blake2b(segment, digest_size=64).hexdigest()})


# --- one vault for the module, and what attackers bring ----------------------------------------------


@dataclasses.dataclass
class Built:
    root: Path
    keys: Keys
    rogue: SecretKey  # a well-formed signer the vault does not list
    store: ObjectStore
    base: S3  # 2 segments: 40 patients, then 30 of them changed
    state: Path  # the writer's state at segment 2
    inputs: list[Path]  # v1 (40 patients), v2 (30 changed)
    fork: Path  # a folder copy of the vault taken at segment 1, given another segment 2
    fork_state: Path  # the state of that second writer (same key, other history)
    ahead: Path  # a folder copy at segment 2, given a genuine segment 3 (3 changed)
    other: Path  # another vault, same signer and recipient, 3 segments


def _write_folder(vault: Path, keys: Keys, state: Path, data: Path) -> int:
    """A segment written by the real writer into a folder vault: attack material."""
    writer = Writer(LocalVault(vault), load_signer(keys.signing_key), state)
    try:
        sources = discover([data])
        written = writer.write(lambda: import_tasks(sources), "test",
                               size_hint=total_size(sources))
    finally:
        writer.close()
    assert written is not None
    return written.seq


def _clone(built: Built) -> S3:
    """The module's vault put again, object by object in the order of the first puts,
    under a fresh bucket with the vault's policy: the same vault for every reader and for
    the writer's state, and free to attack."""
    s3 = S3(built.store, new_bucket(built.store, lock_days=1))
    apply_policy(built.store, s3.bucket, PREFIX)
    for name, version_id in built.base.first_versions():
        got = built.base.get(name, version_id)
        s3.put(name, got["Body"].read(), got.get("Metadata") or None)
    return s3


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, object_store: ObjectStore) -> Built:
    root = tmp_path_factory.mktemp("s3parity")
    folder = root / "keys"
    identity, recipient = create_station_identity(folder, "station")
    signing_key, public_key, _ = create_signer(folder, "capture")
    rogue_key, _, _ = create_signer(folder, "rogue")
    keys = Keys(folder, identity, recipient, signing_key, public_key)
    inputs = [_ndjson(root / "v1.ndjson", _patients(1)),
              _ndjson(root / "v2.ndjson", _patients(2, CHANGED))]

    base = S3(object_store, new_bucket(object_store, lock_days=None))
    made = base.releve("owner", "vault", "init", base.url, "--recipient", recipient, "--signer",
                       public_key, "--retention-days", "1")
    assert "objects locked 1 days (COMPLIANCE)" in made.stdout.decode()
    applied = base.releve("owner", "vault", "policy", base.url,
                          "--writer", object_store.users["capture"]["user"],
                          "--reader", object_store.users["station"]["user"], "--apply")
    assert "deletion refused to all" in applied.stdout.decode()
    state = root / "state"

    def imported(data: Path) -> str:
        return base.releve("capture", "import", "--vault", base.url, "--signing-key",
                           signing_key, "--state", state, data).stdout.decode()

    assert "segment 1 (delta): 40 put, 0 deleted" in imported(inputs[0])
    fork, fork_state = base.download(root / "fork"), root / "fork-state"
    shutil.copytree(state, fork_state)
    assert "segment 2 (delta): 30 put, 0 deleted" in imported(inputs[1])
    assert _write_folder(fork, keys, fork_state,
                         _ndjson(root / "fork.ndjson", _patients(9, 3))) == 2
    ahead = base.download(root / "ahead")
    assert _write_folder(ahead, keys, _copy(state, root),
                         _ndjson(root / "v3.ndjson", _patients(3, 3))) == 3

    other = root / "other"
    LocalVault.init(other, [recipient], [str(public_key)])
    for data in (*inputs, root / "v3.ndjson"):
        _write_folder(other, keys, root / "other-state", data)
    assert LocalVault(other).sequence_numbers() == [1, 2, 3]
    return Built(root, keys, load_signer(rogue_key), object_store, base, state, inputs, fork,
                 fork_state, ahead, other)


def _copy(state: Path, root: Path) -> Path:
    target = root / f"state-{len(list(root.glob('state-*')))}"
    shutil.copytree(state, target)
    return target


def _segment(folder: Path, seq: int) -> tuple[bytes, bytes]:
    path = folder / fmt.SEGMENTS_DIR / fmt.segment_name(seq)
    return path.read_bytes(), path.with_name(fmt.signature_name(seq)).read_bytes()


def _station(s3: S3, keys: Keys, folder: Path, cli: bool = False) -> Path:
    """A station initialised and synced from the vault with the stations' keys: through
    the command line, or (where the station is only the witness of an attack, to keep
    the module quick) through the same functions in this process."""
    if cli:
        s3.releve("station", "station", "init", folder, "--identity", keys.identity,
                  "--vault", s3.url)
        s3.releve("station", "station", "sync", "--station", folder, "--vault", s3.url)
    else:
        init_station(folder, keys.identity, source=s3.source())
        sync_once(folder, s3.source())
    return folder


def _rows(station: Path) -> dict[str, str]:
    conn = reader(station)
    assert conn is not None
    try:
        return {f"{t}/{i}": orjson.loads(j)["name"][0]["given"][0] for t, i, j in
                conn.execute("SELECT type, id, json FROM resources")}
    finally:
        conn.close()


def _applied(station: Path) -> list[int]:
    conn = reader(station)
    assert conn is not None
    try:
        return [seq for (seq,) in conn.execute("SELECT seq FROM segments ORDER BY seq")]
    finally:
        conn.close()


def _sync(s3: S3, station: Path, cli: bool = False) -> tuple[int, str]:
    """(exit code, what the station said) of one sync."""
    if cli:
        result = s3.releve("station", "station", "sync", "--station", station, "--vault",
                           s3.url, check=False)
        return result.returncode, result.stdout.decode() + result.stderr.decode()
    try:
        return 0, f"applied {sync_once(station, s3.source()).applied}"
    except SyncError as exc:
        return 1, str(exc)


# --- open formats: the objects, downloaded by version id, read with the standard tools ------------


def test_the_objects_read_with_age_zstd_minisign_and_sha256sum_alone(built: Built,
                                                                    tmp_path: Path) -> None:
    base, keys = built.base, built.keys
    listed = base.versions()
    assert [name for name, _ in listed] == [
        "config.json", "segments/0000000001.age", "segments/0000000001.age.minisig",
        "segments/0000000002.age", "segments/0000000002.age.minisig"]  # one version each
    (tmp_path / "segments").mkdir()
    hashes: dict[str, dict[str, str]] = {}
    for name, version_id in listed:
        got = base.get(name, version_id)
        (tmp_path / name).write_bytes(got["Body"].read())
        hashes[name] = got["Metadata"]
    config = json.loads((tmp_path / "config.json").read_bytes())
    prev = sha256sum(tmp_path / "config.json")
    state: dict[str, dict] = {}
    for seq, puts in ((1, PATIENTS), (2, CHANGED)):
        path = tmp_path / "segments" / fmt.segment_name(seq)
        descriptor = minisign_descriptor(keys.public_key, path)  # minisign -V -p -m
        assert (descriptor["vault"], descriptor["seq"], descriptor["kind"]) == (
            config["vault_id"], seq, "delta")
        assert (descriptor["puts"], descriptor["deletes"]) == (puts, 0)
        assert descriptor["prev"] == prev, f"segment {seq} does not chain"
        prev = sha256sum(path)
        # the hash the writer put beside the object is the file's own
        assert hashes[f"segments/{fmt.segment_name(seq)}"]["sha256"] == prev
        lines = age_plaintext(keys.identity, path)  # age -d -i IDENTITY | zstd -d
        header = json.loads(lines[0])["segment"]
        for field in ("vault", "seq", "prev", "kind", "puts", "deletes"):
            assert header[field] == descriptor[field]
        records = [json.loads(line) for line in lines[1:]]
        assert len(records) == puts
        state.update({f"Patient/{r['id']}": r for r in records})
    assert _given(state) == EXPECTED
    assert state["Patient/p7"]["name"][0]["family"] == "Lefèvre7"  # UTF-8, byte for byte
    # a byte changed in a downloaded copy: minisign says no
    segment = tmp_path / "segments" / fmt.segment_name(2)
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 1
    segment.write_bytes(bytes(data))
    assert tool("minisign", "-V", "-p", keys.public_key, "-m", segment, check=False).returncode != 0


# --- dedup ----------------------------------------------------------------------------------------


def _importer(s3: S3, built: Built, state: Path):
    def imported(data: Path, check: bool = True) -> subprocess.CompletedProcess:
        return s3.releve("capture", "import", "--vault", s3.url, "--signing-key",
                         built.keys.signing_key, "--state", state, data, check=check)
    return imported


def test_the_same_data_twice_writes_nothing_and_a_change_only_the_change(
        built: Built, tmp_path: Path) -> None:
    s3 = _clone(built)
    imported = _importer(s3, built, _copy(built.state, tmp_path))
    before = s3.versions()
    assert "nothing changed" in imported(built.inputs[1]).stdout.decode()
    assert s3.versions() == before  # not one object, not one version

    changed = _patients(2, CHANGED)
    changed[7] = {**changed[7], "name": [{"family": "Lefèvre7", "given": ["v7"]}]}
    out = imported(_ndjson(tmp_path / "one.ndjson", changed)).stdout.decode()
    assert "segment 3 (delta): 1 put, 0 deleted" in out
    added = sorted(set(s3.versions()) - set(before))
    assert [name for name, _ in added] == ["segments/0000000003.age",
                                           "segments/0000000003.age.minisig"]
    lines = s3.releve("station", "vault", "cat", s3.url, "--identity", built.keys.identity,
                      "--segment", "3").stdout.splitlines()
    assert json.loads(lines[0])["segment"]["puts"] == 1
    assert [json.loads(line) for line in lines[1:]] == [changed[7]]

    delete = tmp_path / "delete.json"
    for url, said in (("Patient/p39", "segment 4 (delta): 0 put, 1 deleted"),
                      ("Patient/p39", "nothing changed"), ("Patient/never", "nothing changed")):
        delete.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "DELETE", "url": url}}]}))
        assert said in imported(delete).stdout.decode()
    assert len(s3.versions()) == len(before) + 4
    current = _given(s3.cat(built.keys.identity))
    assert current == {**{k: v for k, v in EXPECTED.items() if k != "Patient/p39"},
                       "Patient/p7": "v7"}


# --- checkpoints, and a writer's state rebuilt from the bucket ---------------------------------------


def test_a_new_station_starts_from_the_checkpoint(built: Built, tmp_path: Path) -> None:
    s3, keys = _clone(built), built.keys
    state = _copy(built.state, tmp_path)
    out = s3.releve("capture", "vault", "checkpoint", "--vault", s3.url, "--signing-key",
                    keys.signing_key, "--state", state).stdout.decode()
    assert f"checkpoint: segment 3, {PATIENTS} resources" in out
    changed = _ndjson(tmp_path / "v3.ndjson", _patients(3, 3))
    assert "segment 4 (delta): 3 put" in _importer(s3, built, state)(changed).stdout.decode()
    station = _station(s3, keys, tmp_path / "late", cli=True)
    assert _applied(station) == [3, 4]  # the checkpoint and what follows, nothing older
    assert _rows(station) == {**EXPECTED, **{f"Patient/p{i}": "v3" for i in range(3)}}
    code, report = s3.verify()
    assert code == 0 and "4 segments (1 full)" in report and "INCIDENT" not in report, report


def test_a_writer_state_rebuilt_from_the_bucket_continues_the_chain(built: Built,
                                                                    tmp_path: Path) -> None:
    s3, keys = _clone(built), built.keys
    writer = Writer(S3Vault(s3.url, client=s3.store.client("capture")),
                    load_signer(keys.signing_key), _copy(built.state, tmp_path))
    try:
        assert writer.checkpoint().seq == 3  # a full segment for the rebuild to start from
    finally:
        writer.close()
    # a lost state: a fresh one is refused, and nothing is put
    fresh = tmp_path / "fresh"
    before = s3.versions()
    refused = _importer(s3, built, fresh)(built.inputs[1], check=False)
    assert refused.returncode == 1 and "--full" in refused.stderr.decode()
    assert s3.versions() == before
    shutil.rmtree(fresh)
    rebuilt = s3.releve("station", "vault", "rebuild-state", "--vault", s3.url, "--identity",
                        keys.identity, "--state", fresh).stdout.decode()
    assert f"rebuilt: {PATIENTS} resources" in rebuilt
    imported = _importer(s3, built, fresh)
    assert "nothing changed" in imported(built.inputs[1]).stdout.decode()
    assert s3.versions() == before
    out = imported(_ndjson(tmp_path / "v4.ndjson", _patients(4, 1, first=39))).stdout.decode()
    assert "segment 4 (delta): 1 put" in out
    code, report = s3.verify("--identity", keys.identity)
    assert code == 0, report
    assert "4 segments (1 full)" in report and "chain sound" in report
    assert f"{PATIENTS + CHANGED + PATIENTS + 1} records decrypted" in report
    assert "INCIDENT" not in report and "warning" not in report
    assert _given(s3.cat(keys.identity)) == {**EXPECTED, "Patient/p39": "v4"}


# --- tampering: what the capture's keys can put -------------------------------------------------------


def _rogue_signed(built: Built, segment: bytes, signature: bytes) -> bytes:
    """The same bytes and signed descriptor, signed again by a key the vault does not list."""
    comment = Signature.parse(signature).trusted_comment
    return built.rogue.sign(file_digest_bytes(segment), comment).encode()


def _broken(s3: S3, seq: int, reason: str, *extra: str | Path) -> str:
    """verify fails on `seq`, by name and reason."""
    code, text = s3.verify(*extra)
    assert code == 1, text
    assert f"BROKEN segment {seq}: " in text and reason in text, text
    assert "OK vault" not in text and "Traceback" not in text, text
    return text


def test_a_segment_from_elsewhere_by_the_real_writer_verifies(built: Built,
                                                             tmp_path: Path) -> None:
    """The control for the tests below: segment 3, written by the real writer on a copy
    and put by the capture's keys, is sound; what fails them is the one thing they change."""
    s3 = _clone(built)
    _put_segment(s3, 3, *_segment(built.ahead, 3))
    code, report = s3.verify("--identity", built.keys.identity)
    assert code == 0 and "3 segments" in report and "INCIDENT" not in report, report
    assert _given(s3.cat(built.keys.identity))["Patient/p2"] == "v3"


def test_a_segment_signed_by_an_unknown_key_at_the_head_is_broken_and_stations_keep_theirs(
        built: Built, tmp_path: Path) -> None:
    s3, keys = _clone(built), built.keys
    station = _station(s3, keys, tmp_path / "ward")
    assert _rows(station) == EXPECTED
    segment, signature = _segment(built.ahead, 3)
    _put_segment(s3, 3, segment, _rogue_signed(built, segment, signature))
    assert built.rogue.public.key_id_hex in _broken(s3, 3, "signed by an unknown key")
    _broken(s3, 3, "signed by an unknown key", "--identity", keys.identity)
    code, said = _sync(s3, station, cli=True)
    assert code == 1 and "segment 3" in said and "unknown key" in said, said
    assert "keeps serving its last good state" in said
    assert _rows(station) == EXPECTED and _applied(station) == [1, 2]
    status = s3.releve("station", "station", "status", "--station", station,
                       check=False).stdout.decode()
    assert "segment 3" in status, status
    # the writer does not append after a head it did not sign
    before = s3.versions()
    refused = _importer(s3, built, _copy(built.state, tmp_path))(built.inputs[0], check=False)
    assert refused.returncode == 1
    assert "segment 3, the last, is not signed by a configured signer" in refused.stderr.decode()
    assert s3.versions() == before


def _stepped_over_second_segment_2(s3: S3, keys: Keys) -> None:
    """A second version of segment 2 and of its signature: two incidents, and the chain
    read (the first versions) sound and whole."""
    code, report = s3.verify("--identity", keys.identity)
    assert code == 1, report
    assert "2 segments" in report and "chain sound" in report
    assert f"{PATIENTS + CHANGED} records decrypted" in report
    assert "INCIDENT segments/0000000002.age: another version put" in report
    assert "INCIDENT segments/0000000002.age.minisig: another signature put" in report
    assert "2 incident(s)" in report


def test_a_segment_copied_from_another_vault(built: Built, tmp_path: Path) -> None:
    """Another vault's segment 2 (same signer, same recipients): as a second version of
    segment 2 it is an incident readers step over; at the head it breaks the chain."""
    s3, keys = _clone(built), built.keys
    station = _station(s3, keys, tmp_path / "ward")
    _put_segment(s3, 2, *_segment(built.other, 2))
    _stepped_over_second_segment_2(s3, keys)
    assert _given(s3.cat(keys.identity)) == EXPECTED
    assert _sync(s3, station)[0] == 0 and _rows(station) == EXPECTED

    _put_segment(s3, 3, *_segment(built.other, 3))
    _broken(s3, 3, "belongs to another vault", "--identity", keys.identity)
    code, said = _sync(s3, station)
    assert code == 1 and "segment 3" in said and "another vault" in said, said
    assert _rows(station) == EXPECTED and _applied(station) == [1, 2]


def test_a_fork_by_a_second_writer_is_an_incident_and_the_first_writer_goes_on(
        built: Built, tmp_path: Path) -> None:
    """A second writer with the same key and a state taken at segment 1 wrote another
    segment 2 (genuine: same vault, same signer, chained on segment 1) and put it: a
    second version of segment 2 and of its signature."""
    s3, keys = _clone(built), built.keys
    station = _station(s3, keys, tmp_path / "ward")
    _put_segment(s3, 2, *_segment(built.fork, 2))
    _stepped_over_second_segment_2(s3, keys)
    assert _given(s3.cat(keys.identity)) == EXPECTED  # not the fork's v9
    assert _sync(s3, station)[0] == 0 and _rows(station) == EXPECTED
    assert _rows(_station(s3, keys, tmp_path / "new")) == EXPECTED

    # the second writer cannot go on from its fork; the first goes on from its chain
    forked = _importer(s3, built, _copy(built.fork_state, tmp_path))(built.inputs[0], check=False)
    assert forked.returncode == 1 and "another history" in forked.stderr.decode()
    out = _importer(s3, built, _copy(built.state, tmp_path))(
        _ndjson(tmp_path / "v3.ndjson", _patients(3, 3))).stdout.decode()
    assert "segment 3 (delta): 3 put" in out
    code, report = s3.verify("--identity", keys.identity)
    assert "3 segments" in report and "chain sound" in report and "2 incident(s)" in report
    assert _sync(s3, station)[0] == 0 and _applied(station) == [1, 2, 3]
    assert _rows(station) == {**EXPECTED, **{f"Patient/p{i}": "v3" for i in range(3)}}


def test_an_overwritten_config_is_an_incident_and_grants_nothing(built: Built,
                                                                  tmp_path: Path) -> None:
    """config.json put again by the capture's keys, with the rogue signer added: readers
    keep the first version, and the rogue's segments stay unknown."""
    s3, keys = _clone(built), built.keys
    station = _station(s3, keys, tmp_path / "ward")
    first_id = dict(s3.first_versions())["config.json"]
    config = json.loads(s3.get("config.json", first_id)["Body"].read())
    config["signers"].append({"key_id": built.rogue.public.key_id_hex,
                              "public_key": built.rogue.public.to_base64()})
    s3.put("config.json", orjson.dumps(config, option=orjson.OPT_INDENT_2) + b"\n")
    assert [name for name, _ in s3.versions()].count("config.json") == 2
    code, report = s3.verify("--identity", keys.identity)
    assert code == 1, report
    assert "2 segments" in report and "chain sound" in report
    assert "INCIDENT config.json: another version put" in report and "1 incident(s)" in report
    assert _sync(s3, station)[0] == 0 and _rows(station) == EXPECTED
    assert _rows(_station(s3, keys, tmp_path / "new")) == EXPECTED
    out = _importer(s3, built, _copy(built.state, tmp_path))(
        _ndjson(tmp_path / "v3.ndjson", _patients(3, 3))).stdout.decode()
    assert "segment 3 (delta): 3 put" in out

    segment, signature = _segment(built.ahead, 3)
    _put_segment(s3, 4, segment, _rogue_signed(built, segment, signature))
    _broken(s3, 4, "signed by an unknown key")
    code, said = _sync(s3, station)
    assert code == 1 and "segment 4" in said and "unknown key" in said, said
    assert _applied(station) == [1, 2, 3]


def test_a_checkpoint_cut_short_does_not_mislead_new_stations(built: Built,
                                                             tmp_path: Path) -> None:
    """kill -9 of `vault checkpoint` between its signature's put and its segment's: the
    signature of a full segment 3 stays, locked, under the name of the delta the next
    import puts as segment 3. A new station must not take that delta for a checkpoint."""
    s3, keys = _clone(built), built.keys
    state = _copy(built.state, tmp_path)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, "before-segment-put", "vault", "checkpoint",
         "--vault", s3.url, "--signing-key", str(keys.signing_key), "--state", str(state)],
        capture_output=True, env={**os.environ, **s3.store.env("capture")})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()
    assert [name for name, _ in s3.versions()][-1] == "segments/0000000003.age.minisig"
    out = _importer(s3, built, state)(_ndjson(tmp_path / "v3.ndjson",
                                             _patients(3, 3))).stdout.decode()
    assert "segment 3 (delta): 3 put" in out
    code, report = s3.verify("--identity", keys.identity)
    assert code == 0 and "3 segments (0 full)" in report, report
    assert "signature of an append cut short" in report
    station = _station(s3, keys, tmp_path / "new", cli=True)
    assert _applied(station) == [1, 2, 3]
    assert _rows(station) == {**EXPECTED, **{f"Patient/p{i}": "v3" for i in range(3)}}


def test_a_writer_that_loses_a_race_for_its_number_says_so_and_puts_nothing_on_top(
        built: Built, tmp_path: Path) -> None:
    """Two writers with the same key and two states (a fork) append segment 3 at the same
    moment; puts are not conditional, so both land, and readers adopt the first. The one
    put second must not be confirmed: its writer would chain its next segment (here the
    checkpoint that follows in the same process) on bytes no reader follows, a break
    locked in place for every station."""
    s3, keys = _clone(built), built.keys
    vault = S3Vault(s3.url, client=s3.store.client("capture"))
    own_put = vault._put

    def raced(name: str, body: Any, days: int, metadata: dict[str, str] | None = None) -> Any:
        if name == "segments/" + fmt.segment_name(3):  # the other writer's put lands first
            _put_segment(s3, 3, *_segment(built.ahead, 3))
        return own_put(name, body, days, metadata)

    vault._put = raced  # type: ignore[method-assign]
    state = _copy(built.state, tmp_path)
    writer = Writer(vault, load_signer(keys.signing_key), state)
    data = _ndjson(tmp_path / "mine.ndjson", _patients(5, 2, first=20))
    sources = discover([data])
    try:
        with pytest.raises(VaultError, match="another writer put its own segment 3 first"):
            writer.write(lambda: import_tasks(sources), "test", size_hint=total_size(sources))
        vault._put = own_put  # type: ignore[method-assign]
        with pytest.raises(StateError, match="up to segment 2, but the vault is at segment 3"):
            writer.checkpoint()
    finally:
        writer.close()
    code, report = s3.verify("--identity", keys.identity)
    assert "3 segments" in report and "chain sound" in report and "BROKEN" not in report, report
    assert "INCIDENT segments/0000000003.age: another version put" in report
    assert code == 1 and "1 incident(s)" in report
    current = _given(s3.cat(keys.identity))
    assert current == {**EXPECTED, **{f"Patient/p{i}": "v3" for i in range(3)}}
    # the state is rebuilt from the vault, and the writer goes on from the chain read
    shutil.rmtree(state)
    s3.releve("station", "vault", "rebuild-state", "--vault", s3.url, "--identity",
              keys.identity, "--state", state)
    assert "segment 4 (delta): 2 put" in _importer(s3, built, state)(data).stdout.decode()
    code, report = s3.verify()
    assert "4 segments" in report and "chain sound" in report and "1 incident(s)" in report


def test_a_segment_not_locked_in_compliance_mode_is_an_incident(built: Built, tmp_path: Path) -> None:
    """A sound segment 3 put with the capture's keys under a GOVERNANCE lock (which a
    holder of the bypass right could lift): readers take it, verify says it is not kept
    as the vault's objects must be."""
    import base64
    import datetime as dt

    s3 = _clone(built)
    segment, signature = _segment(built.ahead, 3)
    s3.put("segments/" + fmt.signature_name(3), signature)  # then the segment, unlike the writer
    capture = built.store.client("capture")
    capture.put_object(
        Bucket=s3.bucket, Key=s3.key("segments/" + fmt.segment_name(3)), Body=segment,
        ContentMD5=base64.b64encode(hashlib.md5(segment).digest()).decode(),
        Metadata={"sha256": hashlib.sha256(segment).hexdigest(),
                  "blake2b": hashlib.blake2b(segment, digest_size=64).hexdigest()},
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    code, report = s3.verify()
    assert code == 1 and "3 segments" in report, report
    assert "INCIDENT segments/0000000003.age: not locked in COMPLIANCE mode (GOVERNANCE)" in report
    assert report.count("not locked in COMPLIANCE") == 1, report
