"""The vault in a bucket with Object Lock, on a real Ceph radosgw (tests/s3_store.py):
created, appended, verified, read and synced from with the command line and the least
credentials each role has; then attacked with the writer's and the owner's credentials
(an overwrite, a delete marker), which `vault verify` reports as incidents while every
reader keeps reading the versions the chain names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from releve.station.index.connection import reader
from releve.vault import format as fmt
from releve.vault.s3 import S3Vault
from s3_store import ObjectStore, new_bucket

from conftest import Keys, run_releve

PATIENTS = 30


def _ndjson(path: Path, version: int, count: int = PATIENTS) -> Path:
    path.write_bytes(b"".join(orjson.dumps({
        "resourceType": "Patient", "id": f"p{i}", "meta": {"versionId": str(version)},
        "name": [{"family": f"Nom{i}", "given": [f"v{version}"]}]}) + b"\n" for i in range(count)))
    return path


class S3Case:
    """A vault under a fresh bucket: the owner made it, the capture appends to it."""

    def __init__(self, store: ObjectStore, keys: Keys, folder: Path) -> None:
        self.store, self.keys, self.folder = store, keys, folder
        self.bucket = new_bucket(store, lock_days=None)  # init sets the default retention
        self.url = f"s3://{self.bucket}/hopital-nord/vault"

    def releve(self, user: str, *args: str | Path, check: bool = True):
        return run_releve(*args, env=self.store.env(user), check=check)

    def init(self, days: int = 1) -> str:
        """`vault init` then `vault policy --apply`, as the IT team does, with the owner's keys."""
        said = self.releve("owner", "vault", "init", self.url, "--recipient", self.keys.recipient,
                           "--signer", self.keys.public_key, "--retention-days", str(days)
                           ).stdout.decode()
        applied = self.releve("owner", "vault", "policy", self.url,
                              "--writer", self.store.users["capture"]["user"],
                              "--reader", self.store.users["station"]["user"], "--apply")
        assert "deletion refused to all" in applied.stdout.decode()
        return said

    def imported(self, version: int, count: int = PATIENTS) -> str:
        data = _ndjson(self.folder / f"v{version}.ndjson", version, count)
        return self.releve("capture", "import", "--vault", self.url, "--signing-key",
                           self.keys.signing_key, "--state", self.folder / "state",
                           data).stdout.decode()

    def verify(self, user: str = "station", *extra: str | Path):
        result = self.releve(user, "vault", "verify", self.url, *extra, check=False)
        return result.returncode, result.stdout.decode() + result.stderr.decode()

    def cat(self) -> list[dict]:
        out = self.releve("station", "vault", "cat", self.url, "--identity",
                          self.keys.identity).stdout
        return sorted((orjson.loads(line) for line in out.splitlines()), key=lambda r: r["id"])

    def synced_station(self, name: str) -> dict[str, str]:
        station = self.folder / name
        self.releve("station", "station", "init", station, "--identity", self.keys.identity,
                    "--vault", self.url)
        self.releve("station", "station", "sync", "--station", station, "--vault", self.url)
        conn = reader(station)
        assert conn is not None
        try:
            return {i: orjson.loads(j)["name"][0]["given"][0] for i, j in
                    conn.execute("SELECT id, json FROM resources WHERE type = 'Patient'")}
        finally:
            conn.close()

    def key(self, name: str) -> str:
        return f"hopital-nord/vault/{name}"


@pytest.fixture
def case(object_store: ObjectStore, keys: Keys, tmp_path: Path) -> S3Case:
    return S3Case(object_store, keys, tmp_path)


@pytest.fixture
def filled(case: S3Case) -> S3Case:
    """Three imports: 30 patients, all changed, then 5 changed again."""
    case.init()
    for version in (1, 2):
        case.imported(version)
    case.imported(3, count=5)
    return case


def test_init_refuses_a_bucket_without_object_lock(object_store: ObjectStore, keys: Keys) -> None:
    bucket = new_bucket(object_store, lock_days=None, lock=False)
    result = run_releve("vault", "init", f"s3://{bucket}/v", "--recipient", keys.recipient,
                        "--signer", keys.public_key, "--retention-days", "1",
                        env=object_store.env("owner"), check=False)
    assert result.returncode == 1
    assert f"bucket {bucket} has no Object Lock" in result.stderr.decode()
    assert "Versions" not in object_store.client("owner").list_object_versions(Bucket=bucket)


