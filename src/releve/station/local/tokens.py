"""Bearer tokens: how bedside devices, scripts and peer stations reach the station.

A ward's monitor or a script cannot sign in with a form, and another station pulling
this one's journal has nobody at its keyboard; each gets a named token made by an
operator (`releve station token add NAME --role ROLE`), shown once and stored only as
its SHA-256 (as sessions are, accounts.py), in `tokens` of `local.sqlite`: a copy of
the file lets nobody in. Removing the name revokes the token at once.

The role says what a token may do: `nurse`, `physician`, `pharmacist` record through
the local FHIR API as such a user would, and `peer` may read the journal and the
station's status (web/peers.py), nothing else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from ... import clock
from .accounts import NAME_PATTERN, AccountError, _token_sha256, connect, create_local_db, write_transaction

TOKEN_ROLES = ("nurse", "physician", "pharmacist", "peer")
PREFIX = "rlv_"  # recognisable in a config file or a leak scanner

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the token; never the token
    created      TEXT NOT NULL           -- UTC, ISO 8601
);
"""


@dataclass(frozen=True)
class Token:
    """A token as listed: its name and role, never its value."""

    name: str
    role: str
    created: str


class Tokens:
    """The station's bearer tokens."""

    def __init__(self, station_dir: Path) -> None:
        self.path = create_local_db(Path(station_dir), _SCHEMA, AccountError)

    def add(self, name: str, role: str) -> str:
        """A new token for `name`: returned once, stored hashed."""
        if not NAME_PATTERN.fullmatch(name):
            raise AccountError(f"invalid token name {name!r}: use 2 to 32 characters among "
                               "lower-case letters, digits, '.', '_' and '-'")
        if role not in TOKEN_ROLES:
            raise AccountError(f"unknown token role {role!r}: choose one of {', '.join(TOKEN_ROLES)}")
        token = PREFIX + secrets.token_urlsafe(32)
        with connect(self.path) as db, write_transaction(db):
            if db.execute("SELECT 1 FROM tokens WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"token {name!r} already exists (remove it first to replace it)")
            db.execute("INSERT INTO tokens (name, role, token_sha256, created) VALUES (?, ?, ?, ?)",
                       (name, role, _token_sha256(token), clock.utc_text()))
        return token

    def remove(self, name: str) -> None:
        """Revoke: the token stops working with the next request."""
        with connect(self.path) as db, write_transaction(db):
            if db.execute("DELETE FROM tokens WHERE name = ?", (name,)).rowcount == 0:
                raise AccountError(f"no token named {name!r}")

    def list(self) -> list[Token]:
        with connect(self.path) as db:
            return [Token(*row) for row in db.execute(
                "SELECT name, role, created FROM tokens ORDER BY name")]

    def holder(self, token: str) -> Token | None:
        """Whose token this is, or None: looked up by hash, so no comparison leaks timing."""
        with connect(self.path) as db:
            row = db.execute("SELECT name, role, created FROM tokens WHERE token_sha256 = ?",
                             (_token_sha256(token),)).fetchone()
        return Token(*row) if row else None
