"""Failed logins, counted per account and per client address, and the locks they earn.

Someone guessing passwords on a ward PC, or from another machine on the hospital network,
gets a handful of tries: past `limit` failures within `window` seconds the account (or
the address) is locked for `lock` seconds, whatever password comes next. The account is
keyed by the name typed, whether it exists or not, so a lock says nothing about which
names are real. The address limit is higher than the account's: a ward PC is shared, and
a few nurses mistyping their own passwords must not lock the whole ward out of its
station.

The counts live in `local.sqlite` (table `login_failures`, next to the accounts), so a
restart of the web app does not reset them. The table is not the audit log: it is
overwritten freely, which is what lets the audit log receive one entry per burst (the
first failure, the lock, the tries refused during the lock) rather than one per try.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .accounts import AccountError, connect, create_local_db, write_transaction

ACCOUNT_LIMIT = 5  # failures per account name...
ADDRESS_LIMIT = 20  # ...and per client address...
WINDOW = 15 * 60  # ...within this many seconds...
LOCK = 15 * 60  # ...lock it for this many seconds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failures (
    key          TEXT PRIMARY KEY,   -- 'account:NAME' or 'address:IP'
    failures     INTEGER NOT NULL,   -- in the window that began at `first`
    first        REAL NOT NULL,      -- Unix time of the window's first failure
    locked_until REAL NOT NULL DEFAULT 0,
    refused      INTEGER NOT NULL DEFAULT 0  -- tries turned away while locked
);
"""


@dataclass(frozen=True)
class Outcome:
    """What a failure (or a refused try) means for the audit log and the page."""

    first: bool = False  # the first failure of a burst: audit it
    locked: tuple[str, ...] = ()  # keys this failure locked: audit the lock
    refused_before: dict[str, int] | None = None  # tries refused during locks now over


class LoginThrottle:
    """Counts failures and says whether a key is locked; the numbers are attributes so a
    station (or a test) can pin them."""

    def __init__(self, station_dir: Path, *, account_limit: int = ACCOUNT_LIMIT,
                 address_limit: int = ADDRESS_LIMIT, window: float = WINDOW,
                 lock: float = LOCK) -> None:
        self.path = create_local_db(Path(station_dir), _SCHEMA, AccountError)
        self.account_limit, self.address_limit = account_limit, address_limit
        self.window, self.lock = window, lock

    @staticmethod
    def keys(name: str, address: str) -> tuple[str, str]:
        return f"account:{name}", f"address:{address}"

    def locked_for(self, keys: tuple[str, ...], now: float | None = None) -> float:
        """Seconds until every one of `keys` is unlocked (0: none is locked); a locked key
        counts this try as refused."""
        now = time.time() if now is None else now
        marks = ",".join("?" * len(keys))
        with connect(self.path) as db, write_transaction(db):
            rows = db.execute(f"SELECT key, locked_until FROM login_failures WHERE key IN ({marks}) "
                              "AND locked_until > ?", (*keys, now)).fetchall()
            for key, _ in rows:
                db.execute("UPDATE login_failures SET refused = refused + 1 WHERE key = ?", (key,))
        return max((until - now for _, until in rows), default=0.0)

    def failed(self, keys: tuple[str, ...], now: float | None = None) -> Outcome:
        """Count one failure on each key; lock those that reach their limit."""
        now = time.time() if now is None else now
        first, locked, refused = False, [], {}
        with connect(self.path) as db, write_transaction(db):
            for key in keys:
                row = db.execute("SELECT failures, first, locked_until, refused FROM login_failures "
                                 "WHERE key = ?", (key,)).fetchone()
                if row is None or now - row[1] > self.window or 0 < row[2] <= now:
                    failures, start = 1, now  # a new burst: the window or the lock is over
                    first = True
                    if row is not None and row[3]:
                        refused[key] = row[3]
                else:
                    failures, start = row[0] + 1, row[1]
                until = now + self.lock if failures >= self._limit(key) else 0.0
                if until:
                    locked.append(key)
                db.execute("INSERT OR REPLACE INTO login_failures (key, failures, first, "
                           "locked_until, refused) VALUES (?, ?, ?, ?, 0)",
                           (key, failures, start, until))
        return Outcome(first=first, locked=tuple(locked), refused_before=refused or None)

    def succeeded(self, account_key: str) -> dict[str, int] | None:
        """Forget the account's failures; the tries refused during its last lock, if any
        (the address keeps its count: one good password does not clear many guesses)."""
        with connect(self.path) as db, write_transaction(db):
            row = db.execute("SELECT refused FROM login_failures WHERE key = ?",
                             (account_key,)).fetchone()
            db.execute("DELETE FROM login_failures WHERE key = ?", (account_key,))
        return {account_key: row[0]} if row and row[0] else None

    def unlock(self, name: str) -> bool:
        """End the account's lock and forget its failures (an administrator's decision:
        anyone can lock a nurse out by typing her name five times); True if it was locked."""
        key = f"account:{name}"
        with connect(self.path) as db, write_transaction(db):
            row = db.execute("SELECT locked_until FROM login_failures WHERE key = ?", (key,)).fetchone()
            db.execute("DELETE FROM login_failures WHERE key = ?", (key,))
        return row is not None and row[0] > time.time()

    def _limit(self, key: str) -> int:
        return self.account_limit if key.startswith("account:") else self.address_limit
