"""`releve demo attack`: the ransomware, against the running demo's HIS.

What it does, exactly (docs/demo.md says the same for the reader of the demo):

0. Backs the HIS's database up (DIR/backup/his.db, restore.py): the hospital's last
   backup before the attack, which `releve demo restore` puts back.
1. Encrypts, in place, every stored resource of the demo HIS's SQLite database (each
   version's JSON in the `versions` table) with AES-256-GCM under a random key that is
   never written anywhere: the data cannot be recovered from the HIS. The tables, ids,
   version numbers and lastUpdated stamps stay as they are, so the HIS keeps running and
   answers every request with ciphertext where the resources were, as a database server
   whose files were encrypted under it does. Nothing goes through the FHIR API: no
   `meta.lastUpdated` changes.
2. Declares the downtime on every station (`releve station downtime --declare`), as the
   crisis cell would: every page shows the banner.

The next capture cycle asks the HIS what changed since its high-water mark. Its window
always reaches back to the newest version the previous cycle saw (the mark is that
version's stamp, minus an overlap), so the answer holds ciphertext, is not JSON, and the
capture's guard (capture/fhir_capture.py) writes an empty *suspect* segment and an alert;
the stations account for it without adopting it and keep serving the last good state.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from rich.console import Console
from rich.markup import escape

from ... import clock
from .children import releve
from .place import WARDS, DemoError, Place, write_json
from .restore import back_up

NOTE = "Cyberattaque : le DPI est chiffré. Mode dégradé, données du poste de secours."


def encrypt_database(path: os.PathLike) -> int:
    """Encrypt every stored resource of the HIS database in place; return how many.
    One transaction: the HIS, which keeps running, sees all of it at once."""
    cipher = AESGCM(AESGCM.generate_key(bit_length=256))  # the key dies with this process

    def ransom(payload: bytes | None) -> bytes | None:
        if payload is None:  # a delete has no body
            return None
        nonce = os.urandom(12)
        return nonce + cipher.encrypt(nonce, bytes(payload), None)

    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        conn.create_function("ransom", 1, ransom, deterministic=False)
        conn.execute("BEGIN IMMEDIATE")
        count = conn.execute("UPDATE versions SET json = ransom(json) "
                             "WHERE json IS NOT NULL").rowcount
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise DemoError(f"{path}: cannot be encrypted ({exc})") from None
    finally:
        conn.close()
    return count


def declare_downtime(place: Place) -> list[str]:
    """Through the station's own command, on every station; returns the failures."""
    failures = []
    for ward, _ in WARDS:
        done = subprocess.run(releve("station", "downtime", "--station", place.station(ward),
                                     "--declare", "--note", NOTE),
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            failures.append(f"{ward}: {done.stderr.strip() or done.stdout.strip()}")
    return failures


def attack(place: Place, console: Console) -> None:
    place.require_demo()
    before = place.attacked()
    if before is not None:
        raise DemoError(f"the HIS was already encrypted at {before.get('time')}; remove "
                        f"{place.root} for a new demo")
    if not place.his_db.exists():
        raise DemoError(f"{place.his_db} does not exist yet: start the demo first")
    backed_up = clock.now().isoformat()
    back_up(place.his_db, place.his_backup)
    console.print(f"the HIS's last backup before the attack: {escape(str(place.his_backup))} "
                  f"({place.his_backup.stat().st_size / 1e6:.0f} MB)", highlight=False)
    count = encrypt_database(place.his_db)
    when = clock.now().isoformat(timespec="seconds")
    write_json(place.attack_file, {"time": when, "encrypted_versions": count,
                                   "database": str(place.his_db), "backup_time": backed_up})
    console.print(f"[bold red]ransomware:[/] {count} stored resource versions of the HIS "
                  f"encrypted in place in {escape(str(place.his_db))} (AES-256-GCM, key "
                  "thrown away)", highlight=False)
    failures = declare_downtime(place)
    for failure in failures:
        console.print(f"[bold red]downtime not declared on {escape(failure)}[/]", highlight=False)
    if failures:
        raise DemoError("the downtime could not be declared on every station")
    console.print(f"downtime declared on {len(WARDS)} stations", highlight=False)
    run = place.load_run()
    wait = f"within {run.capture_interval:g} s" if run else "at the next cycle"
    where = escape(str(place.root))
    console.print(f"the capture flags it {wait}; then: releve demo status --dir {where}; "
                  f"the way back starts with: releve demo restore --dir {where}", highlight=False)
