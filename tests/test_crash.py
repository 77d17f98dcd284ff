"""kill -9 during an import: the vault always verifies, and a re-run completes the import
without ever writing the same data twice.

The random trials start the real `releve import` in a subprocess, SIGKILL it (and
anything it started) after a seeded random delay (50 trials, stratified over 0 to 1.2x
the import's duration, 30 during a first import and 20 during an incremental one that
also writes a checkpoint), then check the vault, re-run the import to completion and
compare the vault's decrypted current state with the input. The deterministic tests kill
the import at the exact moments where the writer's pending/confirm protocol matters.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from releve.vault.keys import create_signer, create_station_identity, load_identities
from releve.vault.state import current_records
from releve.vault.store import LocalVault
from releve.vault.verify import verify

from conftest import RELEVE, run_releve
from helpers import group_members

FIRST_TRIALS = 30
SECOND_TRIALS = 20
N_RESOURCES = 8_000  # ~3.5 MB of ndjson: an import takes ~0.4 s here, half of it start-up


# --- input data --------------------------------------------------------------------------------


def _observation(i: int, rnd: random.Random, version: int = 1) -> dict:
    return {"resourceType": "Observation", "id": f"obs-{i}", "status": "final",
            "meta": {"versionId": str(version)},
            "code": {"coding": [{"system": "http://loinc.org", "code": f"{rnd.randrange(10000, 99999)}-{i % 10}",
                                 "display": "Glycémie " + "x" * rnd.randrange(50, 600)}]},
            "subject": {"reference": f"Patient/pat-{i % 500}"},
            "valueQuantity": {"value": round(rnd.uniform(0.1, 30), 3), "unit": "mmol/L"}}


class Inputs:
    """First import: an ndjson file. Second import: a transaction Bundle that changes,
    adds and deletes resources. `after_first`/`after_second`: the expected current state."""

    def __init__(self, folder: Path):
        rnd = random.Random(42)
        folder.mkdir(parents=True, exist_ok=True)
        patients = [{"resourceType": "Patient", "id": f"pat-{i}", "gender": rnd.choice(["male", "female"]),
                     "name": [{"family": f"Nom{i}", "given": ["Prénom"]}]} for i in range(500)]
        observations = [_observation(i, rnd) for i in range(N_RESOURCES - len(patients))]
        lines = [orjson.dumps(r) for r in patients + observations]
        self.first = folder / "export-1.ndjson"
        self.first.write_bytes(b"".join(line + b"\n" for line in lines))
        self.after_first = {f"{r['resourceType']}/{r['id']}": orjson.loads(line)
                            for r, line in zip(patients + observations, lines, strict=True)}

        changed = [_observation(i, rnd, version=2) for i in rnd.sample(range(len(observations)), 1000)]
        added = [_observation(i, rnd) for i in range(len(observations), len(observations) + 300)]
        removed = sorted(rnd.sample(range(len(observations)), 600))
        removed = [i for i in removed if f"obs-{i}" not in {r["id"] for r in changed}][:200]
        entries = [{"fullUrl": f"http://his.example/fhir/Observation/{r['id']}", "resource": r,
                    "request": {"method": "PUT", "url": f"Observation/{r['id']}"}} for r in changed + added]
        entries += [{"request": {"method": "DELETE", "url": f"Observation/obs-{i}"}} for i in removed]
        rnd.shuffle(entries)
        self.second = folder / "export-2.json"
        self.second.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "transaction",
                                              "entry": entries}))
        self.after_second = dict(self.after_first)
        for r in changed + added:
            self.after_second[f"Observation/{r['id']}"] = r
        for i in removed:
            del self.after_second[f"Observation/obs-{i}"]
        self.first_puts = len(lines)
        self.second_puts, self.second_deletes = len(changed) + len(added), len(removed)
        assert len(removed) == 200


class Setup:
    def __init__(self, root: Path):
        self.root = root
        self.keys = root / "keys"
        self.identity, self.recipient = create_station_identity(self.keys, "station")
        self.signing_key, self.public_key, _ = create_signer(self.keys, "capture")
        self.identities = load_identities(self.identity)
        self.inputs = Inputs(root / "input")

    def new_vault(self, folder: Path, checkpoint_interval: int = 50) -> tuple[Path, Path]:
        vault = folder / "vault"
        LocalVault.init(vault, [self.recipient], [str(self.public_key)], checkpoint_interval)
        return vault, folder / "state"

    def import_args(self, vault: Path, state: Path, source: Path) -> list[str]:
        return ["import", "--vault", str(vault), "--signing-key", str(self.signing_key),
                "--state", str(state), str(source)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    return Setup(tmp_path_factory.mktemp("crash"))


@pytest.fixture(scope="module")
def base(setup) -> tuple[Path, Path]:
    """A vault (checkpoint every 2 segments) and its writer state after the first import:
    the second import on a copy writes a delta, then a checkpoint."""
    vault, state = setup.new_vault(setup.root / "base", checkpoint_interval=2)
    result = run_releve(*setup.import_args(vault, state, setup.inputs.first))
    assert "segment 1 (delta)" in result.stdout.decode()
    return vault, state


def copy_base(base: tuple[Path, Path], folder: Path) -> tuple[Path, Path]:
    vault, state = base
    folder.mkdir(parents=True)
    shutil.copytree(vault, folder / "vault")
    shutil.copytree(state, folder / "state")
    return folder / "vault", folder / "state"


# --- checks ------------------------------------------------------------------------------------------


def cli_verify(vault: Path, *extra) -> str:
    result = run_releve("vault", "verify", vault, *extra, check=False)
    text = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, f"vault does not verify:\n{text}"
    assert "OK vault" in text and "BROKEN" not in text, text
    return text


def check_complete(setup: Setup, vault: Path, expected: dict, delta_puts: int, delta_deletes: int,
                   max_full: int, use_cli: bool) -> None:
    """The vault verifies with the identity, holds exactly `expected`, and no data twice."""
    opened = LocalVault(vault)
    if use_cli:
        cli_verify(vault, "--identity", setup.identity)
        out = run_releve("vault", "cat", vault, "--identity", setup.identity).stdout
        lines = out.splitlines()
    else:
        verify(opened, setup.identities)
        lines = [line.rstrip(b"\n") for _, line in current_records(opened, setup.identities)]
    state = {}
    for line in lines:
        resource = orjson.loads(line)
        key = f"{resource['resourceType']}/{resource['id']}"
        assert key not in state, f"{key} twice in the current state"
        state[key] = resource
    assert state.keys() == expected.keys()
    assert state == expected
    # one delta per import's data: the puts and deletes of every delta add up exactly
    kinds = Counter()
    puts = deletes = 0
    for seq in opened.sequence_numbers():
        descriptor = opened.info(seq).descriptor
        kinds[descriptor.kind] += 1
        if descriptor.kind == "delta":
            puts += descriptor.puts
            deletes += descriptor.deletes
    assert (puts, deletes) == (delta_puts, delta_deletes), "data written twice (or lost)"
    assert kinds["full"] <= max_full


def timed_import(args: list[str]) -> float:
    start = time.monotonic()
    result = subprocess.run([*RELEVE, *args], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    return time.monotonic() - start


def kill_at(args: list[str], delay: float) -> tuple[bool, subprocess.CompletedProcess | None]:
    """Start `releve import`, SIGKILL its whole process group after `delay` seconds.
    Returns (killed, None) or (False, finished process) if it ended first."""
    process = subprocess.Popen([*RELEVE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(min(0.005, max(0.0, deadline - time.monotonic())))
    killed = False
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        killed = True
    stdout, stderr = process.communicate()
    if killed and process.returncode == -signal.SIGKILL:
        return True, None
    return False, subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_trials(setup: Setup, tmp_path: Path, trials: int, seed: int, make_vault, source: Path,
               expected: dict, delta_puts: int, delta_deletes: int, max_full: int) -> tuple[int, Counter]:
    """`trials` kills at delays stratified over [0, 1.2 x the import's duration], in a
    shuffled order. The duration is re-estimated as the trials go (from the re-runs that
    do the whole import again), because this machine's load changes."""
    durations = []
    for attempt in range(2):
        vault, state = make_vault(tmp_path / f"timing-{attempt}")
        durations.append(timed_import(setup.import_args(vault, state, source)))
    rnd = random.Random(seed)
    slots = list(range(trials))
    rnd.shuffle(slots)
    killed_count = 0
    segments_after_kill: Counter[int] = Counter()
    for trial, slot in enumerate(slots):
        folder = tmp_path / f"trial-{trial}"
        vault, state = make_vault(folder)
        before = len(LocalVault(vault).sequence_numbers())
        args = setup.import_args(vault, state, source)
        duration = statistics.median(durations[-5:])
        delay = 1.2 * duration * (slot + rnd.random()) / trials
        where = f"trial {trial} (seed {seed}, kill after {delay:.3f} s of ~{duration:.3f} s)"
        killed, finished = kill_at(args, delay)
        if not killed:
            assert finished.returncode == 0, f"{where}: {finished.stderr.decode()}"
        killed_count += killed
        after = len(LocalVault(vault).sequence_numbers())
        segments_after_kill[after] += 1
        try:
            cli_verify(vault)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        start = time.monotonic()
        rerun = run_releve(*args, check=False)
        if after == before:  # the re-run did the whole import: a fresh measure of its duration
            durations.append(time.monotonic() - start)
        assert rerun.returncode == 0, f"{where}: re-run failed:\n{rerun.stderr.decode()}"
        again = run_releve(*args, check=False)
        assert again.returncode == 0, f"{where}: {again.stderr.decode()}"
        assert "nothing changed" in again.stdout.decode(), \
            f"{where}: an identical import after completion wrote: {again.stdout.decode()}"
        try:
            check_complete(setup, vault, expected, delta_puts, delta_deletes, max_full,
                           use_cli=trial % 6 == 5)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        shutil.rmtree(folder)
    return killed_count, segments_after_kill


# --- random kills --------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_during_first_import(setup, tmp_path):
    inputs = setup.inputs
    killed, after_kill = run_trials(
        setup, tmp_path, FIRST_TRIALS, seed=1, make_vault=setup.new_vault, source=inputs.first,
        expected=inputs.after_first, delta_puts=inputs.first_puts, delta_deletes=0, max_full=0)
    # the kills really were spread over the import: many interrupted it, and the vault was
    # found both before and after its segment was appended
    assert killed >= FIRST_TRIALS * 0.4, f"only {killed} of {FIRST_TRIALS} imports were interrupted"
    assert set(after_kill) == {0, 1}, after_kill


@pytest.mark.slow
def test_kill_during_incremental_import(setup, base, tmp_path):
    inputs = setup.inputs
    killed, after_kill = run_trials(
        setup, tmp_path, SECOND_TRIALS, seed=2, make_vault=lambda folder: copy_base(base, folder),
        source=inputs.second, expected=inputs.after_second,
        delta_puts=inputs.first_puts + inputs.second_puts, delta_deletes=inputs.second_deletes,
        max_full=1)
    assert killed >= SECOND_TRIALS * 0.4, f"only {killed} of {SECOND_TRIALS} imports were interrupted"
    assert 1 in after_kill and len(after_kill) >= 2, after_kill
    assert set(after_kill) <= {1, 2, 3}, after_kill


# --- kills at the exact moments that matter ----------------------------------------------------------


CRASH_SCRIPT = r"""
import os, signal, sys
from releve.vault import store
from releve.capture import state as state_module

point, nth = sys.argv[1], int(sys.argv[2])
calls = {"append": 0, "link": 0, "prepare": 0}

def die():
    os.kill(os.getpid(), signal.SIGKILL)

original_commit = store.LocalVault.commit  # where every append enters the log
def commit(self, seq, staged, signature):
    calls["append"] += 1
    if point == "before-append" and calls["append"] == nth:
        die()
    result = original_commit(self, seq, staged, signature)
    if point == "after-append" and calls["append"] == nth:
        die()
    return result
store.LocalVault.commit = commit

original_link = store._link_new
def link_new(source, target):
    if target.name.endswith(".age"):
        calls["link"] += 1
        if point == "before-segment-link" and calls["link"] == nth:
            die()
    return original_link(source, target)
store._link_new = link_new

original_prepare = state_module.WriterState.prepare
def prepare(self, seq, sha256, kind):
    calls["prepare"] += 1
    if point == "before-prepare" and calls["prepare"] == nth:
        die()
    return original_prepare(self, seq, sha256, kind)
state_module.WriterState.prepare = prepare

original_set = state_module.WriterState.set
def set_(self, name, value):
    if point == "before-config-sha256" and name == "config_sha256":
        die()
    return original_set(self, name, value)
state_module.WriterState.set = set_

from releve.cli import app
sys.argv = ["releve", *sys.argv[3:]]
app()
"""

# (point, which call, segments right after the kill, stray signature?, re-run writes, segments at the end)
CRASH_POINTS = {
    "delta-before-prepare": ("before-prepare", 1, 1, False, True, 3),
    "delta-before-append": ("before-append", 1, 1, False, True, 3),
    "delta-signature-linked-not-segment": ("before-segment-link", 1, 1, True, True, 3),
    "delta-after-append-before-confirm": ("after-append", 1, 2, False, False, 2),
    "checkpoint-before-prepare": ("before-prepare", 2, 2, False, False, 2),
    "checkpoint-before-append": ("before-append", 2, 2, False, False, 2),
    "checkpoint-signature-linked-not-segment": ("before-segment-link", 2, 2, True, False, 2),
    "checkpoint-after-append-before-confirm": ("after-append", 2, 3, False, False, 3),
}


@pytest.mark.parametrize("case", list(CRASH_POINTS))
def test_kill_at_a_critical_moment(setup, base, tmp_path, case):
    point, nth, after_kill, stray, rerun_writes, at_end = CRASH_POINTS[case]
    inputs = setup.inputs
    vault, state = copy_base(base, tmp_path / "t")
    args = setup.import_args(vault, state, inputs.second)
    crashed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, point, str(nth), *args],
                             capture_output=True, env={**os.environ})
    assert crashed.returncode == -signal.SIGKILL, \
        f"the crash point was not reached:\n{crashed.stdout.decode()}{crashed.stderr.decode()}"
    assert LocalVault(vault).sequence_numbers() == list(range(1, after_kill + 1))
    report = cli_verify(vault)
    stray_name = f"{after_kill + 1:010d}.age.minisig"
    assert (stray_name in report) == stray, report
    assert (vault / "segments" / stray_name).exists() == stray

    rerun = run_releve(*args)
    assert ("nothing changed" not in rerun.stdout.decode()) == rerun_writes, rerun.stdout.decode()
    assert LocalVault(vault).sequence_numbers() == list(range(1, at_end + 1))
    report = cli_verify(vault, "--identity", setup.identity)
    if stray and at_end == after_kill:
        assert stray_name in report  # no segment took its place: still reported, harmless
    else:
        assert "warning" not in report, report  # the stray signature was replaced by the real one
    again = run_releve(*args)
    assert "nothing changed" in again.stdout.decode()
    check_complete(setup, vault, inputs.after_second, inputs.first_puts + inputs.second_puts,
                   inputs.second_deletes, max_full=1, use_cli=False)


