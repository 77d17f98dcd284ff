"""The station's sync: it holds exactly the vault's last good state, whatever the vault,
the network or a kill -9 does to it."""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from releve.capture.files import discover, ndjson_tasks, total_size
from releve.capture.writer import Writer
from releve.station.folder import lock_file, records_path
from releve.station.index.connection import reader
from releve.station.index.errors import StationIndexError
from releve.station.index.generations import current_generation
from releve.station.index.writer import Index
from releve.station.records import parser as records_parser
from releve.station.records.batches import parse_block
from releve.station.records.lines import RecordError
from releve.station.sync import Status, SyncError, init_station, open_source, pinned_config, sync_once
from releve.vault.format import Descriptor, SegmentInfo
from releve.vault.keys import create_station_identity, load_identities, load_signer
from releve.vault.server import create_app
from releve.vault.source import FolderSource, HttpVault
from releve.vault.state import current_records
from releve.vault.store import LocalVault

from conftest import run_releve
from helpers import free_port, serving, wait_until


def _writer(vault_dir: Path, keys, state: Path) -> Writer:
    return Writer(LocalVault(vault_dir), load_signer(keys.signing_key), state)


def _write(writer: Writer, folder: Path, resources: list[dict], kind: str = "delta",
           suspect: str | None = None, deletes: list[str] = ()):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{len(list(folder.iterdir()))}.ndjson"
    lines = [r if isinstance(r, bytes) else orjson.dumps(r) for r in resources]
    lines += [orjson.dumps({"delete": {"resourceType": k.split("/")[0], "id": k.split("/")[1]}})
              for k in deletes]
    path.write_bytes(b"\n".join(lines) + b"\n")
    source = discover([path])[0]
    return writer.write(lambda: ndjson_tasks(source, allow_deletes=True), "test", kind=kind,
                        size_hint=total_size([source]), suspect=suspect)


def _patient(i: int, family: str = "Martin", **extra) -> dict:
    return {"resourceType": "Patient", "id": f"p{i}", "name": [{"family": family, "given": [f"G{i}"]}],
            "birthDate": "1950-03-12", **extra}


def _observation(i: int, patient: int, value: float) -> dict:
    return {"resourceType": "Observation", "id": f"o{i}", "status": "final",
            "subject": {"reference": f"Patient/p{patient}"},
            "valueQuantity": {"value": value, "unit": "mmHg"}}


def _station_rows(station: Path) -> dict[str, bytes]:
    conn = reader(station)
    assert conn is not None
    rows = {f"{t}/{i}": bytes(j) for t, i, j in conn.execute("SELECT type, id, json FROM resources")}
    conn.close()
    return rows


def _assert_words_match_patients(conn: sqlite3.Connection) -> None:
    """The name-word index says exactly what the patients table says."""
    admitted = {p for (p,) in conn.execute("SELECT patient FROM stays WHERE current = 1")}
    expected = sorted((w, int(pid not in admitted), key, rowid) for rowid, pid, names, key in
                      conn.execute("SELECT rowid, id, name_norm, sort_key FROM patients")
                      for w in names.split())
    assert sorted(conn.execute("SELECT word, rank, sort_key, patient_rowid FROM patient_words")) \
        == expected
    counts: dict[str, int] = {}
    for word, *_ in expected:
        counts[word] = counts.get(word, 0) + 1
    assert dict(conn.execute("SELECT word, n FROM words")) == counts
    assert sorted(conn.execute("SELECT rowid, word FROM word_grams")) == \
        sorted(conn.execute("SELECT rowid, word FROM words"))


def _vault_state(vault_dir: Path, keys) -> dict[str, bytes]:
    state = dict(current_records(LocalVault(vault_dir), load_identities(keys.identity)))
    return {key: line.rstrip(b"\n") for key, line in state.items()}


def _new_station(tmp_path: Path, keys, vault_dir: Path, name: str = "station") -> Path:
    station = tmp_path / name
    init_station(station, keys.identity, source=open_source(str(vault_dir)))
    return station


