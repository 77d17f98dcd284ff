"""`releve capture hl7-replay`: the HL7 v2 feeds mapped again from the vault alone.

Real parts: messages sent over MLLP to a real `releve capture hl7`, a real vault and
keys, the replay run as the `releve` command; what an older mapping produced is written
into the vault through the capture's own writer, as that mapping would have.
"""

from __future__ import annotations

import base64
import sqlite3
import subprocess
import time
from pathlib import Path

import orjson

from releve.capture.hl7.mapping import ids
from releve.capture.scan import Task
from releve.capture.writer import Writer
from releve.vault.keys import load_signer
from releve.vault.store import LocalVault
from test_capture import vault_state
from test_hl7_capture import IPP_OID, admission, potassium, send, start_listener, write_resources

from conftest import RELEVE, run_releve

OLD_RULE = {"resourceType": "Flag", "id": ids.make("flag", f"{IPP_OID}|111"), "status": "active",
            "code": {"text": "made by a rule the mapping no longer has"},
            "subject": {"reference": f"Patient/{ids.patient(f'{IPP_OID}|111')}"}}
OLD_KEY = f"Flag/{OLD_RULE['id']}"
NOT_HL7 = {"resourceType": "Binary", "id": ids.message("OLD|FEED", "X1"),
           "meta": {"lastUpdated": "2026-01-14T08:00:00.000000Z"},
           "contentType": "x-application/hl7-v2+er7",
           "data": base64.b64encode(b"this was never HL7 v2\r").decode()}


def replay(vault: Path, keys, state: Path, *extra: str, check: bool = True
           ) -> subprocess.CompletedProcess:
    return run_releve("capture", "hl7-replay", "--vault", vault, "--identity", keys.identity,
                      "--signing-key", keys.signing_key, "--state", state, *extra, check=check)


def fed(vault: Path, keys, state: Path) -> None:
    """Two messages through `releve capture hl7`, in the vault; the listener stopped."""
    server, port = start_listener(vault, keys, state)
    try:
        acks = send(port, admission("111", "V1", "M1"), potassium("111", "V1", "L1"))
        assert all(b"MSA|AA|" in ack for ack in acks)
        wait_for_binaries(vault, keys, 2)
        refused = replay(vault, keys, state, check=False)  # the listener holds the log
        assert refused.returncode == 1
        assert "in use: a `releve capture hl7` (or a replay) runs with this --state" in \
            refused.stderr.decode()
        assert not list(state.glob("hl7.replaced-*"))
        dry = replay(vault, keys, state, "--dry-run").stdout.decode()
        assert "2 HL7 v2 messages replayed from the vault" in dry
        assert "the replay itself will refuse until it is stopped" in dry
        second = run_releve("capture", "hl7", "--listen", "127.0.0.1:0", "--vault", vault,
                            "--signing-key", keys.signing_key, "--state", state, check=False)
        assert second.returncode == 1  # one listener per state folder
        assert "error: the HL7 message log of" in second.stderr.decode()
    finally:
        assert server.stop() == 0, server.output()


def wait_for_binaries(vault: Path, keys, count: int) -> None:
    deadline = time.monotonic() + 30
    while sum(key.startswith("Binary/") for key in vault_state(vault, keys)) < count:
        assert time.monotonic() < deadline, "the listener wrote no segment"
        time.sleep(0.1)


def old_mapping(vault: Path, keys, state: Path) -> None:
    """What an older mapping left: a resource today's no longer produces, and a raw
    message today's reader refuses."""
    writer = Writer(LocalVault(vault), load_signer(keys.signing_key), state)
    try:
        write_resources(writer, [OLD_RULE, NOT_HL7])
    finally:
        writer.close()


def log_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        count = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    db.close()
    return count


