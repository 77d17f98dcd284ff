"""The demo HIS's backup and restore (demo/system/restore.py), without the whole demo:
a backup taken while a writer keeps committing is one consistent state; `releve demo
restore` with no demo running puts it back in place of the encrypted database, once;
what it refuses. Real SQLite files and the attack's real encryption.
(tests/test_way_back_demo.py restores a running demo's HIS.)"""

from __future__ import annotations

import io
import shlex
import sqlite3
import threading
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from releve.demo.system.attack import encrypt_database
from releve.demo.system.place import DemoError, Place, Settings, write_json
from releve.demo.system.restore import back_up, restore


def his_database(path: Path, rows: int = 200) -> None:
    """A database shaped as the demo HIS's where it matters here: `versions` with JSON, WAL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE versions (n INTEGER PRIMARY KEY, json BLOB)")
    conn.executemany("INSERT INTO versions (json) VALUES (?)",
                     [(orjson.dumps({"resourceType": "Patient", "id": f"p{n}"}),) for n in range(rows)])
    conn.close()


def resources(path: Path) -> list[bytes]:
    conn = sqlite3.connect(path)
    try:
        return [bytes(row[0]) for row in conn.execute("SELECT json FROM versions ORDER BY n")]
    finally:
        conn.close()


def test_a_backup_under_a_live_writer_holds_whole_transactions(tmp_path):
    """The writer commits two rows at a time; every backup holds an even number of them."""
    database, backup = tmp_path / "his.db", tmp_path / "backup" / "his.db"
    his_database(database, rows=0)
    stop = threading.Event()

    def write() -> None:
        conn = sqlite3.connect(database, isolation_level=None, timeout=30)
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO versions (json) VALUES (?)", [(b"{}",), (b"{}",)])
            conn.execute("COMMIT")
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        counts = []
        for _ in range(5):
            back_up(database, backup)
            counts.append(len(resources(backup)))
    finally:
        stop.set()
        writer.join()
    assert all(count % 2 == 0 for count in counts) and counts[-1] > 0, counts
    assert backup.stat().st_mode & 0o777 == 0o600
    assert not backup.with_name("his.db.partial").exists()


@pytest.fixture
def attacked(tmp_path) -> Place:
    """A stopped demo's folder after `releve demo attack`: backup kept, database encrypted."""
    place = Place(tmp_path / "demo")
    place.root.mkdir()
    place.save_settings(Settings(his_port=8899))
    his_database(place.his_db)
    back_up(place.his_db, place.his_backup)
    encrypt_database(place.his_db)
    write_json(place.attack_file, {"time": "2026-01-14T09:00:00+00:00",
                                   "backup_time": "2026-01-14T08:59:59.5+00:00"})
    return place


def test_restore_without_a_running_demo_puts_the_backup_back_once(attacked):
    place = attacked
    before = resources(place.his_backup)
    assert resources(place.his_db) != before, "encrypted"
    shown = io.StringIO()
    restore(place, Console(file=shown, width=400))
    assert resources(place.his_db) == before
    assert place.attacked()["restored"]
    text = shown.getvalue()
    assert "200 resource versions" in text and "next `releve demo` serves it" in text
    lines = [shlex.split(line) for line in text.splitlines() if line.strip().startswith("releve ")]
    verify = next(line for line in lines if line[1] == "verify")
    assert verify[verify.index("--as-of") + 1] == "2026-01-14T08:59:59.5+00:00"
    assert verify[verify.index("--fhir") + 1] == "http://127.0.0.1:8899"
    assert verify[verify.index("--vault") + 1] == str(place.vault)
    reconcile = next(line for line in lines if line[1:3] == ["journal", "reconcile"])
    assert reconcile[reconcile.index("--station") + 1] == str(place.station("urgences"))
    assert [line[line.index("--station") + 1] for line in lines if "downtime" in line] == [
        str(place.station("urgences")), str(place.station("cardiologie"))]
    with pytest.raises(DemoError, match="already restored"):
        restore(place, Console(file=io.StringIO()))


def test_restore_refuses_a_damaged_backup_and_a_demo_never_attacked(attacked, tmp_path):
    place = attacked
    place.his_backup.write_bytes(b"SQLite format 3\x00" + b"\x07" * 8192)
    encrypted = resources(place.his_db)
    with pytest.raises(DemoError, match="backup"):
        restore(place, Console(file=io.StringIO()))
    assert resources(place.his_db) == encrypted, "nothing put back"
    assert "restored" not in place.attacked()
    place.attack_file.unlink()
    with pytest.raises(DemoError, match="not attacked"):
        restore(place, Console(file=io.StringIO()))
