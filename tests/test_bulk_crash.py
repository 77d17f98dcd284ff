"""kill -9 during a bulk cycle's download or segment write (tests/test_bulk_faults.py
kills one during status polling): the next cycle completes, every resource the server
holds is in the vault once, none is missing, and the chain verifies.

The demo HIS runs in this process with a hospital large enough, and export files small
enough, that each phase lasts long enough to be caught: many files to download one by
one, then a segment of 30,000 resources to scan, compress and encrypt."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from releve.vault.store import LocalVault
from test_bulk_faults import His, status_file
from test_capture import capture, server_state, vault_state

from conftest import RELEVE, run_releve
from helpers import serving, wait_until

PATIENTS, OBSERVATIONS_EACH = 3000, 9
RESOURCES = PATIENTS * (1 + OBSERVATIONS_EACH)
FILE_LINES = 500  # per export file: 60 downloads


def big_his_data(folder: Path) -> Path:
    lines = []
    for i in range(PATIENTS):
        lines.append({"resourceType": "Patient", "id": f"p{i}", "gender": "male",
                      "name": [{"family": f"Crashtest{i}", "given": ["Jules"]}]})
        lines += [{"resourceType": "Observation", "id": f"o{i}-{j}", "status": "final",
                   "code": {"text": "Fréquence cardiaque"}, "subject": {"reference": f"Patient/p{i}"},
                   "valueQuantity": {"value": 60 + j, "unit": "/min"},
                   "note": [{"text": f"relevé {j} du patient {i}, au repos, sans particularité"}]}
                  for j in range(OBSERVATIONS_EACH)]
    path = folder / "big-his.ndjson"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


@pytest.fixture
def big_his(tmp_path: Path) -> Iterator[His]:
    from rich.console import Console

    from releve.demo.his.load import populate
    from releve.demo.his.server import create_app
    from releve.demo.his.store import Store

    store = Store(tmp_path / "his.db")
    populate(store, 1, 10, None, [big_his_data(tmp_path)], Console(quiet=True))
    app = create_app(store, export_dir=tmp_path / "exports")
    app.state.exports.file_lines = FILE_LINES
    try:
        with serving(app, log_level="error") as url:
            yield His(url, app.state.exports)
    finally:
        store.close()


def downloading(state: Path) -> bool:
    """A few of the export's files are in, more to come."""
    return len(list((state / "bulk").glob("0*.ndjson"))) >= 3


def writing(state: Path) -> bool:
    """The writer is scanning the files into the segment's records."""
    return (state / "tmp" / "records.zst").exists()


def killed_during(phase: Callable[[Path], bool], vault: Path, keys, state: Path,
                  base: str) -> None:
    capturing = subprocess.Popen([*RELEVE, "capture", "--vault", str(vault), "--fhir", base,
                                  "--signing-key", str(keys.signing_key), "--state", str(state),
                                  "--once", "--mode", "bulk"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(phase.__name__, lambda: capturing.poll() is not None or phase(state),
                   step=0.002)
    finally:
        os.kill(capturing.pid, signal.SIGKILL)
        capturing.wait()
    assert capturing.returncode == -signal.SIGKILL, "the capture ended before it was killed"


@pytest.mark.slow
@pytest.mark.parametrize("phase", [downloading, writing], ids=["download", "write"])
def test_a_capture_killed_mid_cycle_completes_the_next_one(big_his, tmp_path, keys, vault_dir,
                                                          phase):
    state = tmp_path / "state"
    killed_during(phase, vault_dir, keys, state, big_his.base)
    assert LocalVault(vault_dir).sequence_numbers() == []
    assert status_file(state)["bulk_job"]["status_url"]  # kept: the job is polled again

    done = capture(vault_dir, keys, state, big_his.base, "--mode", "bulk")
    assert f"segment 1 (full): {RESOURCES} put" in done.stdout.decode()
    assert big_his.exports.started == 1  # the same job's files, downloaded again
    assert LocalVault(vault_dir).sequence_numbers() == [1]
    assert LocalVault(vault_dir).info(1).descriptor.puts == RESOURCES  # each resource once
    assert vault_state(vault_dir, keys) == server_state(big_his.base)  # none missing
    saved = status_file(state)
    assert saved["last_cycle"]["ok"] and saved["bulk_job"] == {} and saved["since"]
    assert not list((state / "bulk").glob("*")) if (state / "bulk").exists() else True
    verified = run_releve("vault", "verify", vault_dir, "--identity", keys.identity, check=False)
    assert verified.returncode == 0, verified.stdout.decode() + verified.stderr.decode()
