"""`releve demo restore`: the hospital's IT team restores the HIS from its last backup.

`releve demo attack` first backs the HIS's database up (DIR/backup/his.db) as the
hospital's last backup before the attack, consistently: VACUUM INTO reads the database
in one SQLite read transaction, whatever the running HIS writes meanwhile (a file copy
under a live writer can be torn). Restoring means: check the backup, stop the HIS, put
the backup's content in place of the encrypted database (SQLite's backup API, which also
takes care of the database's write-ahead log), start the HIS again on it.

Only the running demo starts and stops its components: they are its children and end
with it (children.py). So when a demo runs, this command asks it to restore the HIS
(DIR/restore.json) and waits for its answer; the vault, the capture, the syncs and the
stations' pages keep running all along. When no demo runs, the command puts the backup
in place itself, and the next start serves it.

What a real restore does, the demo does too:
- The HIS comes back without activity: nobody works in it before the IT team has filed
  the wards' downtime entries (`releve journal reconcile`) and checked it against the
  vault (`releve verify`). A later start of the demo brings the activity back once the
  crisis cell has lifted the downtime on every station.
- The downtime stays declared: the wards keep the banner and keep recording on the
  stations until the crisis cell lifts it (`releve station downtime --end`).
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ... import clock
from ...errors import ReleveError
from ...station.sync import Settings as StationSettings
from .health import alive
from .place import WARDS, DemoError, Place, read_json, write_json

ANSWER_SECONDS = 300.0  # the demo answers within a second, the HIS of a large hospital starts in a minute


# --- the backup --------------------------------------------------------------------------------


def back_up(database: Path, backup: Path) -> None:
    """A consistent copy of the live database at `backup` (0600), whole or not at all."""
    backup.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = backup.with_name(backup.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(database, timeout=60)
    try:
        conn.execute("VACUUM INTO ?", (str(partial),))
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise DemoError(f"{database}: cannot be backed up ({exc})") from None
    finally:
        conn.close()
    partial.chmod(0o600)
    os.replace(partial, backup)


def checked_backup(backup: Path) -> int:
    """The backup's number of stored resource versions, once SQLite finds it sound."""
    if not backup.exists():
        raise DemoError(f"no backup at {backup}: this demo was attacked before the attack kept "
                        "one; remove the folder for a new demo")
    try:
        conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise DemoError(f"the backup {backup} cannot be read ({exc})") from None
    if problems != ["ok"]:
        raise DemoError(f"the backup {backup} is damaged: {'; '.join(problems[:3])}")
    return versions


def put_back(backup: Path, database: Path) -> None:
    """Replace the (stopped) HIS's database by the backup's content, pages and log alike."""
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    target = sqlite3.connect(database, timeout=60)
    try:
        source.backup(target)
    except sqlite3.Error as exc:
        raise DemoError(f"{database}: the backup could not be put back ({exc})") from None
    finally:
        target.close()
        source.close()


def in_use(place: Place) -> bool:
    """Whether the hospital works in its HIS (the demo then runs its activity): never
    attacked, or restored and the downtime lifted on every station."""
    attacked = place.attacked()
    if attacked is None:
        return True
    return bool(attacked.get("restored")) and not any(
        StationSettings.load(place.station(ward)).downtime for ward, _ in WARDS)


# --- asking the running demo ------------------------------------------------------------------


def asked(place: Place) -> bool:
    """A `releve demo restore` that still waits asks the demo to restore the HIS (one
    that gave up, or was killed, asks nothing)."""
    request = _request(place)
    return request.get("state") == "asked" and alive(int(request.get("by", 0)))


def carry_out(place: Place, stop_his: Callable[[], None], start_his: Callable[[], None]) -> str | None:
    """In the running demo, what `releve demo restore` asked; the answer in DIR/restore.json.
    Returns what went wrong, or None."""
    try:
        stop_his()
        put_back(place.his_backup, place.his_db)
        _mark_restored(place)
        start_his()
    except ReleveError as exc:
        write_json(place.restore_file, {"state": "failed", "error": str(exc)})
        return str(exc)
    write_json(place.restore_file, {"state": "done"})
    return None


def _request(place: Place) -> dict:
    try:
        return read_json(place.restore_file) if place.restore_file.exists() else {}
    except DemoError:  # being replaced: read again next time
        return {}


def _mark_restored(place: Place) -> None:
    attacked = place.attacked() or {}
    write_json(place.attack_file, {**attacked, "restored": clock.now().isoformat()})