def test_init_needs_a_retention_and_an_empty_prefix(case: S3Case) -> None:
    no_days = case.releve("owner", "vault", "init", case.url, "--recipient", case.keys.recipient,
                          "--signer", case.keys.public_key, check=False)
    assert no_days.returncode == 1 and "--retention-days" in no_days.stderr.decode()
    assert "objects locked 1 days (COMPLIANCE)" in case.init()
    again = case.releve("owner", "vault", "init", case.url, "--recipient", case.keys.recipient,
                        "--signer", case.keys.public_key, "--retention-days", "1", check=False)
    assert again.returncode == 1 and "already holds objects" in again.stderr.decode()


def test_every_object_is_locked_in_compliance_mode(filled: S3Case) -> None:
    client = filled.store.client("station")  # radosgw: an object is its putter's, the
    # owner reads the capture's objects only if the policy grants it
    listed = client.list_object_versions(Bucket=filled.bucket)["Versions"]
    names = sorted(v["Key"].rsplit("/", 1)[1] for v in listed)
    assert names == ["0000000001.age", "0000000001.age.minisig", "0000000002.age",
                     "0000000002.age.minisig", "0000000003.age", "0000000003.age.minisig",
                     "config.json"]
    now = dt.datetime.now(dt.UTC)
    for version in listed:
        head = client.head_object(Bucket=filled.bucket, Key=version["Key"],
                                  VersionId=version["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE", version["Key"]
        left = head["ObjectLockRetainUntilDate"] - now
        assert dt.timedelta(hours=23) < left <= dt.timedelta(days=1), (version["Key"], left)
    rule = filled.store.client("owner").get_object_lock_configuration(
        Bucket=filled.bucket)["ObjectLockConfiguration"]
    assert rule["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 1}


def test_the_commands_work_on_s3_with_each_role_s_credentials(filled: S3Case) -> None:
    code, report = filled.verify("station", "--identity", filled.keys.identity)
    assert code == 0, report
    assert "3 segments" in report and "chain sound" in report and "INCIDENT" not in report
    assert f"{PATIENTS * 2 + 5} records decrypted" in report
    current = {r["id"]: r["name"][0]["given"][0] for r in filled.cat()}
    assert len(current) == PATIENTS
    assert (current["p0"], current["p4"], current["p5"], current["p29"]) == ("v3", "v3", "v2", "v2")
    station = filled.synced_station("ward")
    assert len(station) == PATIENTS and station["p4"] == "v3" and station["p5"] == "v2"
    # the stations' credentials read, and cannot append
    refused = filled.releve("station", "import", "--vault", filled.url, "--signing-key",
                            filled.keys.signing_key, "--state", filled.folder / "state",
                            _ndjson(filled.folder / "v9.ndjson", 9), check=False)
    assert refused.returncode == 1 and "AccessDenied" in refused.stderr.decode()
    assert "4 segments" not in filled.verify()[1]


def test_a_checkpoint_and_a_new_delta_reach_a_station(filled: S3Case) -> None:
    out = filled.releve("capture", "vault", "checkpoint", "--vault", filled.url, "--signing-key",
                        filled.keys.signing_key, "--state", filled.folder / "state").stdout.decode()
    assert "checkpoint: segment 4" in out
    assert "segment 5" in filled.imported(5, count=2)
    station = filled.synced_station("late")
    assert station["p0"] == "v5" and station["p2"] == "v3" and station["p29"] == "v2"


def test_an_overwrite_is_an_incident_and_readers_keep_the_versions_the_chain_names(
        filled: S3Case) -> None:
    before = filled.cat()
    capture = filled.store.client("capture")
    for name, body in ((fmt.segment_name(2), b"not the segment"),
                       (fmt.signature_name(3), b"untrusted comment: forged\n")):
        capture.put_object(Bucket=filled.bucket, Key=filled.key(f"segments/{name}"), Body=body)
    code, report = filled.verify()
    assert code == 1, report
    assert "chain sound" in report
    assert "INCIDENT segments/0000000002.age: another version put" in report
    assert "attempted rewrite" in report and "segments/0000000003.age.minisig" in report
    assert "2 incident(s)" in report
    assert filled.cat() == before
    assert filled.synced_station("after-overwrite")["p4"] == "v3"
    # the writer goes on, on the chain it wrote
    assert "segment 4" in filled.imported(4, count=1)


def test_a_delete_marker_is_an_incident_and_hides_nothing_from_readers(filled: S3Case) -> None:
    owner = filled.store.client("owner")
    for name in ("config.json", "segments/0000000003.age"):
        marker = owner.delete_object(Bucket=filled.bucket, Key=filled.key(name))
        assert marker.get("DeleteMarker") is True
    code, report = filled.verify()
    assert code == 1, report
    assert "INCIDENT config.json: delete marker laid" in report
    assert "INCIDENT segments/0000000003.age: delete marker laid" in report
    assert "3 segments" in report
    assert filled.synced_station("after-delete")["p4"] == "v3"


def test_a_signature_left_by_an_append_cut_short_is_harmless(filled: S3Case) -> None:
    vault = S3Vault(filled.url, client=filled.store.client("capture"))
    vault._put("segments/" + fmt.signature_name(4), b"untrusted comment: cut short\n", 1)
    code, report = filled.verify()
    assert code == 0 and "signature of an append cut short" in report, report
    assert "segment 4" in filled.imported(4, count=1)  # a second version of the signature
    code, report = filled.verify("station", "--identity", filled.keys.identity)
    assert code == 0, report
    assert "4 segments" in report and "signature of an append cut short" in report


def test_retain_keeps_the_chain_from_the_latest_checkpoint_locked_longer(filled: S3Case) -> None:
    filled.releve("capture", "vault", "checkpoint", "--vault", filled.url, "--signing-key",
                  filled.keys.signing_key, "--state", filled.folder / "state")
    out = filled.releve("capture", "vault", "retain", filled.url, "--days", "3").stdout.decode()
    assert "3 object(s) now locked until" in out and "segments 4 on" in out, out
    client, now = filled.store.client("station"), dt.datetime.now(dt.UTC)

    def left(name: str) -> dt.timedelta:
        return client.head_object(Bucket=filled.bucket,
                                  Key=filled.key(name))["ObjectLockRetainUntilDate"] - now

    assert left("segments/0000000004.age") > dt.timedelta(days=2, hours=23)
    assert left("segments/0000000004.age.minisig") > dt.timedelta(days=2, hours=23)
    assert left("config.json") > dt.timedelta(days=2, hours=23)
    assert left("segments/0000000003.age") < dt.timedelta(days=1, minutes=1)
    shorter = filled.releve("capture", "vault", "retain", filled.url, "--days", "2").stdout.decode()
    assert "0 object(s)" in shorter
    assert left("segments/0000000004.age") > dt.timedelta(days=2, hours=23)


def test_the_endpoint_and_region_may_be_given_on_the_command_line(filled: S3Case) -> None:
    """Only the keys in the environment: `releve --s3-endpoint` (any command) and
    `vault verify --endpoint` reach the store; without them, boto3 would go elsewhere."""
    keys = {name: value for name, value in filled.store.env("station").items()
            if name.startswith("AWS_") and "KEY" in name}
    bare = {**{name: "" for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")},
            **keys}
    station = filled.folder / "flagged"
    for args in (("--s3-endpoint", filled.store.endpoint, "station", "init", station,
                  "--identity", filled.keys.identity, "--vault", filled.url),
                 ("--s3-endpoint", filled.store.endpoint, "--s3-region", filled.store.region,
                  "station", "sync", "--station", station, "--vault", filled.url),
                 ("vault", "verify", filled.url, "--endpoint", filled.store.endpoint)):
        result = run_releve(*args, env=bare, check=False)
        assert result.returncode == 0, result.stderr.decode()
    assert "chain sound" in result.stdout.decode()
    for secret in keys.values():
        assert secret not in result.stdout.decode() + result.stderr.decode()
