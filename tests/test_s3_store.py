"""What the S3 object store itself guarantees to the vault, asked of a real radosgw
(tests/s3_store.py) with the vault's bucket policy applied by the owner: the capture's,
the stations' and the owner's keys all fail to delete, rewrite or unlock what was put.
Every assertion is on the store's answer (the error code boto3 reports) and on what can
still be read afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from releve.vault.s3_policy import bucket_policy
from s3_store import ObjectStore, apply_policy, new_bucket, start_store, stop_store

PREFIX = "vault"
ROLES = ["capture", "station", "owner"]
# Object Lock dates are the store's wall clock, not the tests' pinned RELEVE_NOW.
UNTIL = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)


@dataclass
class Locked:
    """A bucket with the vault's policy, and one object the capture put under lock."""

    store: ObjectStore
    bucket: str
    key: str
    version: str
    body: bytes


def refused(call: Any, code: str, **kwargs: Any) -> str:
    """Call a boto3 method expecting the store to refuse with `code`; its message."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == code, caught.value.response
    return error.get("Message") or ""


def put_locked(store: ObjectStore, bucket: str, key: str, body: bytes) -> str:
    """The capture's put: COMPLIANCE mode, a retain-until date; the new version's id."""
    answer = store.client("capture").put_object(
        Bucket=bucket, Key=key, Body=body, ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=UNTIL)
    return answer["VersionId"]


def read(store: ObjectStore, user: str, bucket: str, key: str, version: str | None = None) -> bytes:
    extra = {"VersionId": version} if version else {}
    return store.client(user).get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


@pytest.fixture(scope="module")
def locked(object_store: ObjectStore) -> Locked:
    bucket = new_bucket(object_store, lock_days=1)
    apply_policy(object_store, bucket, PREFIX)
    key, body = f"{PREFIX}/segments/0000000001.age", b"age-encryption.org/v1 first segment"
    return Locked(object_store, bucket, key, put_locked(object_store, bucket, key, body), body)


def test_the_capture_puts_under_compliance_lock_and_stations_read_it(locked: Locked) -> None:
    s = locked.store
    retention = s.client("station").get_object_retention(
        Bucket=locked.bucket, Key=locked.key, VersionId=locked.version)["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["RetainUntilDate"] == UNTIL
    assert read(s, "station", locked.bucket, locked.key, locked.version) == locked.body
    versions = s.client("station").list_object_versions(Bucket=locked.bucket, Prefix=f"{PREFIX}/")
    assert [v["VersionId"] for v in versions["Versions"] if v["Key"] == locked.key] == [locked.version]
    lock = s.client("capture").get_object_lock_configuration(Bucket=locked.bucket)
    assert lock["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"


def test_stations_cannot_put(locked: Locked) -> None:
    station = locked.store.client("station")
    refused(station.put_object, "AccessDenied", Bucket=locked.bucket,
            Key=f"{PREFIX}/segments/0000000002.age", Body=b"forged")
    refused(station.put_object, "AccessDenied", Bucket=locked.bucket, Key=locked.key, Body=b"forged")
    assert read(locked.store, "station", locked.bucket, locked.key) == locked.body


def test_writers_and_readers_stay_inside_the_prefix(locked: Locked) -> None:
    s = locked.store
    s.client("owner").put_object(Bucket=locked.bucket, Key="other/x", Body=b"not the vault's")
    for role in ("capture", "station"):
        refused(s.client(role).get_object, "AccessDenied", Bucket=locked.bucket, Key="other/x")
    refused(s.client("capture").put_object, "AccessDenied", Bucket=locked.bucket,
            Key="other/y", Body=b"outside the vault")


@pytest.mark.parametrize("role", ["capture", "station"])
def test_a_missing_key_is_told_from_a_forbidden_one(locked: Locked, role: str) -> None:
    """Listing is granted bucket-wide so that absence reads as NoSuchKey, not AccessDenied."""
    refused(locked.store.client(role).get_object, "NoSuchKey", Bucket=locked.bucket,
            Key=f"{PREFIX}/segments/9999999999.age")


@pytest.mark.parametrize("role", ROLES)
def test_deleting_a_locked_version_is_refused(locked: Locked, role: str) -> None:
    client = locked.store.client(role)
    refused(client.delete_object, "AccessDenied", Bucket=locked.bucket, Key=locked.key,
            VersionId=locked.version)
    refused(client.delete_object, "AccessDenied", Bucket=locked.bucket, Key=locked.key,
            VersionId=locked.version, BypassGovernanceRetention=True)
    delete = {"Objects": [{"Key": locked.key, "VersionId": locked.version}]}
    if role == "owner":  # the owner may ask; the store refuses the version, by key
        answer = client.delete_objects(Bucket=locked.bucket, Delete=delete)
        assert [e["Code"] for e in answer["Errors"]] == ["AccessDenied"]
        assert "Deleted" not in answer
    else:  # the others are refused the whole request
        refused(client.delete_objects, "AccessDenied", Bucket=locked.bucket, Delete=delete)
    assert read(locked.store, "station", locked.bucket, locked.key, locked.version) == locked.body


@pytest.mark.parametrize("role", ROLES)
def test_shortening_or_weakening_a_retention_is_refused(locked: Locked, role: str) -> None:
    client = locked.store.client(role)
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": UNTIL - timedelta(hours=1)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": UNTIL + timedelta(hours=1)}):
        refused(client.put_object_retention, "AccessDenied", Bucket=locked.bucket,
                Key=locked.key, VersionId=locked.version, Retention=retention,
                BypassGovernanceRetention=True)
    kept = locked.store.client("station").get_object_retention(
        Bucket=locked.bucket, Key=locked.key, VersionId=locked.version)["Retention"]
    assert (kept["Mode"], kept["RetainUntilDate"]) == ("COMPLIANCE", UNTIL)


def test_the_capture_extends_a_retention(locked: Locked) -> None:
    """Renewal: what must stay longer than the bucket's retention (the config, the last
    checkpoint) gets a later date; the store only refuses earlier ones."""
    s, key = locked.store, f"{PREFIX}/config.json"
    version = put_locked(s, locked.bucket, key, b"{}")
    later = UNTIL + timedelta(days=30)
    s.client("capture").put_object_retention(
        Bucket=locked.bucket, Key=key, VersionId=version,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later})
    kept = s.client("station").get_object_retention(Bucket=locked.bucket, Key=key,
                                                    VersionId=version)["Retention"]
    assert kept["RetainUntilDate"] == later


def test_an_overwrite_makes_a_new_version_and_the_first_stays(locked: Locked) -> None:
    """If-None-Match is not honoured by radosgw 16.2 on this bucket: the second put is
    accepted as a new version (docs/s3.md), so readers must pick versions by hash."""
    s, key = locked.store, f"{PREFIX}/segments/0000000005.age"
    first = put_locked(s, locked.bucket, key, b"the real segment")
    answer = s.client("capture").put_object(
        Bucket=locked.bucket, Key=key, Body=b"a rewrite", IfNoneMatch="*",
        ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=UNTIL)
    assert answer["VersionId"] != first
    assert read(s, "station", locked.bucket, key) == b"a rewrite"
    assert read(s, "station", locked.bucket, key, first) == b"the real segment"
    listed = s.client("station").list_object_versions(Bucket=locked.bucket, Prefix=key)
    assert sorted(v["VersionId"] for v in listed["Versions"]) == sorted([first, answer["VersionId"]])


def test_a_plain_delete_is_refused_to_roles_and_only_hides_for_the_owner(locked: Locked) -> None:
    s, key = locked.store, f"{PREFIX}/segments/0000000007.age"
    version = put_locked(s, locked.bucket, key, b"segment seven")
    for role in ("capture", "station"):
        refused(s.client(role).delete_object, "AccessDenied", Bucket=locked.bucket, Key=key)
    marker = s.client("owner").delete_object(Bucket=locked.bucket, Key=key)
    assert marker["DeleteMarker"] is True
    for role in ("station", "owner"):
        refused(s.client(role).get_object, "NoSuchKey", Bucket=locked.bucket, Key=key)
    assert read(s, "station", locked.bucket, key, version) == b"segment seven"
    listed = s.client("station").list_object_versions(Bucket=locked.bucket, Prefix=key)
    assert [v["VersionId"] for v in listed["Versions"]] == [version]
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [
        (marker["VersionId"], True)]
    # nor can the owner take the marker away: that is deleting a version
    refused(s.client("owner").delete_object, "AccessDenied", Bucket=locked.bucket, Key=key,
            VersionId=marker["VersionId"])


@pytest.mark.parametrize("role", ROLES)
def test_deleting_the_bucket_is_refused(locked: Locked, role: str) -> None:
    refused(locked.store.client(role).delete_bucket, "AccessDenied", Bucket=locked.bucket)
    assert read(locked.store, "station", locked.bucket, locked.key, locked.version) == locked.body


def test_without_the_policy_the_store_still_keeps_a_non_empty_bucket(object_store: ObjectStore) -> None:
    bucket = new_bucket(object_store)
    owner = object_store.client("owner")
    owner.put_object(Bucket=bucket, Key="k", Body=b"kept")
    refused(owner.delete_bucket, "BucketNotEmpty", Bucket=bucket)
    message = refused(owner.delete_object, "AccessDenied", Bucket=bucket, Key="k",
                      VersionId=owner.list_object_versions(Bucket=bucket)["Versions"][0]["VersionId"])
    assert "object lock" in message


def test_the_owner_cannot_drop_the_default_retention(locked: Locked) -> None:
    for role in ROLES:
        refused(locked.store.client(role).put_object_lock_configuration, "AccessDenied",
                Bucket=locked.bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    rule = locked.store.client("station").get_object_lock_configuration(Bucket=locked.bucket)
    assert rule["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 1}


def test_the_default_retention_locks_a_put_without_headers(object_store: ObjectStore) -> None:
    bucket = new_bucket(object_store, lock_days=1)
    owner = object_store.client("owner")
    version = owner.put_object(Bucket=bucket, Key="plain", Body=b"x")["VersionId"]
    retention = owner.get_object_retention(Bucket=bucket, Key="plain", VersionId=version)["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert timedelta(hours=23) < retention["RetainUntilDate"] - datetime.now(UTC) <= timedelta(days=1)


def test_a_bucket_without_object_lock_says_so(object_store: ObjectStore) -> None:
    """What `vault init` must refuse by name."""
    bucket = new_bucket(object_store, lock=False)
    refused(object_store.client("owner").get_object_lock_configuration,
            "ObjectLockConfigurationNotFoundError", Bucket=bucket)
    locked_only = new_bucket(object_store, lock_days=None)
    rule = object_store.client("owner").get_object_lock_configuration(Bucket=locked_only)
    assert rule["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}


def test_policy_without_prefix_covers_the_whole_bucket() -> None:
    policy = bucket_policy("b", "", writers=["w"], readers=["arn:aws:iam::tenant:user/r"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["WritersPutAndRead"]["Resource"] == ["arn:aws:s3:::b/*"]
    assert by_sid["ReadersList"]["Resource"] == ["arn:aws:s3:::b"]
    assert by_sid["ReadersNeverWrite"]["Principal"] == {"AWS": ["arn:aws:iam::tenant:user/r"]}
    assert by_sid["NobodyUndoesLocks"]["Principal"] == {"AWS": ["*"]}


def _daemons(folder: Path) -> dict[str, int]:
    return {pid.stem: int(pid.read_text()) for pid in (folder / "run").glob("*.pid")}


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_second_store_starts_and_stops_leaving_no_process(tmp_path: Path) -> None:
    store = start_store(tmp_path / "ceph")
    try:
        daemons = _daemons(store.dir)
        assert sorted(daemons) == ["client.rgw", "mgr.x", "mon.a", "osd.0"]
        assert all(_running(pid) for pid in daemons.values())
        assert os.stat(store.dir / "credentials.json").st_mode & 0o777 == 0o600
        assert store.client("owner").list_buckets()["Buckets"] == []
        block = store.dir / "osd" / "0" / "block"
        assert block.stat().st_blocks * 512 < block.stat().st_size / 4  # sparse
    finally:
        stop_store(store.dir)
    assert [name for name, pid in daemons.items() if _running(pid)] == []
    ps = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
    assert [line for line in ps.splitlines() if str(store.dir) in line and not line.startswith("Z")] == []


def test_a_governance_lock_cannot_be_bypassed_under_the_policy(
        locked: Locked, object_store: ObjectStore) -> None:
    """radosgw 16.2 does not evaluate s3:object-lock-mode in policies, so stolen capture
    keys could put a GOVERNANCE object; denying BypassGovernanceRetention to everyone keeps
    it anyway. Without the policy, the owner's bypass deletes it."""
    s, key = locked.store, f"{PREFIX}/segments/0000000009.age"
    version = s.client("capture").put_object(
        Bucket=locked.bucket, Key=key, Body=b"governance", ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=UNTIL)["VersionId"]
    for role in ROLES:
        refused(s.client(role).delete_object, "AccessDenied", Bucket=locked.bucket, Key=key,
                VersionId=version, BypassGovernanceRetention=True)
    assert read(s, "station", locked.bucket, key, version) == b"governance"

    bare = new_bucket(object_store)
    owner = object_store.client("owner")
    version = owner.put_object(Bucket=bare, Key="k", Body=b"g", ObjectLockMode="GOVERNANCE",
                               ObjectLockRetainUntilDate=UNTIL)["VersionId"]
    owner.delete_object(Bucket=bare, Key="k", VersionId=version, BypassGovernanceRetention=True)
    assert "Versions" not in owner.list_object_versions(Bucket=bare)


def test_a_subprocess_signs_with_the_environment_alone(locked: Locked) -> None:
    """`env(role)` is all a `releve` subprocess gets: boto3 finds keys, endpoint and
    region in it, with no argument."""
    script = ("import boto3, sys; s3 = boto3.client('s3'); "
              "print(s3.meta.region_name, s3.meta.endpoint_url); "
              "print(s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])['Body'].read().decode())")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([sys.executable, "-c", script, locked.bucket, locked.key],
                            env={**clean, **locked.store.env("station")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{locked.store.region} {locked.store.endpoint}", locked.body.decode()]
