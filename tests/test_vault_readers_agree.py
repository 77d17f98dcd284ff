"""Every reader of a vault refuses what `vault verify --identity` refuses, by the same
rule (docs/format.md 11.4): `vault cat`, `vault cat --segment`, a writer's
`rebuild-state` and a station's sync. The vaults are crafted as the corpus crafts them
(tests/vault_craft.py), with the faulty segment last, where every reader applies it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from releve.capture.rebuild import rebuild_state
from releve.capture.state import StateError
from releve.cli import app
from releve.station.index.connection import reader
from releve.station.sync import Status, SyncError, init_station, sync_once
from releve.vault.keys import load_identities
from releve.vault.source import FolderSource, open_source
from vault_craft import DEL_P2, O1, P1, P2, Crafter, Seg, encrypt, frame

ENV = {"COLUMNS": "400", "RELEVE_NOW": "2026-01-14T10:00:00+01:00"}

# name: (segment 2 as crafted, the reason every reader gives)
FAULTS = {
    "frame cut short": (
        lambda c: Seg([O1, DEL_P2], frames=lambda h, b: frame(h, 3) + frame(b)[:-5]),
        "a zstd frame is cut short (the compressed plaintext ends inside it)"),
    "carriage return": (
        lambda c: Seg([O1, b'{"delete":\r{"resourceType":"Patient","id":"p2"}}']),
        "plaintext line 3 holds a carriage return"),
    "types split wrongly": (
        lambda c: Seg([O1, DEL_P2], types={"Observation": {"put": 0, "delete": 1},
                                            "Patient": {"put": 1, "delete": 0}}),
        "plaintext header types do not match its records ('Observation')"),
    "put like a delete": (
        lambda c: Seg([O1, b'{"delete":{"resourceType":"Patient","id":"p2"},'
                           b'"resourceType":"Patient","id":"p9"}']),
        "plaintext line 3 is a resource that begins like a delete"),
    "one recipient too many": (
        lambda c: Seg([O1, DEL_P2], cipher=lambda data, recipients: encrypt(
            data, [*recipients, c.stranger.to_public()])),
        "is encrypted to 2 recipients, the config lists 1"),
}


@pytest.fixture(scope="module")
def crafter(tmp_path_factory: pytest.TempPathFactory) -> Crafter:
    return Crafter(tmp_path_factory.mktemp("readers"))


def _vault(crafter: Crafter, fault: str) -> Path:
    """Segment 1 sound (Patient/p1, p2), segment 2 with the fault, and nothing after it."""
    path = crafter.folder / fault.replace(" ", "-")
    if not path.exists():
        crafter.vault(path).append(Seg([P1, P2])).append(FAULTS[fault][0](crafter))
    return path


def _cli(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


def _said(result) -> str:
    return " ".join(result.stderr.split())


@pytest.mark.parametrize("fault", FAULTS)
def test_verify_and_both_cats_refuse_it(crafter, fault):
    vault, reason = _vault(crafter, fault), FAULTS[fault][1]
    verified = _cli("vault", "verify", vault, "--identity", crafter.identity)
    assert verified.exit_code == 1 and reason in _said(verified)
    state = _cli("vault", "cat", vault, "--identity", crafter.identity)
    assert state.exit_code == 1 and reason in _said(state)
    assert state.stdout_bytes == b""  # nothing printed of a state that is not sound
    one = _cli("vault", "cat", vault, "--identity", crafter.identity, "--segment", "2")
    assert one.exit_code == 1 and reason in _said(one)
    first = _cli("vault", "cat", vault, "--identity", crafter.identity, "--segment", "1")
    assert first.exit_code == 0 and first.stdout_bytes.splitlines()[1:] == [P1, P2]


@pytest.mark.parametrize("fault", FAULTS)
def test_rebuild_state_refuses_it(crafter, fault, tmp_path):
    vault, reason = _vault(crafter, fault), FAULTS[fault][1]
    with pytest.raises(StateError) as refused:
        rebuild_state(open_source(str(vault)), load_identities(crafter.identity),
                      tmp_path / "state")
    assert reason in str(refused.value)
    assert "segment 2" in str(refused.value)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_station_does_not_apply_it(crafter, fault, tmp_path):
    vault, reason = _vault(crafter, fault), FAULTS[fault][1]
    station = tmp_path / "station"
    init_station(station, crafter.identity, source=open_source(str(vault)))
    with pytest.raises(SyncError) as refused:
        sync_once(station, FolderSource(vault))
    assert reason in str(refused.value)
    conn = reader(station)
    try:
        assert dict(conn.execute("SELECT key, value FROM meta"))["seq"] in (1, "1")
        kept = {row[0] for row in conn.execute("SELECT type || '/' || id FROM records")}
    finally:
        conn.close()
    assert kept == {"Patient/p1", "Patient/p2"}  # segment 1 only: nothing of segment 2
    assert reason in (Status.load(station).error or "")  # what `station status` and the pages say