@pytest.fixture
def history(tmp_path, keys, vault_dir):
    """A vault with a first import, changes, deletes, and a projection-bearing resource."""
    writer = _writer(vault_dir, keys, tmp_path / "writer")
    inputs = tmp_path / "inputs"
    _write(writer, inputs, [_patient(i) for i in range(50)] + [_observation(i, i % 50, 120 + i)
                                                               for i in range(200)])
    _write(writer, inputs, [_patient(3, family="Dupont"), _observation(7, 3, 99.5)],
           deletes=["Observation/o8", "Patient/p49"])
    _write(writer, inputs, [orjson.dumps(_observation(1000, 1, 1.5)).replace(b"1.5", b"1.50")])
    yield writer
    writer.close()


def test_station_equals_vault_after_deltas(tmp_path, keys, vault_dir, history):
    station = _new_station(tmp_path, keys, vault_dir)
    outcome = sync_once(station, FolderSource(vault_dir))
    assert outcome.applied == [1, 2, 3]
    rows = _station_rows(station)
    assert rows == _vault_state(vault_dir, keys)
    assert "Patient/p49" not in rows and "Observation/o8" not in rows
    assert b'"value":1.50' in rows["Observation/o1000"]  # bytes as the HIS sent them
    conn = reader(station)
    assert conn.execute("SELECT family FROM patients WHERE id = 'p3'").fetchone() == ("Dupont",)
    assert conn.execute("SELECT count(*) FROM patients").fetchone() == (49,)
    assert conn.execute("SELECT count(*) FROM patient_words WHERE word = 'dupont'").fetchone() == (1,)
    assert conn.execute("SELECT n FROM words WHERE word = 'martin'").fetchone() == (48,)
    _assert_words_match_patients(conn)
    assert conn.execute("SELECT count(*) FROM resources WHERE patient = 'p3'").fetchone()[0] == 1 + 4 + 1
    # nothing new: nothing applied, head unchanged
    assert sync_once(station, FolderSource(vault_dir)).applied == []


def test_new_station_starts_from_latest_checkpoint(tmp_path, keys, vault_dir, history):
    checkpoint = history.checkpoint()
    _write(history, tmp_path / "inputs", [_patient(60, family="Après")])
    station = _new_station(tmp_path, keys, vault_dir)
    outcome = sync_once(station, FolderSource(vault_dir))
    assert outcome.applied == [checkpoint.seq, checkpoint.seq + 1]
    assert _station_rows(station) == _vault_state(vault_dir, keys)
    conn = reader(station)
    assert [r[0] for r in conn.execute("SELECT seq FROM segments ORDER BY seq")] == [4, 5]


def test_checkpoint_for_a_current_station_replaces_its_generation(tmp_path, keys, vault_dir, history):
    station = _new_station(tmp_path, keys, vault_dir)
    sync_once(station, FolderSource(vault_dir))
    before = current_generation(station)
    history.checkpoint()
    assert sync_once(station, FolderSource(vault_dir)).applied == [4]
    after = current_generation(station)
    assert after != before and not before.exists()
    assert _station_rows(station) == _vault_state(vault_dir, keys)
    conn = reader(station)
    assert [r[0] for r in conn.execute("SELECT seq FROM segments ORDER BY seq")] == [1, 2, 3, 4]


def test_suspect_segment_is_not_adopted(tmp_path, keys, vault_dir, history):
    station = _new_station(tmp_path, keys, vault_dir)
    sync_once(station, FolderSource(vault_dir))
    good = _station_rows(station)
    everything_deleted = [f"Patient/p{i}" for i in range(49)]
    _write(history, tmp_path / "inputs", [], deletes=everything_deleted, suspect="mass deletion: 49 of 49")
    outcome = sync_once(station, FolderSource(vault_dir))
    assert outcome.skipped == [4] and outcome.applied == []
    assert _station_rows(station) == good
    status = Status.load(station)
    assert status.skipped[-1] == {"seq": 4, "reason": "mass deletion: 49 of 49"}
    conn = reader(station)
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert (meta["seq"], meta["state_seq"]) == ("4", "3")  # chain moved on, state did not
    # the capture goes on from the last good state; the station follows
    _write(history, tmp_path / "inputs", [_patient(70, family="Suite")])
    assert sync_once(station, FolderSource(vault_dir)).applied == [5]
    assert _station_rows(station) == _vault_state(vault_dir, keys)


