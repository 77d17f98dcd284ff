"""`releve demo --s3`: the whole demo with its vault in a bucket with Object Lock on a real
Ceph radosgw that the demo itself starts (scripts/object-store) and stops.

What is checked is what the store and the processes say: the station's patients came
through the bucket (no vault folder, no `vault serve`), the bucket's segments are locked
in COMPLIANCE mode as the station's own keys read them, each component holds only its
role's keys and only in its environment, no secret is in a log, the attack is survived,
a restart resumes the same cluster, and no Ceph daemon outlives the demo.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from releve.station.index.connection import reader
from releve.station.sync import Status as SyncStatus
from s3_store import ObjectStore

from conftest import RELEVE, run_releve
from helpers import alive, descendants, free_ports, wait_until

WARDS = ("urgences", "cardiologie")
SMALL = ["--beds", "20", "--patients", "600", "--capture-interval", "3", "--sync-interval", "1"]
AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION",
       "AWS_DEFAULT_REGION")


def start_demo(folder: Path, ports: int, out: Path) -> subprocess.Popen:
    """The demo on ports P, P+1 (the stations' pages), P+2 (radosgw), P+3 (Ceph's monitor),
    from a terminal whose own S3 settings (a profile that does not exist here, a session
    token) would break any client that mixed them with the store's keys."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(AWS_PROFILE="hopital-ailleurs", AWS_SESSION_TOKEN="not-this-store")
    with open(out, "ab") as handle:
        return subprocess.Popen([*RELEVE, "demo", "--s3", "--dir", str(folder), "--port", str(ports),
                                 "--s3-port", str(ports + 2), *SMALL], env=env,
                                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_demo(demo: subprocess.Popen) -> set[int]:
    below = descendants(demo.pid)
    demo.send_signal(signal.SIGINT)
    assert demo.wait(timeout=90) == 0
    return below


def ceph_processes(folder: Path) -> list[str]:
    """Command lines of the running processes that belong to this demo's object store."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not alive(int(entry.name)):
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder / "object-store") in line:
            found.append(line)
    return found


def patient_ids(station: Path) -> list[str]:
    conn = reader(station)
    if conn is None:
        return []
    try:
        return [row[0] for row in conn.execute("SELECT id FROM patients")]
    finally:
        conn.close()


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw if b"=" in item)


@pytest.mark.slow
def test_demo_on_s3_keeps_the_vault_in_a_locked_bucket(tmp_path: Path) -> None:
    folder, ports = tmp_path / "demo", free_ports(4)
    stations = {ward: folder / "stations" / ward for ward in WARDS}
    demo = start_demo(folder, ports, tmp_path / "demo.out")
    try:
        # both establishments (the FHIR HIS's pat-..., the HL7 feed's v2-pat-...) reach
        # both stations, through the bucket: there is no vault folder and no vault server
        for ward, station in stations.items():
            wait_until(f"{ward} holding both establishments' patients", lambda s=station: (
                {i.startswith("v2-") for i in patient_ids(s)} == {True, False}), 120)
        assert not (folder / "vault").exists()
        run = json.loads((folder / "run.json").read_text())
        assert "vault" not in run["processes"] and run["vault_port"] == 0
        settings = json.loads((folder / "demo.json").read_text())
        bucket, prefix = settings["s3_bucket"], settings["s3_prefix"]
        store = ObjectStore.load(folder / "object-store")
        assert store.endpoint == f"http://127.0.0.1:{ports + 2}"
        banner = (tmp_path / "demo.out").read_text()
        assert f"s3://{bucket}/{prefix} at {store.endpoint}" in banner
        assert "/v1" not in banner, "no vault server's URL in this mode"

        # the station's own keys read the bucket: every segment and signature is locked
        # in COMPLIANCE mode for the vault's one day, counted from when it was put
        station = store.client("station")
        versions = station.list_object_versions(Bucket=bucket, Prefix=f"{prefix}/segments/")
        segments = [v for v in versions["Versions"] if v["Key"].endswith(".age")]
        assert len(segments) >= 2, "the FHIR capture's and the HL7 listener's segments"
        assert not versions.get("DeleteMarkers")
        for version in versions["Versions"]:
            head = station.head_object(Bucket=bucket, Key=version["Key"],
                                       VersionId=version["VersionId"])
            assert head["ObjectLockMode"] == "COMPLIANCE", version["Key"]
            locked = head["ObjectLockRetainUntilDate"] - head["LastModified"]
            assert dt.timedelta(hours=23) < locked <= dt.timedelta(days=1, minutes=5)
        held = max(SyncStatus.load(s).vault_seq for s in stations.values())
        assert held >= 2 and f"{prefix}/segments/{held:010d}.age" in {v["Key"] for v in segments}

        # each component has its role's keys, in its environment only, none of the
        # terminal's; no command line holds a secret
        secrets = {role: keys["secret_key"] for role, keys in store.users.items()}
        for name, pid in run["processes"].items():
            env = environ(pid)
            role = ("capture" if name.startswith("capture") else
                    "station" if name.startswith("sync-") else None)
            assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN"} & set(env), name
            if role is None:
                assert not set(AWS) & set(env), name
                continue
            assert env["AWS_ACCESS_KEY_ID"] == store.users[role]["access_key"], name
            assert env["AWS_SECRET_ACCESS_KEY"] == secrets[role], name
            assert env["AWS_ENDPOINT_URL"] == store.endpoint and env["AWS_REGION"] == store.region
        for pid in descendants(demo.pid):
            line = Path(f"/proc/{pid}/cmdline").read_bytes() if alive(pid) else b""
            assert not [s for s in secrets.values() if s.encode() in line], pid

        status = run_releve("demo", "status", "--dir", folder, env={
            "COLUMNS": "250", "AWS_PROFILE": "hopital-ailleurs"}).stdout.decode()
        vault_line = next(line for line in status.splitlines() if line.startswith("vault (S3)"))
        assert " ok " in vault_line and bucket in vault_line and "segments" in vault_line

        # the ransomware: the capture's suspect segment goes to the bucket too, the
        # stations refuse it and keep the hospital
        before = {ward: len(patient_ids(s)) for ward, s in stations.items()}
        attack = run_releve("demo", "attack", "--dir", folder)
        assert b"encrypted in place" in attack.stdout
        for ward, station in stations.items():
            wait_until(f"{ward} refusing the suspect segment", lambda s=station: SyncStatus.load(
                s).skipped, 60)
            assert len(patient_ids(station)) >= before[ward] > 0

        # the operator checks the bucket's chain with the stations' keys, which
        # `releve demo s3-env` exports; the way back after the restore says so
        exported = run_releve("demo", "s3-env", "station", "--dir", folder).stdout.decode()
        keys = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1)
                    for line in exported.splitlines())
        assert keys == store.env("station")
        verified = run_releve("vault", "verify", f"s3://{bucket}/{prefix}", env=keys)
        assert b"OK" in verified.stdout and b"suspect" in verified.stdout, verified.stdout
        restored = run_releve("demo", "restore", "--dir", folder).stdout.decode()
        assert "releve demo s3-env station" in restored, restored
        assert f"releve vault verify s3://{bucket}/{prefix}" in restored
        assert f"releve verify --vault s3://{bucket}/{prefix} --identity" in restored

        logs = "".join(p.read_text(errors="replace") for p in (folder / "logs").glob("*.log"))
        logs += (tmp_path / "demo.out").read_text() + (folder / "demo.json").read_text()
        logs += (folder / "run.json").read_text()
        assert "capture failed" in logs and "releve vault policy" in logs
        assert not [role for role, secret in secrets.items() if secret in logs]
    finally:
        if demo.poll() is None:
            below = stop_demo(demo)
            assert not [pid for pid in below if alive(pid)], "a component outlived the demo"
    assert "object store stopped" in (tmp_path / "demo.out").read_text()
    assert ceph_processes(folder) == []

    # a restart resumes the same cluster, bucket and stations on the same store ports
    demo = start_demo(folder, ports, tmp_path / "resumed.out")
    try:
        wait_until("the resumed demo's banner",
                   lambda: "Ctrl-C stops" in (tmp_path / "resumed.out").read_text(), 90)
        assert ObjectStore.load(folder / "object-store").users == store.users
        status = run_releve("demo", "status", "--dir", folder, check=False,
                            env={"COLUMNS": "250"}).stdout.decode()
        assert any(line.startswith("vault (S3)") and " ok " in line for line in status.splitlines())
        assert ceph_processes(folder)
    finally:
        stop_demo(demo)
    assert ceph_processes(folder) == []


def test_demo_on_s3_without_ceph_names_bootstrap(tmp_path: Path) -> None:
    """Without Ceph's programs on PATH the demo says what installs them, and makes nothing."""
    done = run_releve("demo", "--s3", "--dir", tmp_path / "demo", check=False,
                      env={"PATH": str(tmp_path)})
    assert done.returncode != 0
    said = done.stderr.decode() + done.stdout.decode()
    assert "scripts/bootstrap" in said and "ceph-mon" in said, said
    assert not (tmp_path / "demo").exists()


def test_demo_on_s3_is_chosen_at_the_first_start(tmp_path: Path) -> None:
    """A demo keeps the vault it was made with: --s3 on a folder-vault demo says so."""
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "demo.json").write_text(json.dumps({"beds": 20, "his_port": free_ports(1),
                                                  "hl7_now": "2026-01-14T06:00:00+01:00"}))
    done = run_releve("demo", "--s3", "--dir", folder, check=False)
    assert done.returncode != 0 and "start it without --s3" in done.stderr.decode()
    assert not (folder / "object-store").exists()