def test_a_replay_deletes_what_the_mapping_no_longer_produces(tmp_path, keys, vault_dir):
    """The vault alone replayed: the resource of the old rule deleted, every other one
    left as it is (no put: the writer's dedup), the message today's reader refuses
    quarantined and kept in the vault; the old message log set aside, not deleted; a
    dry run first, which writes nothing."""
    state = tmp_path / "state"
    fed(vault_dir, keys, state)
    old_mapping(vault_dir, keys, state)
    before = vault_state(vault_dir, keys)
    segments = LocalVault(vault_dir).sequence_numbers()
    assert OLD_KEY in before and len(segments) == 2
    listing = sorted(p.name for p in state.rglob("*"))

    dry = replay(vault_dir, keys, state, "--dry-run").stdout.decode()
    assert "3 HL7 v2 messages replayed from the vault (1 refused by today's reader" in dry
    assert "0 would be changed, 1 would be deleted" in dry
    assert f"would delete {OLD_KEY}" in dry
    assert "dry run: nothing written" in dry and "will refuse" not in dry
    assert LocalVault(vault_dir).sequence_numbers() == segments
    assert sorted(p.name for p in state.rglob("*")) == listing

    done = replay(vault_dir, keys, state).stdout.decode()
    assert "3 HL7 v2 messages replayed from the vault (1 refused by today's reader" in done
    assert "0 changed, 1 deleted" in done
    assert f"segment {segments[-1] + 1} (delta): 0 put, 1 deleted" in done
    after = vault_state(vault_dir, keys)
    assert after == {key: value for key, value in before.items() if key != OLD_KEY}
    info = LocalVault(vault_dir).info(segments[-1] + 1)
    assert (info.descriptor.source, info.descriptor.puts, info.descriptor.deletes) == ("hl7", 0, 1)

    (aside,) = state.glob("hl7.replaced-*")
    assert log_rows(aside / "messages.sqlite", "messages") == 2  # the listener's, kept
    assert log_rows(state / "hl7" / "messages.sqlite", "messages") == 2
    assert log_rows(state / "hl7" / "messages.sqlite", "quarantine") == 1
    with sqlite3.connect(state / "hl7" / "projection.sqlite") as db:
        through = db.execute("SELECT value FROM meta WHERE name = 'mapped_through'").fetchone()
    db.close()
    assert through == (2,)

    again = replay(vault_dir, keys, state).stdout.decode()  # the same mapping: nothing to do
    assert "0 changed, 0 deleted" in again and "nothing changed: no segment written" in again
    assert len(list(state.glob("hl7.replaced-*"))) == 2


def test_a_listener_after_a_replay_carries_on(tmp_path, keys, vault_dir):
    """The fresh projection says every replayed message is mapped: a listener started
    afterwards writes only what is new, and a result sent again with another value
    replaces the old one."""
    state = tmp_path / "state"
    fed(vault_dir, keys, state)
    replay(vault_dir, keys, state)
    segments = LocalVault(vault_dir).sequence_numbers()
    server, port = start_listener(vault_dir, keys, state)
    try:
        send(port, potassium("111", "V1", "L2", "5.6", when="20260114100000"))
        wait_for_binaries(vault_dir, keys, 3)
    finally:
        assert server.stop() == 0, server.output()
    info = LocalVault(vault_dir).info(segments[-1] + 1)
    held = [r for r in vault_state(vault_dir, keys).values() if r["resourceType"] == "Observation"]
    assert [r["valueQuantity"]["value"] for r in held] == [5.6]
    # the Observation, its report (issued anew) and the new message, nothing else
    assert info.descriptor.puts == 3


def test_a_replay_reads_the_vault_under_the_writer_state_lock(tmp_path, keys, vault_dir):
    """Another writer on the same state (a FHIR capture, in effect) holds the lock: the
    replay waits for it, and reads the vault only then, so what that writer wrote
    meanwhile is replayed too (here one more resource of the old rule, deleted)."""
    state = tmp_path / "state"
    fed(vault_dir, keys, state)
    old_mapping(vault_dir, keys, state)
    later = {**OLD_RULE, "id": ids.make("flag", "later")}
    writer = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), state)
    try:
        with writer.state.locked():
            waiting = subprocess.Popen([*RELEVE, "capture", "hl7-replay", "--vault", vault_dir,
                                        "--identity", keys.identity, "--signing-key",
                                        keys.signing_key, "--state", state],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(2.0)  # the replay started, and waits
            assert waiting.poll() is None
            write_resources(writer, [later])
        out, errors = waiting.communicate(timeout=60)
    finally:
        writer.close()
    assert waiting.returncode == 0, errors.decode()
    assert b"0 changed, 2 deleted" in out
    held = vault_state(vault_dir, keys)
    assert OLD_KEY not in held and f"Flag/{later['id']}" not in held


def test_a_replay_refuses_a_writer_state_behind_the_vault(tmp_path, keys, vault_dir):
    """Another state folder wrote to the vault: this one no longer describes it, and the
    replay says so before it moves anything."""
    state = tmp_path / "state"
    fed(vault_dir, keys, state)
    other = Writer(LocalVault(vault_dir), load_signer(keys.signing_key), tmp_path / "other")
    try:  # a full segment: the one write a state that knows nothing of the vault may make
        data = orjson.dumps(OLD_RULE) + b"\n"
        other.write(lambda: iter([Task(label="other", data=data)]), "other", kind="full",
                    parallel=False)
    finally:
        other.close()
    refused = replay(vault_dir, keys, state, check=False)
    assert refused.returncode == 1
    assert "knows the vault up to segment 1, but the vault is at segment 2" in \
        refused.stderr.decode().replace("\n", " ")
    assert not list(state.glob("hl7.replaced-*"))
    assert (state / "hl7" / "messages.sqlite").exists()