def test_tampered_segment_is_refused_and_state_kept(tmp_path, keys, vault_dir, history):
    station = _new_station(tmp_path, keys, vault_dir)
    sync_once(station, FolderSource(vault_dir))
    _write(history, tmp_path / "inputs", [_patient(80, family="Nouveau")])
    good = _station_rows(station)
    segment = LocalVault(vault_dir).segment_path(4)
    original = segment.read_bytes()
    os.chmod(segment, 0o600)
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    segment.write_bytes(bytes(damaged))
    with pytest.raises(SyncError, match="segment 4"):
        sync_once(station, FolderSource(vault_dir))
    assert _station_rows(station) == good
    assert "segment 4" in Status.load(station).error
    segment.write_bytes(original)
    assert sync_once(station, FolderSource(vault_dir)).applied == [4]
    assert Status.load(station).error is None


def test_a_delta_refused_midway_leaves_the_record_file_as_it_was(tmp_path, keys, vault_dir, history):
    """A segment found short after a block was appended (its counts differ from its
    signature) rolls back, and takes its lines out of the record file again."""
    station = _new_station(tmp_path, keys, vault_dir)
    sync_once(station, FolderSource(vault_dir))
    good = _station_rows(station)
    records = records_path(current_generation(station))
    size = records.stat().st_size
    source = FolderSource(vault_dir)
    config = pinned_config(station, source.config_bytes())
    index = Index(station, config.vault_id, config.genesis)
    head = index.head()
    signed = Descriptor(config.vault_id, head.seq + 1, head.sha256, "delta", "2026-12-03T10:00:00Z",
                        "test", 2, 0)
    segment = SegmentInfo(head.seq + 1, "0" * 64, 0, signed)

    def short_segment(records):
        block = orjson.dumps(_patient(90, family="Jamais")) + b"\n"
        yield parse_block(block, 2, records.append(block))
        raise RecordError("the segment holds 1 put, its signature says 2")

    with pytest.raises(RecordError, match="signature says 2"):
        index.apply_delta(segment, short_segment)
    assert records.stat().st_size == size
    assert index.head() == head
    index.close()
    assert _station_rows(station) == good
    assert sync_once(station, FolderSource(vault_dir)).applied == []


def _tables(station: Path) -> dict[str, list]:
    """Every table of the current generation, as sorted rows (when a segment was
    accounted for aside)."""
    conn = reader(station)
    names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'word_grams_%'")]
    tables = {name: sorted(map(tuple, conn.execute(f"SELECT * FROM {name}")), key=repr)
              for name in names}
    tables["segments"] = [row[:-1] for row in tables["segments"]]
    conn.close()
    return tables