def test_kill_while_the_writer_state_is_created(setup, tmp_path):
    vault, state = setup.new_vault(tmp_path)
    args = setup.import_args(vault, state, setup.inputs.first)
    crashed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, "before-config-sha256", "1", *args],
                             capture_output=True)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()
    cli_verify(vault)
    rerun = run_releve(*args, check=False)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert "nothing changed" in run_releve(*args).stdout.decode()
    check_complete(setup, vault, setup.inputs.after_first, setup.inputs.first_puts, 0, max_full=0,
                   use_cli=False)


def test_interrupted_append_leftover_is_cleaned_up(setup, base, tmp_path):
    """A segment staged by an append that died is not part of the log; once stale (a day
    old: younger ones may be uploads in progress), the next append removes it."""
    vault, state = copy_base(base, tmp_path / "t")
    args = setup.import_args(vault, state, setup.inputs.second)
    crashed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, "before-segment-link", "1", *args],
                             capture_output=True)
    assert crashed.returncode == -signal.SIGKILL
    assert LocalVault(vault).sequence_numbers() == [1]
    leftovers = list((vault / "tmp").iterdir())
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(leftovers[0], (two_days_ago, two_days_ago))
    run_releve(*args)  # the re-run completes the import
    assert LocalVault(vault).sequence_numbers() == [1, 2, 3]
    cli_verify(vault)
    assert list((vault / "tmp").iterdir()) == []


