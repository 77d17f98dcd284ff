"""The real S3 object store of the tests: Ceph's radosgw on a single-node cluster in a
temporary folder (scripts/object-store), started once per test session.

Why a real Ceph and not an S3 look-alike: what the vault relies on is the store's own
refusals (Object Lock, bucket policies, versions), and those are exactly what a fake would
have to guess. The three users stand for the hospital's three roles: the IT team that
owns the buckets, the capture that writes, the stations that read.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import free_ports

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "object-store"


@dataclass
class ObjectStore:
    """A running store: its folder, endpoint, region, and the users' keys by role
    ("owner", "capture", "station") as DIR/credentials.json names them."""

    dir: Path
    endpoint: str
    region: str
    users: dict[str, dict[str, str]]

    @classmethod
    def load(cls, folder: Path) -> ObjectStore:
        found = json.loads((folder / "credentials.json").read_text())
        return cls(folder, found["endpoint"], found["region"], found["users"])

    def client(self, user: str = "owner") -> Any:
        """A boto3 S3 client signing as `user`: path-style addresses (no DNS names for
        buckets on loopback), signature v4, and no retries so that a refusal is seen once."""
        import boto3
        from botocore.config import Config

        keys = self.users[user]
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"],
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 1, "mode": "standard"}))

    def env(self, user: str) -> dict[str, str]:
        """The environment a subprocess (the `releve` command line) needs to sign as
        `user`: the S3 ecosystem's usual variables, so no secret is on a command line.
        AWS_DEFAULT_REGION too: boto3 reads that one, not AWS_REGION."""
        keys = self.users[user]
        return {"AWS_ACCESS_KEY_ID": keys["access_key"],
                "AWS_SECRET_ACCESS_KEY": keys["secret_key"],
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region}


def start_store(folder: Path) -> ObjectStore:
    """Start a store in `folder` (new or empty) on free loopback ports."""
    port = free_ports(2)
    result = subprocess.run([str(SCRIPT), "start", str(folder), str(port), str(port + 1)],
                            capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        stop_store(folder)
        raise AssertionError(f"scripts/object-store start failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return ObjectStore.load(folder)


def stop_store(folder: Path) -> None:
    """Stop every daemon started in `folder` and wait for them."""
    if (folder / "run").is_dir():
        subprocess.run([str(SCRIPT), "stop", str(folder)], check=True, timeout=120)


@pytest.fixture(scope="session")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """One store for the whole session (its start costs seconds), stopped at the end.
    Tests share it: each makes its own buckets with `new_bucket`."""
    folder = tmp_path_factory.mktemp("object-store")
    store = start_store(folder / "ceph")
    try:
        yield store
    finally:
        stop_store(store.dir)


def new_bucket(store: ObjectStore, lock_days: int | None = 1, lock: bool = True) -> str:
    """A fresh bucket made by the owner: with Object Lock enabled (and so versioning) and,
    with `lock_days`, a default COMPLIANCE retention of that many days (None: no default
    rule, as for `vault init` to set); without Object Lock at all when `lock` is False."""
    name = f"releve-{secrets.token_hex(6)}"
    owner = store.client("owner")
    if not lock:
        owner.create_bucket(Bucket=name)
        return name
    owner.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    if lock_days is not None:
        owner.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": lock_days}}})
    return name


def apply_policy(store: ObjectStore, bucket: str, prefix: str) -> dict[str, Any]:
    """The vault's bucket policy (releve.vault.s3_policy) for the capture (writer) and the
    stations (readers), applied by the owner; the policy applied. Apply it after `vault
    init`: it forbids everyone, the owner included, to change the bucket's default
    retention, which init sets."""
    from releve.vault.s3_policy import bucket_policy

    policy = bucket_policy(bucket, prefix, writers=[store.users["capture"]["user"]],
                           readers=[store.users["station"]["user"]])
    store.client("owner").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return policy