def test_workers_and_their_stages_build_what_one_process_builds(tmp_path, keys, vault_dir,
                                                                   history, monkeypatch):
    """The parse in forked workers, a generation built from their stages and deltas whose
    rows come back as JSON, over many small blocks, give the index one process gives."""
    _write(history, tmp_path / "inputs", [
        {"resourceType": "Location", "id": "bed-1", "name": "Lit 1", "physicalType": {"coding": [{"code": "bd"}]}},
        {"resourceType": "Encounter", "id": "e1", "status": "in-progress", "subject": {"reference": "Patient/p1"},
         "location": [{"location": {"reference": "Location/bed-1"}, "physicalType": {"coding": [{"code": "bd"}]}}]},
        {"resourceType": "Appointment", "id": "a1", "status": "booked", "start": "2026-12-03T08:00:00Z",
         "participant": [{"actor": {"reference": "Patient/p2"}}, {"actor": {"reference": "Location/bed-1"}}]}])
    history.checkpoint()
    _write(history, tmp_path / "inputs", [_patient(2, family="Après"), _observation(5000, 2, 37.5)],
           deletes=["Encounter/e1", "Observation/o9"])
    monkeypatch.setattr(records_parser, "BLOCK", 2048)
    alone = _new_station(tmp_path, keys, vault_dir, name="alone")
    assert sync_once(alone, FolderSource(vault_dir)).applied == [5, 6]
    monkeypatch.setattr(records_parser, "PARALLEL_FROM", 0)
    forked = _new_station(tmp_path, keys, vault_dir, name="forked")
    assert sync_once(forked, FolderSource(vault_dir)).applied == [5, 6]
    expected = _tables(alone)
    assert len(expected["records"]) > 200 and expected["stays"] == [] and len(expected["bookings"]) == 1
    assert _tables(forked) == expected
    assert _station_rows(forked) == _vault_state(vault_dir, keys)
    assert not (forked / "incoming").exists()  # the stages went with the sync


def test_swapped_config_is_refused(tmp_path, keys, vault_dir, history):
    station = _new_station(tmp_path, keys, vault_dir)
    sync_once(station, FolderSource(vault_dir))
    other = tmp_path / "other-vault"
    LocalVault.init(other, [keys.recipient], [str(keys.public_key)])
    with pytest.raises(SyncError, match="differs from the one this station pinned"):
        sync_once(station, FolderSource(other))


def test_rolled_back_vault_is_refused(tmp_path, keys, vault_dir, history):
    old = tmp_path / "old-copy"
    shutil.copytree(vault_dir, old)
    _write(history, tmp_path / "inputs", [_patient(90)])
    station = _new_station(tmp_path, keys, vault_dir)
    sync_once(station, FolderSource(vault_dir))
    with pytest.raises(SyncError, match="rolled back or replaced"):
        sync_once(station, FolderSource(old))
    assert "Patient/p90" in _station_rows(station)


def test_identity_that_is_not_a_recipient_is_refused(tmp_path, keys, vault_dir, history):
    stranger, _ = create_station_identity(tmp_path / "stranger", "other")
    with pytest.raises(SyncError, match="not one of the vault's recipients"):
        init_station(tmp_path / "station", stranger, source=open_source(str(vault_dir)))
    assert not (tmp_path / "station").exists()


def test_station_files_are_private(tmp_path, keys, vault_dir, history):
    old = os.umask(0o022)  # what a desktop session usually has: the station must not rely on it
    try:
        station = _new_station(tmp_path, keys, vault_dir)
        sync_once(station, FolderSource(vault_dir))
        keep_open = reader(station)  # keeps the generation's -wal and -shm on disk
        keep_open.execute("SELECT count(*) FROM resources").fetchone()
        seen = set()
        for path in [station, *station.rglob("*")]:
            mode = path.stat().st_mode & 0o777
            assert mode == (0o700 if path.is_dir() else 0o600), (path.relative_to(station), oct(mode))
            seen.add(path.name.split(".")[-1] if path.is_file() else path.name)
        keep_open.close()
    finally:
        os.umask(old)
    for name in ("identity.key", "station.json", "sync.json", "vault-config.json", "CURRENT"):
        assert (station / name).exists() or (station / "index" / name).exists(), name
    assert {"sqlite", "records", "sqlite-wal", "sqlite-shm", "index"} <= seen, seen


@pytest.fixture
def served_vault(vault_dir):
    with serving(create_app(LocalVault(vault_dir), "writer-token-of-at-least-32-characters",
                            "reader-token-of-at-least-32-characters")) as url:
        yield url


