"""Which wards each account is attached to: who may open whom without breaking the glass.

A nurse, a physician or a secretary works in wards (units of the location tree, by their
Location id, as in /wards/{id}). They open at once the patients who currently have a
stay in one of their wards; any other patient's summary, documents or printouts ask for
a reason first (break-glass, web/access.py), and that reason goes in the audit log. The
pharmacy, the crisis cell and the station's admins work for the whole hospital: their
roles see everyone.

The attachments live in `user_wards` of `local.sqlite`, next to the accounts. An account
of a ward role with no ward attached is one created before wards existed: it keeps
seeing everyone (what it could do the day before) until an admin attaches its wards
with `releve station user wards`; `releve station user list` shows such accounts.
Changing what the staff on shift can open in the middle of a downtime would put every
existing nurse through break-glass for every patient, which teaches people to click
through it and fills the audit with reasons that mean nothing. New accounts of a ward
role are refused without a ward (`releve station user add --ward`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from .accounts import AccountError, Accounts, connect, create_local_db, write_transaction

WARD_ROLES = ("nurse", "physician", "secretary")
HOSPITAL_ROLES = ("admin", "pharmacist", "crisis")  # see every patient

_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_wards (
    user TEXT NOT NULL REFERENCES users(name),
    unit TEXT NOT NULL,                 -- the ward's Location id
    PRIMARY KEY (user, unit)
) WITHOUT ROWID;
"""


class Wards:
    """Read and set the wards of the station's accounts."""

    def __init__(self, station_dir: Path) -> None:
        self.accounts = Accounts(station_dir)  # the users table the attachments refer to
        self.path = create_local_db(Path(station_dir), _SCHEMA, AccountError)

    def add_user(self, name: str, role: str, password: str, display_name: str | None,
                 units: list[str]) -> None:
        """Create an account with its wards in one transaction: an account of a ward role
        left without its wards (a crash in between) would see every patient."""
        check_wards(role, units)
        with self.accounts.adding_user(name, role, password, display_name) as db:
            _replace(db, name, units)

    def of(self, name: str) -> list[str]:
        """The units this account is attached to (empty: none attached yet)."""
        with connect(self.path) as db:
            return [row[0] for row in db.execute(
                "SELECT unit FROM user_wards WHERE user = ? ORDER BY unit", (name,))]

    def attach(self, name: str, units: Iterable[str]) -> None:
        """Replace the account's wards with `units` (an empty list detaches them all)."""
        with connect(self.path) as db, write_transaction(db):
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
                raise AccountError(f"no user named {name!r}")
            _replace(db, name, units)

    def scope(self, name: str, role: str) -> list[str] | None:
        """The units whose patients this account opens directly; None for all patients."""
        if role not in WARD_ROLES:
            return None
        return self.of(name) or None


def _replace(db: sqlite3.Connection, name: str, units: Iterable[str]) -> None:
    """Within the caller's transaction: the account's wards become `units`."""
    chosen = sorted({u.strip() for u in units if u.strip()})
    db.execute("DELETE FROM user_wards WHERE user = ?", (name,))
    db.executemany("INSERT INTO user_wards (user, unit) VALUES (?, ?)",
                   [(name, unit) for unit in chosen])


def check_wards(role: str, units: list[str]) -> None:
    """A new account of a ward role needs its wards; the hospital roles take none."""
    if role in WARD_ROLES and not units:
        raise AccountError(f"a {role} works in wards: give at least one --ward UNIT "
                           "(the ward's id, as in /wards/ID)")
    if role not in WARD_ROLES and units:
        raise AccountError(f"a {role} sees every patient: --ward is for {', '.join(WARD_ROLES)}")
