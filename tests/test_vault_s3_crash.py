"""kill -9 of the writer while it appends to a vault on S3 (a real radosgw): before the
signature's put, between the signature and the segment, in the middle of the segment's
upload (bytes on the wire, the request never finished), and after the put before the
writer's state is confirmed. No half segment is ever listed or adopted, the vault
verifies, and the next run continues the chain without writing anything twice. Then
seeded random kills during whole imports."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from releve.vault.keys import create_signer, create_station_identity
from s3_store import ObjectStore, apply_policy, new_bucket
from test_crash import Inputs

from conftest import RELEVE, run_releve

CRASH_SCRIPT = r"""
import http.client, os, signal, sys
from releve.vault import s3
from releve.capture import state as state_module

point = sys.argv[1]
armed = {"segment": False, "sent": 0, "limit": 0}

def die():
    os.kill(os.getpid(), signal.SIGKILL)

original_put = s3.S3Vault._put
def put(self, name, body, days, metadata=None):
    segment = name.endswith(".age")
    if point == "before-signature-put" and name.endswith(".minisig"):
        die()
    if point == "before-segment-put" and segment:
        die()
    armed["segment"] = segment and point == "during-segment-put"
    if armed["segment"]:  # half the segment's bytes on the wire, then the kill
        armed["limit"] = os.fstat(body.fileno()).st_size // 2
    result = original_put(self, name, body, days, metadata)
    if point == "after-segment-put" and segment:
        die()
    return result
s3.S3Vault._put = put

original_send = http.client.HTTPConnection.send
def send(self, data):
    if armed["segment"]:
        armed["sent"] += len(data)
        if armed["sent"] > armed["limit"]:
            die()
    return original_send(self, data)
http.client.HTTPConnection.send = send

from releve.cli import app
sys.argv = ["releve", *sys.argv[2:]]
app()
"""

# point: (segments right after the kill, the re-run writes a segment)
POINTS = {
    "before-signature-put": (1, True),
    "before-segment-put": (1, True),
    "during-segment-put": (1, True),
    "after-segment-put": (2, False),
}


class Setup:
    def __init__(self, root: Path, store: ObjectStore) -> None:
        self.root, self.store = root, store
        keys = root / "keys"
        self.identity, self.recipient = create_station_identity(keys, "station")
        self.signing_key, self.public_key, _ = create_signer(keys, "capture")
        self.inputs = Inputs(root / "input")

    def new_vault(self) -> str:
        bucket = new_bucket(self.store, lock_days=None)
        url = f"s3://{bucket}/vault"
        run_releve("vault", "init", url, "--recipient", self.recipient, "--signer",
                   self.public_key, "--retention-days", "1", env=self.store.env("owner"))
        apply_policy(self.store, bucket, "vault")
        return url

    def import_args(self, url: str, state: Path, source: Path) -> list[str]:
        return ["import", "--vault", url, "--signing-key", str(self.signing_key),
                "--state", str(state), str(source)]

    def releve(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
        return run_releve(*args, env=self.store.env("capture"), check=check)

    def segments(self, url: str) -> list[str]:
        bucket = url[len("s3://"):].split("/")[0]
        listed = self.store.client("station").list_object_versions(Bucket=bucket)
        return sorted(v["Key"].rsplit("/", 1)[1] for v in listed.get("Versions", [])
                      if v["Key"].endswith(".age"))

    def verified(self, url: str) -> str:
        result = run_releve("vault", "verify", url, "--identity", self.identity,
                            env=self.store.env("station"), check=False)
        text = result.stdout.decode() + result.stderr.decode()
        assert result.returncode == 0 and "chain sound" in text, text
        return text

    def current(self, url: str) -> dict:
        out = run_releve("vault", "cat", url, "--identity", self.identity,
                         env=self.store.env("station")).stdout
        state: dict = {}
        for line in out.splitlines():
            resource = orjson.loads(line)
            key = f"{resource['resourceType']}/{resource['id']}"
            assert key not in state, f"{key} twice"
            state[key] = resource
        return state


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, object_store: ObjectStore) -> Setup:
    return Setup(tmp_path_factory.mktemp("s3crash"), object_store)


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_at_each_moment_of_an_append(setup: Setup, tmp_path: Path, point: str) -> None:
    after_kill, rerun_writes = POINTS[point]
    url, state = setup.new_vault(), tmp_path / "state"
    setup.releve(*setup.import_args(url, state, setup.inputs.first))
    crashed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, point,
                              *setup.import_args(url, state, setup.inputs.second)],
                             capture_output=True, env={**os.environ, **setup.store.env("capture")})
    assert crashed.returncode == -signal.SIGKILL, \
        f"the crash point was not reached:\n{crashed.stdout.decode()}{crashed.stderr.decode()}"
    assert setup.segments(url) == [f"{n:010d}.age" for n in range(1, after_kill + 1)]
    report = setup.verified(url)
    cut_short = point in ("before-segment-put", "during-segment-put")
    assert ("signature of an append cut short" in report) == cut_short, report

    rerun = setup.releve(*setup.import_args(url, state, setup.inputs.second))
    assert ("nothing changed" not in rerun.stdout.decode()) == rerun_writes, rerun.stdout.decode()
    assert setup.segments(url) == ["0000000001.age", "0000000002.age"]
    assert "INCIDENT" not in setup.verified(url)
    assert "nothing changed" in setup.releve(*setup.import_args(url, state,
                                                                 setup.inputs.second)).stdout.decode()
    assert setup.current(url) == setup.inputs.after_second


@pytest.mark.slow
def test_kill_at_random_moments_of_imports(setup: Setup, tmp_path: Path) -> None:
    """Ten kills spread over an import's duration: each time the vault verifies and the
    re-run completes it."""
    chance = random.Random(2020)
    url, state = setup.new_vault(), tmp_path / "state"
    start = time.monotonic()
    setup.releve(*setup.import_args(url, state, setup.inputs.first))
    took = time.monotonic() - start
    env = {**os.environ, **setup.store.env("capture")}
    for trial in range(10):
        source = setup.inputs.second if trial % 2 else setup.inputs.first
        process = subprocess.Popen([*RELEVE, *setup.import_args(url, state, source)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=env, start_new_session=True)
        time.sleep(chance.uniform(0.1, 1.2) * took)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert "INCIDENT" not in setup.verified(url)
        setup.releve(*setup.import_args(url, state, source))
    setup.releve(*setup.import_args(url, state, setup.inputs.second))
    assert setup.current(url) == setup.inputs.after_second