def test_sync_over_http_with_the_reader_token(tmp_path, keys, vault_dir, history, served_vault):
    station = tmp_path / "station"
    init_station(station, keys.identity, source=HttpVault(served_vault, "reader-token-of-at-least-32-characters"))
    assert sync_once(station, HttpVault(served_vault, "reader-token-of-at-least-32-characters")).applied == [1, 2, 3]
    assert _station_rows(station) == _vault_state(vault_dir, keys)
    with pytest.raises(SyncError, match="refused the token"):
        sync_once(station, HttpVault(served_vault, "wrong"))
    with pytest.raises(SyncError, match="unreachable"):
        sync_once(station, HttpVault(f"http://127.0.0.1:{free_port()}", "reader-token-of-at-least-32-characters"))
    assert _station_rows(station) == _vault_state(vault_dir, keys)


def test_cli_init_sync_status(tmp_path, keys, vault_dir, history):
    station = tmp_path / "station"
    run_releve("station", "init", station, "--identity", keys.identity, "--vault", vault_dir)
    result = run_releve("station", "sync", "--station", station, "--vault", vault_dir)
    assert "applied segments 1–3" in result.stdout.decode()
    status = run_releve("station", "status", "--station", station).stdout.decode()
    assert "segment 3" in status and "49 patients" in status and "0 segment(s) behind" in status
    missing = run_releve("station", "sync", "--station", tmp_path / "nowhere", "--vault", vault_dir,
                         check=False)
    assert missing.returncode == 1 and b"not a station folder" in missing.stderr


def test_a_damaged_or_outdated_index_is_rebuilt_by_the_next_sync(tmp_path, keys, vault_dir, history):
    """The index is a cache of the vault: a record file cut short, an index of an older
    format, or a database that is not one, is named as such to readers, and the next sync
    builds a new generation from the vault's latest checkpoint, without being told."""
    station = _new_station(tmp_path, keys, vault_dir)
    sync_once(station, FolderSource(vault_dir))
    expected = _vault_state(vault_dir, keys)
    generation = current_generation(station)
    records = records_path(generation)
    os.truncate(records, records.stat().st_size - 10)
    with pytest.raises(StationIndexError, match=f"{records.name} holds .* the record file is damaged: "
                                          "the index is a cache of the vault: the next sync"):
        reader(station)
    damaged = run_releve("station", "sync", "--station", station, "--vault", vault_dir)
    assert b"the record file is damaged): a new one was built from the vault's latest" in damaged.stderr
    assert current_generation(station) != generation and not generation.exists()
    assert _station_rows(station) == expected
    left = {name.split(".")[0] for name in os.listdir(station / "index")}
    assert left == {"CURRENT", current_generation(station).stem}  # the unusable one is gone

    db = sqlite3.connect(current_generation(station))
    db.execute("UPDATE meta SET value = '2' WHERE key = 'format'")
    db.commit()
    db.close()
    assert b"format '2', this Rel" in run_releve("station", "sync", "--station", station,
                                                  "--vault", vault_dir).stderr
    assert _station_rows(station) == expected
    segments = reader(station).execute("SELECT seq, outcome FROM segments ORDER BY seq").fetchall()
    assert [seq for seq, _ in segments] == [1, 2, 3]  # what the older generation accounted for

    current_generation(station).write_bytes(b"not a database at all " * 100)
    outcome = sync_once(station, FolderSource(vault_dir))
    assert outcome.rebuilt and "not a database" in outcome.rebuilt and outcome.applied
    assert _station_rows(station) == expected


def test_a_rebuild_still_refuses_a_vault_rolled_back_behind_the_station(tmp_path, keys, vault_dir,
                                                                        history):
    station = _new_station(tmp_path, keys, vault_dir)
    old = tmp_path / "old-vault"
    shutil.copytree(vault_dir, old)
    _write(history, tmp_path / "inputs", [_patient(82, family="Après")])
    sync_once(station, FolderSource(vault_dir))
    db = sqlite3.connect(current_generation(station))
    db.execute("UPDATE meta SET value = '2' WHERE key = 'format'")
    db.commit()
    db.close()
    with pytest.raises(SyncError, match="rolled back or replaced"):
        sync_once(station, FolderSource(old))