def _wait_for_the_demo(place: Place, pid: int) -> None:
    deadline = time.monotonic() + ANSWER_SECONDS
    while (state := _request(place).get("state")) == "asked":
        if not alive(pid):
            if (place.attacked() or {}).get("restored"):
                raise DemoError("the HIS's database was restored, but the demo stopped before "
                                "the HIS answered: the next `releve demo` serves it")
            raise DemoError("the demo stopped before restoring the HIS: run `releve demo "
                            "restore` again")
        if time.monotonic() > deadline:
            raise DemoError(f"the demo did not restore the HIS within {ANSWER_SECONDS:.0f} s; "
                            f"see {place.log('his')}")
        time.sleep(0.2)
    if state != "done":
        raise DemoError(f"the HIS could not be restored: {_request(place).get('error', state)}")


# --- the command --------------------------------------------------------------------------------


def restore(place: Place, console: Console) -> None:
    place.require_demo()
    attacked = place.attacked()
    if attacked is None:
        raise DemoError("the HIS was not attacked: there is nothing to restore "
                        f"(`releve demo attack --dir {place.root}` first)")
    if attacked.get("restored"):
        raise DemoError(f"the HIS was already restored at {attacked['restored']}: restoring "
                        "it again would lose what was filed into it since; remove the folder "
                        "for a new demo")
    versions = checked_backup(place.his_backup)
    run = place.load_run()
    if run is not None and alive(run.pid):
        write_json(place.restore_file, {"state": "asked", "by": os.getpid(),
                                        "asked": clock.now().isoformat()})
        try:
            _wait_for_the_demo(place, run.pid)
        finally:
            if _request(place).get("state") == "asked":
                place.restore_file.unlink(missing_ok=True)
        where = "it runs again"
    else:
        put_back(place.his_backup, place.his_db)
        _mark_restored(place)
        where = "the next `releve demo` serves it"
    taken = attacked.get("backup_time", "")
    console.print(f"[bold green]HIS restored[/] from its last backup "
                  f"({escape(str(place.his_backup))}, taken {escape(_shown(taken))}, just before "
                  f"the attack): {versions} resource versions; {where}, without activity.",
                  highlight=False)
    console.print("The downtime stays declared: the wards keep the banner and record on the "
                  "stations until the crisis cell lifts it.", highlight=False)
    print_next_steps(place, taken, console)


def way_back_commands(place: Place, as_of: str) -> list[tuple[str, list[str]]]:
    """(what it does, its command lines) of the way back after the restore, with this
    demo's paths. The demo HIS asks for no token; a real one takes --token-file or
    --client-id/--client-key on reconcile and verify alike."""
    settings = place.load_settings()
    his = f"http://127.0.0.1:{settings.his_port}"
    station = shlex.quote(str(place.station(WARDS[0][0])))
    q = shlex.quote
    return [
        ("file what both wards recorded during the downtime (each station holds both "
         "journals; the demo HIS asks for no token)",
         [f"releve journal reconcile --station {station} --fhir {his} "
          f"--report {q(str(place.root / 'reconcile.json'))}"]),
        ("say who the patients admitted during the downtime are in the HIS (PATIENT: their "
         "downtime IPP), then reconcile again",
         [f"releve journal identities --station {station} list",
          f"releve journal identities --station {station} confirm PATIENT "
          "(--his Patient/ID | --create)"]),
        check_against_vault(place, settings.s3_url, his, station, as_of),
        ("then the crisis cell lifts the downtime on each station",
         [f"releve station downtime --station {q(str(place.station(ward)))} --end"
          for ward, _ in WARDS]),
    ]


def check_against_vault(place: Place, s3_url: str | None, his: str, station: str,
                        as_of: str) -> tuple[str, list[str]]:
    """The way back's check of the HIS against the vault: a folder, or on S3 (--s3) the
    bucket, read with the stations' keys that `releve demo s3-env` puts in the shell's
    environment, never typed."""
    q = shlex.quote
    verify = (f"releve verify --vault {q(s3_url or str(place.vault))} --identity "
              f"{q(str(place.identity(WARDS[0][0])))} --fhir {his} --as-of {q(as_of)} "
              f"--station {station} --out {q(str(place.root / 'verify.json'))}")
    if s3_url is None:
        return ("check the HIS against the vault as it stood when the backup was taken", [verify])
    return ("check the HIS against the vault in its bucket as it stood when the backup was "
            "taken, with the stations' keys (and the bucket's own chain and versions)",
            [f"eval \"$(releve demo s3-env station --dir {q(str(place.root))})\"", verify,
             f"releve vault verify {q(s3_url)}"])


def print_next_steps(place: Place, as_of: str, console: Console) -> None:
    console.print("next, the way back:", highlight=False)
    for number, (what, commands) in enumerate(way_back_commands(place, as_of), start=1):
        console.print(f"  {number}. {escape(what)}:", highlight=False)
        for command in commands:
            console.print(f"     {escape(command)}", highlight=False, soft_wrap=True)


def _shown(instant: str) -> str:
    try:
        return dt.datetime.fromisoformat(instant).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return instant or "?"
