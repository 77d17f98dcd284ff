"""A station's local accounts and sessions, in `<station dir>/local.sqlite`.

A downtime station is not joined to the hospital's domain (the domain may be what the
attack took down), so it keeps its own users. They live in `local.sqlite`, a database
separate from the data index: the index can be thrown away and rebuilt from the vault,
while accounts and the audit log (see `audit.py`, same file) must survive that.

Passwords are hashed with scrypt and stored as `scrypt$n$r$p$salt_b64$hash_b64`, so the
cost can be raised later: a hash made with other parameters is redone at the user's next
successful login. Sessions are random tokens given to the browser; the database holds
only their SHA-256, so a copy of the file does not let anyone log in. The file and its
WAL companions are mode 0600: it holds password hashes and, in the audit, patient names.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ... import clock
from ...errors import ReleveError
from ...files import create_private
from ..folder import local_db

ROLES = ("nurse", "physician", "pharmacist", "secretary", "admin", "crisis")

NAME_PATTERN = re.compile(r"[a-z0-9._-]{2,32}")
MIN_PASSWORD = 8
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
BUSY_TIMEOUT_MS = 10_000
TOUCH_EVERY = 5.0  # seconds between writes of a session's last_seen
SESSION_LIFETIME = 12 * 3600  # seconds a session lasts at most, however active

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password     TEXT NOT NULL,      -- scrypt$n$r$p$salt_b64$hash_b64
    disabled     INTEGER NOT NULL DEFAULT 0,
    created      TEXT NOT NULL       -- UTC, ISO 8601
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,   -- hex SHA-256 of the token; never the token
    user         TEXT NOT NULL REFERENCES users(name),
    created      REAL NOT NULL,      -- Unix time
    last_seen    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);
"""


class AccountError(ReleveError):
    """Something an operator can fix (bad name, unknown user...), with a clear message."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    display_name: str
    disabled: bool
    created: str


# --- the local database, shared with audit.py ---------------------------------------------


def create_local_db(station_dir: Path, schema: str, error: type[Exception]) -> Path:
    """Make sure `local.sqlite` exists (0600, WAL) with `schema`; return its path.

    The station folder must already exist: creating it here would hide a mistyped
    `--station` behind a fresh, empty database.
    """
    station_dir = Path(station_dir)
    if not station_dir.is_dir():
        raise error(f"station folder {station_dir} does not exist (create it with `releve station init`)")
    path = local_db(station_dir)
    create_private(path)
    with connect(path) as db:
        _use_wal(db)
        db.executescript(schema)
    return path


def _use_wal(db: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch the database to WAL. SQLite answers "locked" at once, without waiting out
    its busy timeout, when another connection switches it at the same moment (the first
    requests of a fresh station, threads opening it together): wait, and look again."""
    for attempt in range(attempts):
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.01)


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection for one operation, in autocommit mode (transactions are explicit).

    One connection per operation keeps the classes safe to share between threads and
    across a fork, at a cost of well under a millisecond.
    """
    db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys=ON")
        # WAL with synchronous=NORMAL: a commit survives a crash of the app or the OS
        # process, and only a power cut can lose the last entries (not corrupt the log).
        # FULL made every page view wait ~20 ms for the disk to write its audit entry.
        db.execute("PRAGMA synchronous=NORMAL")
        yield db
    finally:
        db.close()


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: take the write lock first, so read-then-write cannot race."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# --- passwords ----------------------------------------------------------------------------


def hash_password(password: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """scrypt with a fresh 16-byte salt, as `scrypt$n$r$p$salt_b64$hash_b64`."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p, HASH_BYTES)
    return "$".join(["scrypt", str(n), str(r), str(p), _b64(salt), _b64(digest)])


def check_password(password: str, stored: str) -> bool:
    """Recompute the hash with the stored parameters; compare in constant time."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        expected_bytes = base64.b64decode(expected)
        digest = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected_bytes))
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected_bytes)


def needs_rehash(stored: str) -> bool:
    return not stored.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    memory = 128 * n * r * (p + 2)
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=memory + 1024 * 1024, dklen=length)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown names against, so they take as long as known ones."""
    return hash_password(secrets.token_urlsafe(16))


def _token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- accounts -----------------------------------------------------------------------------