def test_a_full_disk_is_named_and_nothing_is_half_applied(tmp_path, keys, vault_dir, history,
                                                          monkeypatch):
    station = _new_station(tmp_path, keys, vault_dir)
    sync_once(station, FolderSource(vault_dir))
    good = _station_rows(station)
    _write(history, tmp_path / "inputs", [_patient(81, family="Plein")])

    def full_disk(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full_disk)
    with pytest.raises(SyncError, match="cannot write the record file .*No space left on device"):
        sync_once(station, FolderSource(vault_dir))
    monkeypatch.undo()
    assert _station_rows(station) == good
    assert "No space left on device" in Status.load(station).error  # what status and pages show
    assert sync_once(station, FolderSource(vault_dir)).applied == [4]
    assert _station_rows(station) == _vault_state(vault_dir, keys)


def test_a_write_error_found_by_a_flush_behind_is_not_lost(tmp_path, keys, vault_dir, history,
                                                           monkeypatch):
    """Linux reports a failed writeback to one fdatasync only: when the build's
    background flush gets it, the generation must not be switched in."""
    from releve.station.index.record_file import RecordAppender
    monkeypatch.setattr(RecordAppender, "FLUSH_EVERY", 1)  # a flush per block
    calls = []
    real = os.fdatasync

    def failing_once(fd):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", failing_once)
    station = _new_station(tmp_path, keys, vault_dir)
    with pytest.raises(SyncError, match="cannot write the record file .*Input/output error"):
        sync_once(station, FolderSource(vault_dir))
    assert calls[0] == "records-flush"  # the error was met in the background, reported here
    assert current_generation(station) is None or not _station_rows(station)
    monkeypatch.undo()
    assert sync_once(station, FolderSource(vault_dir)).applied == [1, 2, 3]
    assert _station_rows(station) == _vault_state(vault_dir, keys)