def test_kill_during_a_parallel_import(setup, tmp_path):
    """A > 32 MB import runs in worker processes; killing the import and its workers
    mid-scan leaves a sound vault, and the re-run completes it."""
    big = tmp_path / "big.ndjson"
    data = setup.inputs.first.read_bytes()
    with open(big, "wb") as out:  # the same resources, padded past the parallel threshold
        for line in data.splitlines():
            resource = orjson.loads(line)
            resource["text"] = {"status": "generated", "div": "<div>" + "p" * 4600 + "</div>"}
            out.write(orjson.dumps(resource) + b"\n")
    assert big.stat().st_size > 33 * 1024 * 1024
    vault, state = setup.new_vault(tmp_path / "v")
    args = setup.import_args(vault, state, big)
    process = subprocess.Popen([*RELEVE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while len(group_members(process.pid)) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    workers = len(group_members(process.pid)) - 1
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL and workers >= 2, "the import did not go parallel"
    time.sleep(0.2)
    assert group_members(process.pid) == []
    cli_verify(vault)
    assert LocalVault(vault).sequence_numbers() == []
    run_releve(*args)
    assert "nothing changed" in run_releve(*args).stdout.decode()
    assert LocalVault(vault).sequence_numbers() == [1]
    current = dict(current_records(LocalVault(vault), setup.identities))
    assert len(current) == N_RESOURCES
    assert current["Patient/pat-7"].rstrip(b"\n") in big.read_bytes()