class Accounts:
    """The station's users and their browser sessions."""

    def __init__(self, station_dir: Path, *, idle_timeout: float = 15 * 60,
                 lifetime: float = SESSION_LIFETIME) -> None:
        self.path = create_local_db(Path(station_dir), _SCHEMA, AccountError)
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime

    # users

    def add_user(self, name: str, role: str, password: str, display_name: str | None = None,
                 *, allow_short: bool = False) -> None:
        """Create an enabled user. `allow_short` exists for the demo's "demo" passwords only."""
        with self.adding_user(name, role, password, display_name, allow_short=allow_short):
            pass

    @contextmanager
    def adding_user(self, name: str, role: str, password: str, display_name: str | None = None,
                    *, allow_short: bool = False) -> Iterator[sqlite3.Connection]:
        """Create an enabled user inside a transaction left open for what goes with the
        account (its wards, wards.py): all of it is committed together, or none of it."""
        self.check_new_user(name, role)
        _check_password(password, allow_short)
        hashed = hash_password(password)
        with connect(self.path) as db, write_transaction(db):
            _refuse_existing(db, name)
            db.execute("INSERT INTO users (name, role, display_name, password, disabled, created) "
                       "VALUES (?, ?, ?, ?, 0, ?)",
                       (name, role, (display_name or "").strip() or name, hashed, clock.utc_text()))
            yield db

    def check_new_user(self, name: str, role: str) -> None:
        """Raise AccountError now if `add_user(name, role, ...)` would refuse them.

        Lets the command line say so before it asks for a password twice.
        """
        _check_name(name)
        _check_role(role)
        with connect(self.path) as db:
            _refuse_existing(db, name)

    def get_user(self, name: str) -> User | None:
        with connect(self.path) as db:
            row = db.execute("SELECT name, role, display_name, disabled, created FROM users "
                             "WHERE name = ?", (name,)).fetchone()
        return _user(row) if row else None

    def set_password(self, name: str, password: str, *, allow_short: bool = False) -> None:
        """Replace the password and end the user's sessions (a leaked session dies with it)."""
        _check_password(password, allow_short)
        hashed = hash_password(password)
        with connect(self.path) as db, write_transaction(db):
            self._require(db, name)
            db.execute("UPDATE users SET password = ? WHERE name = ?", (hashed, name))
            db.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def disable(self, name: str) -> None:
        """Stop the user logging in and end their sessions now; the account stays for the audit."""
        with connect(self.path) as db, write_transaction(db):
            self._require(db, name)
            db.execute("UPDATE users SET disabled = 1 WHERE name = ?", (name,))
            db.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def enable(self, name: str) -> None:
        with connect(self.path) as db, write_transaction(db):
            self._require(db, name)
            db.execute("UPDATE users SET disabled = 0 WHERE name = ?", (name,))

    def list_users(self) -> list[User]:
        with connect(self.path) as db:
            rows = db.execute("SELECT name, role, display_name, disabled, created FROM users "
                              "ORDER BY name").fetchall()
        return [_user(row) for row in rows]

    def has_users(self) -> bool:
        """False on a fresh station, so the app can say how to create the first account."""
        with connect(self.path) as db:
            return db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is right and the account enabled, else None.

        Unknown names are checked against a dummy hash and disabled accounts are checked
        too, so the time taken does not tell which names exist.
        """
        with connect(self.path) as db:
            row = db.execute("SELECT name, role, display_name, disabled, created, password "
                             "FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            check_password(password, _dummy_hash())
            return None
        if not check_password(password, row[5]) or row[3]:
            return None
        if needs_rehash(row[5]):
            self._rehash(name, password)
        return _user(row[:5])

    def _rehash(self, name: str, password: str) -> None:
        """Bring a hash made with older scrypt parameters up to the current ones."""
        with connect(self.path) as db, write_transaction(db):
            db.execute("UPDATE users SET password = ? WHERE name = ?", (hash_password(password), name))

    # sessions

    def open_session(self, user: User) -> str:
        """A new random token for the browser's cookie; only its SHA-256 is stored."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with connect(self.path) as db, write_transaction(db):
            row = db.execute("SELECT disabled FROM users WHERE name = ?", (user.name,)).fetchone()
            if row is None or row[0]:
                raise AccountError(f"user {user.name!r} does not exist or is disabled")
            db.execute("DELETE FROM sessions WHERE last_seen < ? OR created < ?",
                       (now - self.idle_timeout, now - self.lifetime))
            db.execute("INSERT INTO sessions (token_sha256, user, created, last_seen) VALUES (?, ?, ?, ?)",
                       (_token_sha256(token), user.name, now, now))
        return token

    def session_user(self, token: str, now: float | None = None) -> User | None:
        """The session's user, or None if unknown, idle too long, older than its lifetime
        (a session left open on a ward PC ends with the shift) or disabled; touches it.

        The touch is written at most every few seconds: this runs on every page, and a
        write per request would queue the web threads behind each other's fsync.
        """
        now = time.time() if now is None else now
        digest = _token_sha256(token)
        with connect(self.path) as db:
            row = db.execute("SELECT u.name, u.role, u.display_name, u.disabled, u.created, "
                             "s.last_seen, s.created "
                             "FROM sessions s JOIN users u ON u.name = s.user "
                             "WHERE s.token_sha256 = ?", (digest,)).fetchone()
            if row is None:
                return None
            if row[3] or now - row[5] > self.idle_timeout or now - row[6] > self.lifetime:
                db.execute("DELETE FROM sessions WHERE token_sha256 = ?", (digest,))
                return None
            if now - row[5] >= TOUCH_EVERY:
                db.execute("UPDATE sessions SET last_seen = MAX(last_seen, ?) WHERE token_sha256 = ?",
                           (now, digest))
        return _user(row[:5])

    def close_session(self, token: str) -> None:
        """Log out; an unknown token is not an error (the session may have expired)."""
        with connect(self.path) as db, write_transaction(db):
            db.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_token_sha256(token),))

    @staticmethod
    def _require(db: sqlite3.Connection, name: str) -> None:
        if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
            raise AccountError(f"no user named {name!r}")


def _user(row: tuple) -> User:
    name, role, display_name, disabled, created = row
    return User(name=name, role=role, display_name=display_name, disabled=bool(disabled), created=created)


def _refuse_existing(db: sqlite3.Connection, name: str) -> None:
    if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        raise AccountError(f"user {name!r} already exists")


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError(f"invalid user name {name!r}: use 2 to 32 characters among "
                           "lower-case letters, digits, '.', '_' and '-'")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")


def _check_password(password: str, allow_short: bool) -> None:
    if not password:
        raise AccountError("the password is empty")
    if len(password) < MIN_PASSWORD and not allow_short:
        raise AccountError(f"the password is too short: at least {MIN_PASSWORD} characters")