def test_a_second_sync_of_the_same_station_is_refused_while_one_runs(tmp_path, keys, vault_dir,
                                                                    history):
    import fcntl
    station = _new_station(tmp_path, keys, vault_dir)
    before = (station / "sync.json").read_bytes() if (station / "sync.json").exists() else None
    holder = os.open(station / "sync.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as a running sync holds it
    try:
        with pytest.raises(SyncError, match="another sync of this station is running"):
            sync_once(station, FolderSource(vault_dir))
        assert current_generation(station) is None  # nothing applied
        after = (station / "sync.json").read_bytes() if (station / "sync.json").exists() else None
        assert after == before  # the running sync's status is left to it
    finally:
        os.close(holder)
    assert sync_once(station, FolderSource(vault_dir)).applied == [1, 2, 3]


# --- kill -9 at any moment of an apply ------------------------------------------------------


SYNC_SCRIPT = """
import sys
from pathlib import Path
from releve.station.records import parser
from releve.station.sync import sync_once
from releve.vault.source import FolderSource
if sys.argv[3] == "forked":  # the parse in workers, a new generation from their stages
    parser.PARALLEL_FROM, parser.BLOCK = 0, 64 << 10
sync_once(Path(sys.argv[1]), FolderSource(Path(sys.argv[2])))
"""


def _expected_states(vault_dir: Path, keys) -> dict[int, dict[str, bytes]]:
    """The state after each segment (every segment here is adoptable)."""
    from releve.vault.plaintext import segment_records

    vault = LocalVault(vault_dir)
    identities = load_identities(keys.identity)
    states, state = {0: {}}, {}
    for seq in vault.sequence_numbers():
        descriptor = vault.info(seq).descriptor
        records = segment_records(vault.segment_path(seq), descriptor, identities)
        if descriptor.kind == "full":
            state = {}
        for record in records:
            key = f"{record.resource_type}/{record.resource_id}"
            if record.deleted:
                state.pop(key, None)
            else:
                state[key] = record.line.rstrip(b"\n")
        states[seq] = dict(state)
    return states


def _survivors(station: Path, wait: float = 5.0) -> list[int]:
    """The processes still running with `station` on their command line (forked workers
    keep their parent's), once they had `wait` seconds to go."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(station).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue  # ended meanwhile
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _lock_free(station: Path) -> bool:
    """Whether no process holds the station's sync lock (a flock on folder.lock_file)."""
    try:
        fd = os.open(lock_file(station), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return True  # killed before it made one
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # the lock, if taken, goes with it


def _sync_seconds(command: list[str], start: Path, vault_dir: Path, station: Path,
                  env: dict, mode: str) -> float:
    """Seconds an uninterrupted sync of a copy of `start` takes, Python start-up included."""
    shutil.copytree(start, station)
    began = time.perf_counter()
    subprocess.run([*command, str(station), str(vault_dir), mode], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - began
    shutil.rmtree(station)
    return took


@pytest.mark.slow
def test_kill_minus_nine_during_apply_leaves_the_index_consistent(tmp_path, keys, vault_dir):
    writer = _writer(vault_dir, keys, tmp_path / "writer")
    inputs = tmp_path / "inputs"
    rng = random.Random(7)
    _write(writer, inputs, [_patient(i, family=f"F{i}") for i in range(3000)]
           + [_observation(i, i % 3000, i) for i in range(12000)])
    for round_ in range(4):
        changed = rng.sample(range(12000), 3000)
        _write(writer, inputs, [_observation(i, i % 3000, 1000 + round_) for i in changed],
               deletes=[f"Patient/p{i}" for i in rng.sample(range(3000), 50)])
    writer.checkpoint()
    writer.close()
    states = _expected_states(vault_dir, keys)
    empty = _new_station(tmp_path, keys, vault_dir, "empty")  # will start at the checkpoint
    first_only = tmp_path / "first-only"  # the vault as it was after its first segment
    shutil.copytree(vault_dir, first_only)
    for seq in LocalVault(first_only).sequence_numbers()[1:]:
        LocalVault(first_only).segment_path(seq).unlink()
    behind = _new_station(tmp_path, keys, vault_dir, "behind")  # will apply deltas, then rebuild
    sync_once(behind, FolderSource(first_only))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", SYNC_SCRIPT]
    # the kills are drawn within the time a whole sync takes on this machine, so that a
    # faster apply is still killed in its middle, not only after it is done
    # half the trials parse in one process, half in forked workers over small blocks
    seconds = {(start, mode): _sync_seconds(command, start, vault_dir, tmp_path / "timed", env, mode)
               for start in (empty, behind) for mode in ("alone", "forked")}
    trials, killed = 24, 0
    for trial in range(trials):
        station = tmp_path / f"trial-{trial}"
        start, mode = empty if trial % 2 else behind, "forked" if trial % 4 >= 2 else "alone"
        shutil.copytree(start, station)
        process = subprocess.Popen([*command, str(station), str(vault_dir), mode],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 0.95) * seconds[start, mode])
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait()
        assert _survivors(station) == [], f"trial {trial}: workers outlived their sync"
        conn = reader(station)
        if conn is not None:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            rows = {f"{t}/{i}": bytes(j) for t, i, j in conn.execute("SELECT type, id, json FROM resources")}
            patients = conn.execute("SELECT count(*) FROM patients").fetchone()[0]
            _assert_words_match_patients(conn)
            conn.close()
            seq = int(meta.get("state_seq", 0))
            assert rows == states[seq], f"trial {trial}: index differs from the state at {seq}"
            assert patients == sum(k.startswith("Patient/") for k in rows)
        # a worker leaves /proc's cmdline before it closes its files: the lock it shares
        # with its killed parent may outlive the check above by a moment, never for good
        wait_until("the killed sync's lock to be released", functools.partial(_lock_free, station), 10)
        sync_once(station, FolderSource(vault_dir))  # and it resumes to the head
        assert _station_rows(station) == states[max(states)]
        conn = reader(station)
        _assert_words_match_patients(conn)
        conn.close()
        shutil.rmtree(station)
    assert killed >= trials // 3, f"only {killed} of {trials} syncs were killed mid-way"
