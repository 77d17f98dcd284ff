"""Station accounts, sessions and audit log: real SQLite files, real scrypt, the real CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import re
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from releve.cli.station_users import audit_command, user_app
from releve.station.folder import local_db
from releve.station.local import accounts as accounts_module
from releve.station.local.accounts import ROLES, AccountError, Accounts, User
from releve.station.local.audit import GENESIS, Audit, AuditEntry, AuditError
from releve.station.local.wards import Wards

PASSWORD = "correct horse"


@pytest.fixture
def station(tmp_path: Path) -> Path:
    path = tmp_path / "station"
    path.mkdir()
    return path


@pytest.fixture
def accounts(station: Path) -> Accounts:
    return Accounts(station)


@pytest.fixture
def alice(accounts: Accounts) -> User:
    accounts.add_user("alice", "nurse", PASSWORD, "Alice Martin")
    user = accounts.get_user("alice")
    assert user is not None
    return user


def raw(station: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, as someone with the file would open it."""
    return sqlite3.connect(station / "local.sqlite", isolation_level=None)


def file_bytes(station: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(station.glob("local.sqlite*")))


# --- users --------------------------------------------------------------------------------


def test_roles_are_the_five_of_the_ward() -> None:
    assert ROLES == ("nurse", "physician", "pharmacist", "secretary", "admin", "crisis")


def test_a_user_logs_in_with_the_right_password_only(accounts: Accounts, alice: User) -> None:
    assert accounts.authenticate("alice", PASSWORD) == alice
    assert alice == User("alice", "nurse", "Alice Martin", False, alice.created)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", alice.created)
    assert accounts.authenticate("alice", "wrong horse") is None
    assert accounts.authenticate("alice", "") is None
    assert accounts.authenticate("bob", PASSWORD) is None


def test_an_unknown_name_costs_a_hash_like_a_known_one(accounts: Accounts, alice: User,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real = accounts_module.check_password
    monkeypatch.setattr(accounts_module, "check_password",
                        lambda password, stored: checked.append(stored) or real(password, stored))
    assert accounts.authenticate("nobody", PASSWORD) is None
    assert len(checked) == 1 and checked[0].startswith("scrypt$16384$8$1$")
    start = time.perf_counter()
    accounts.authenticate("nobody", PASSWORD)
    unknown = time.perf_counter() - start
    start = time.perf_counter()
    accounts.authenticate("alice", "wrong horse")
    known = time.perf_counter() - start
    assert unknown > known / 5 and known > unknown / 5  # loose: the machine may be busy


def test_passwords_are_stored_as_self_describing_scrypt(station: Path, accounts: Accounts, alice: User) -> None:
    accounts.add_user("bruno", "physician", PASSWORD)
    with raw(station) as db:
        stored = dict(db.execute("SELECT name, password FROM users").fetchall())
    for value in stored.values():
        scheme, n, r, p, salt, digest = value.split("$")
        assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
        assert len(base64.b64decode(salt)) == 16
        assert len(base64.b64decode(digest)) == 32
    assert stored["alice"] != stored["bruno"]  # same password, different salts
    assert PASSWORD.encode() not in file_bytes(station)


def test_a_hash_with_old_parameters_is_redone_at_login(station: Path, accounts: Accounts, alice: User) -> None:
    weak = accounts_module.hash_password(PASSWORD, n=2**10)
    with raw(station) as db:
        db.execute("UPDATE users SET password = ? WHERE name = 'alice'", (weak,))
    assert accounts.authenticate("alice", PASSWORD) == alice
    with raw(station) as db:
        (stored,) = db.execute("SELECT password FROM users WHERE name = 'alice'").fetchone()
    assert stored.startswith("scrypt$16384$8$1$")
    assert accounts.authenticate("alice", PASSWORD) == alice


def test_a_disabled_user_cannot_log_in_until_enabled(accounts: Accounts, alice: User) -> None:
    accounts.disable("alice")
    assert accounts.authenticate("alice", PASSWORD) is None
    assert accounts.list_users()[0].disabled is True
    accounts.enable("alice")
    assert accounts.authenticate("alice", PASSWORD) == alice


@pytest.mark.parametrize("name", ["a", "x" * 33, "Alice", "al ice", "élise", "al/ice", "", "bob;--"])
def test_names_outside_the_pattern_are_refused(accounts: Accounts, name: str) -> None:
    with pytest.raises(AccountError, match="invalid user name"):
        accounts.add_user(name, "nurse", PASSWORD)
    assert accounts.list_users() == []


def test_names_inside_the_pattern_are_accepted(accounts: Accounts) -> None:
    accounts.add_user("j.dupont-2_b", "admin", PASSWORD)
    accounts.add_user("x" * 32, "secretary", PASSWORD)
    assert [u.name for u in accounts.list_users()] == ["j.dupont-2_b", "x" * 32]


def test_unknown_roles_short_passwords_and_duplicates_are_refused(accounts: Accounts, alice: User) -> None:
    with pytest.raises(AccountError, match="unknown role 'surgeon': choose one of nurse, physician"):
        accounts.add_user("bruno", "surgeon", PASSWORD)
    with pytest.raises(AccountError, match="too short: at least 8"):
        accounts.add_user("bruno", "nurse", "1234567")
    with pytest.raises(AccountError, match="user 'alice' already exists"):
        accounts.add_user("alice", "physician", "another password")
    with pytest.raises(AccountError, match="already exists"):
        accounts.check_new_user("alice", "nurse")
    assert [u.name for u in accounts.list_users()] == ["alice"]
    assert accounts.authenticate("alice", PASSWORD) == alice  # the original is untouched


def test_the_demo_may_use_short_passwords_but_never_empty_ones(accounts: Accounts) -> None:
    accounts.add_user("demo", "nurse", "demo", allow_short=True)
    assert accounts.authenticate("demo", "demo") is not None
    with pytest.raises(AccountError, match="empty"):
        accounts.add_user("demo2", "nurse", "", allow_short=True)


def test_display_name_defaults_to_the_login(accounts: Accounts) -> None:
    assert not accounts.has_users()
    accounts.add_user("bruno", "physician", PASSWORD)
    assert accounts.has_users()
    assert accounts.get_user("bruno").display_name == "bruno"
    assert accounts.get_user("nobody") is None


def test_changing_users_that_do_not_exist_says_so(accounts: Accounts) -> None:
    for call in (lambda: accounts.set_password("ghost", PASSWORD), lambda: accounts.disable("ghost"),
                 lambda: accounts.enable("ghost")):
        with pytest.raises(AccountError, match="no user named 'ghost'"):
            call()


def test_a_new_password_replaces_the_old_and_ends_sessions(accounts: Accounts, alice: User) -> None:
    token = accounts.open_session(alice)
    accounts.set_password("alice", "new password 2")
    assert accounts.authenticate("alice", PASSWORD) is None
    assert accounts.authenticate("alice", "new password 2") == alice
    assert accounts.session_user(token) is None
    with pytest.raises(AccountError, match="too short"):
        accounts.set_password("alice", "short")


def test_the_station_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(AccountError, match="does not exist"):
        Accounts(tmp_path / "typo")
    with pytest.raises(AuditError, match="does not exist"):
        Audit(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_the_database_and_its_wal_files_are_private(station: Path, alice: User) -> None:
    old = os.umask(0o022)
    try:
        keep_open = raw(station)  # keeps -wal and -shm on disk while we write
        keep_open.execute("SELECT 1 FROM users").fetchall()
        Audit(station).record("alice", "view", "/patients/p1", "p1")
        files = sorted(station.glob("local.sqlite*"))
        assert [f.name for f in files] == ["local.sqlite", "local.sqlite-shm", "local.sqlite-wal"]
        for f in files:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        keep_open.close()
    finally:
        os.umask(old)
    with raw(station) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_existing_database_with_loose_mode_is_made_private(station: Path) -> None:
    (station / "local.sqlite").touch(mode=0o644)
    os.chmod(station / "local.sqlite", 0o644)
    Accounts(station)
    assert stat.S_IMODE((station / "local.sqlite").stat().st_mode) == 0o600


# --- sessions -----------------------------------------------------------------------------


def test_a_session_token_finds_its_user_and_is_stored_hashed(station: Path, accounts: Accounts,
                                                             alice: User) -> None:
    token = accounts.open_session(alice)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 random bytes, urlsafe base64
    assert accounts.open_session(alice) != token
    assert accounts.session_user(token) == alice
    with raw(station) as db:
        stored = [row[0] for row in db.execute("SELECT token_sha256 FROM sessions")]
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token.encode() not in file_bytes(station)


def test_unknown_and_closed_sessions_have_no_user(accounts: Accounts, alice: User) -> None:
    assert accounts.session_user("not-a-token") is None
    token = accounts.open_session(alice)
    accounts.close_session(token)
    assert accounts.session_user(token) is None
    accounts.close_session(token)  # twice is fine


def test_a_session_expires_after_the_idle_timeout_unless_used(station: Path, alice: User) -> None:
    accounts = Accounts(station, idle_timeout=600)
    token = accounts.open_session(alice)
    start = time.time()
    assert accounts.session_user(token, now=start + 500) == alice   # touches it
    assert accounts.session_user(token, now=start + 1000) == alice  # 500 s after the touch
    assert accounts.session_user(token, now=start + 1601) is None   # 601 s idle
    assert accounts.session_user(token, now=start + 1000) is None   # and it is gone for good


def test_the_default_idle_timeout_is_fifteen_minutes(accounts: Accounts, alice: User) -> None:
    token = accounts.open_session(alice)
    assert accounts.session_user(token, now=time.time() + 14 * 60) == alice
    assert accounts.session_user(token, now=time.time() + 14 * 60 + 15 * 60 + 5) is None


def test_disabling_a_user_ends_their_sessions(accounts: Accounts, alice: User) -> None:
    token = accounts.open_session(alice)
    accounts.disable("alice")
    assert accounts.session_user(token) is None
    with pytest.raises(AccountError, match="disabled"):
        accounts.open_session(alice)
    accounts.enable("alice")
    assert accounts.session_user(token) is None  # enabling does not revive old sessions


def test_a_user_disabled_behind_the_apps_back_has_no_session(station: Path, accounts: Accounts,
                                                            alice: User) -> None:
    token = accounts.open_session(alice)
    with raw(station) as db:
        db.execute("UPDATE users SET disabled = 1 WHERE name = 'alice'")
    assert accounts.session_user(token) is None


# --- audit --------------------------------------------------------------------------------


def test_entries_are_numbered_timed_and_read_newest_first(station: Path) -> None:
    audit = Audit(station)
    assert audit.verify() == 0
    assert audit.record("alice", "login", "/login") == 1
    assert audit.record("alice", "search", "/patients", detail="hélène dupont") == 2
    assert audit.record("alice", "view", "/patients/p1", patient="p1") == 3
    assert audit.record("bruno", "view", "/patients/p2", patient="p2") == 4
    entries = audit.entries()
    assert [e.seq for e in entries] == [4, 3, 2, 1]
    assert entries[2] == AuditEntry(2, entries[2].time, "alice", "search", "/patients", None,
                                    "hélène dupont", entries[2].hash)
    for e in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e.time)
    assert [e.seq for e in audit.entries(patient="p1")] == [3]
    assert [e.seq for e in audit.entries(user="alice")] == [3, 2, 1]
    assert [e.seq for e in audit.entries(user="alice", patient="p2")] == []
    assert [e.seq for e in audit.entries(limit=2, offset=1)] == [3, 2]
    assert audit.verify() == 4


def test_the_hash_chain_is_the_documented_one(station: Path) -> None:
    audit = Audit(station)
    audit.record("alice", "search", "/patients", detail="Hélène \"la\" Dupont")
    audit.record("alice", "view", "/patients/p1", patient="p1")
    with raw(station) as db:
        rows = db.execute("SELECT seq, time, user, action, page, patient, detail, prev_hash, hash "
                          "FROM audit ORDER BY seq").fetchall()
    prev = "0" * 64
    assert GENESIS == prev
    for row in rows:
        assert row[7] == prev
        canonical = json.dumps(list(row[:8]), ensure_ascii=False, separators=(",", ":")).encode()
        assert row[8] == hashlib.sha256(canonical).hexdigest()
        prev = row[8]
    assert b'"H\xc3\xa9l\xc3\xa8ne \\"la\\" Dupont"' in json.dumps(
        list(rows[0][:8]), ensure_ascii=False, separators=(",", ":")).encode()


def test_text_sqlite_cannot_hold_is_kept_readable(station: Path) -> None:
    audit = Audit(station)
    audit.record("alice", "search", "/patients", detail="h\udce9l\u00e8ne")
    assert audit.entries()[0].detail.endswith("l\u00e8ne")
    assert audit.verify() == 1


@pytest.mark.parametrize("statement", [
    "UPDATE audit SET detail = 'nothing to see' WHERE seq = 1",
    "UPDATE audit SET user = 'someone else'",
    "DELETE FROM audit WHERE seq = 2",
    "DELETE FROM audit",
    "INSERT OR REPLACE INTO audit VALUES (1, 't', 'u', 'view', '/', NULL, NULL, '{g}', 'h')",
    "INSERT INTO audit VALUES (3, 't', 'u', 'view', '/', NULL, NULL, '{g}', 'h')",
    "INSERT INTO audit VALUES (5, 't', 'u', 'view', '/', NULL, NULL, '{g}', 'h')",
])
def test_raw_sql_cannot_change_or_remove_entries(station: Path, statement: str) -> None:
    audit = Audit(station)
    audit.record("alice", "view", "/patients/p1", patient="p1")
    audit.record("alice", "view", "/patients/p2", patient="p2")
    before = audit.entries()
    with raw(station) as db, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute(statement.format(g=GENESIS))
    assert audit.entries() == before
    assert audit.verify() == 2


def _tamper(station: Path, *statements: str) -> None:
    """What someone with the file and the sqlite3 shell could do."""
    with raw(station) as db:
        for trigger in ("audit_no_update", "audit_no_delete", "audit_append_next"):
            db.execute(f"DROP TRIGGER {trigger}")
        for statement in statements:
            db.execute(statement)


@pytest.fixture
def three_entries(station: Path) -> Audit:
    audit = Audit(station)
    for patient in ("p1", "p2", "p3"):
        audit.record("alice", "view", f"/patients/{patient}", patient=patient)
    return audit


def test_an_edited_entry_is_caught(station: Path, three_entries: Audit) -> None:
    _tamper(station, "UPDATE audit SET patient = 'p9' WHERE seq = 2")
    with pytest.raises(AuditError, match="entry 2 has been altered") as caught:
        three_entries.verify()
    assert caught.value.seq == 2


def test_an_edited_entry_with_its_hash_redone_is_caught_at_the_next(station: Path, three_entries: Audit) -> None:
    (time_, prev) = raw(station).execute("SELECT time, prev_hash FROM audit WHERE seq = 2").fetchone()
    forged = hashlib.sha256(json.dumps([2, time_, "alice", "view", "/patients/p2", "p9", None, prev],
                                       ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
    _tamper(station, f"UPDATE audit SET patient = 'p9', hash = '{forged}' WHERE seq = 2")
    with pytest.raises(AuditError, match="entry 3 does not follow entry 2") as caught:
        three_entries.verify()
    assert caught.value.seq == 3


def test_a_deleted_entry_is_caught(station: Path, three_entries: Audit) -> None:
    _tamper(station, "DELETE FROM audit WHERE seq = 2")
    with pytest.raises(AuditError, match="entry 2 is missing") as caught:
        three_entries.verify()
    assert caught.value.seq == 2


def test_a_rebuilt_table_with_a_changed_row_is_caught(station: Path, three_entries: Audit) -> None:
    _tamper(station,
            "CREATE TABLE copy AS SELECT * FROM audit",
            "DROP TABLE audit",
            "CREATE TABLE audit AS SELECT * FROM copy",
            "UPDATE audit SET user = 'bruno' WHERE seq = 1",
            "DROP TABLE copy")
    with pytest.raises(AuditError, match="entry 1 has been altered"):
        three_entries.verify()


def _append_many(station: Path, who: str, count: int) -> None:
    audit = Audit(station)
    for i in range(count):
        audit.record(who, "view", f"/patients/p{i}", patient=f"p{i}")


def test_concurrent_threads_give_a_gapless_chain(station: Path) -> None:
    threads = [threading.Thread(target=_append_many, args=(station, f"t{n}", 25)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    audit = Audit(station)
    assert audit.verify() == 200
    entries = audit.entries(limit=1000)
    assert sorted(e.seq for e in entries) == list(range(1, 201))
    assert {e.user for e in entries} == {f"t{n}" for n in range(8)}
    assert all(len(audit.entries(limit=100, user=f"t{n}")) == 25 for n in range(8))


def test_concurrent_processes_give_a_gapless_chain(station: Path) -> None:
    Audit(station).record("admin", "login", "/login")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(station, f"w{n}", 20)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert Audit(station).verify() == 81


# --- command line -------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    """Mounted the way `releve station` mounts them."""
    app = typer.Typer()
    app.add_typer(user_app, name="user")
    app.command("audit")(audit_command)
    return app


def invoke(cli: typer.Typer, *args: str | Path, input: str | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_cli_adds_with_password_from_stdin_and_lists(cli: typer.Typer, station: Path) -> None:
    result = invoke(cli, "user", "add", "alice", "--role", "nurse", "--ward", "loc-a", "--display-name", "Alice Martin",
                    "--password-stdin", "--station", station, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "user alice added (nurse)" in result.stdout
    assert Accounts(station).authenticate("alice", PASSWORD).display_name == "Alice Martin"
    listed = invoke(cli, "user", "list", "--station", station)
    assert listed.exit_code == 0
    assert re.search(r"alice\s.*nurse\s.*loc-a\s.*Alice Martin\s.*enabled", listed.stdout)


def test_cli_add_keeps_no_account_whose_wards_failed(cli: typer.Typer, station: Path) -> None:
    """The account and its wards are one transaction: an account of a ward role left
    without wards would see every patient (the rule for accounts from before wards)."""
    Wards(station)  # the table, for the trigger that refuses the wards after the insert
    db = sqlite3.connect(local_db(station), isolation_level=None)
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON user_wards "
               "BEGIN SELECT RAISE(ABORT, 'ward refused'); END")
    db.close()
    result = invoke(cli, "user", "add", "alice", "--role", "nurse", "--ward", "loc-a",
                    "--password-stdin", "--station", station, input=PASSWORD + "\n")
    assert result.exit_code == 1 and "ward refused" in result.stderr
    assert Accounts(station).get_user("alice") is None
    assert Audit(station).entries() == []


def test_cli_prompts_twice_when_not_reading_stdin(cli: typer.Typer, station: Path) -> None:
    result = invoke(cli, "user", "add", "bruno", "--role", "physician", "--ward", "loc-a", "--station", station,
                    input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output  # hidden input
    assert Accounts(station).authenticate("bruno", PASSWORD) is not None


def test_cli_bad_role_is_one_clear_line_and_status_1(cli: typer.Typer, station: Path) -> None:
    result = invoke(cli, "user", "add", "alice", "--role", "surgeon", "--password-stdin",
                    "--station", station, input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("error: unknown role 'surgeon': choose one of nurse, physician, "
                                     "pharmacist, secretary, admin, crisis")
    assert not Accounts(station).has_users()


@pytest.mark.parametrize("args, input, message", [
    (["user", "add", "alice", "--role", "nurse", "--ward", "loc-a", "--password-stdin"], "short\n",
     "too short"),
    (["user", "add", "Alice!", "--role", "nurse", "--password-stdin"], PASSWORD + "\n", "invalid user name"),
    (["user", "disable", "ghost"], None, "no user named 'ghost'"),
    (["user", "passwd", "ghost", "--password-stdin"], PASSWORD + "\n", "no user named 'ghost'"),
])
def test_cli_refusals_exit_1(cli: typer.Typer, station: Path, args: list[str], input: str | None,
                             message: str) -> None:
    result = invoke(cli, *args, "--station", station, input=input)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_missing_station_folder(cli: typer.Typer, tmp_path: Path) -> None:
    result = invoke(cli, "user", "list", "--station", tmp_path / "typo")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert invoke(cli, "user", "list").exit_code == 2  # --station is required


def test_cli_disable_enable_passwd_and_audit(cli: typer.Typer, station: Path) -> None:
    invoke(cli, "user", "add", "alice", "--role", "nurse", "--ward", "loc-a", "--password-stdin",
           "--station", station, input=PASSWORD + "\n")
    assert invoke(cli, "user", "disable", "alice", "--station", station).exit_code == 0
    assert "disabled" in invoke(cli, "user", "list", "--station", station).stdout
    assert Accounts(station).authenticate("alice", PASSWORD) is None
    assert invoke(cli, "user", "enable", "alice", "--station", station).exit_code == 0
    result = invoke(cli, "user", "passwd", "alice", "--password-stdin", "--station", station,
                    input="a new password\n")
    assert result.exit_code == 0 and "password of alice changed" in result.stdout
    assert Accounts(station).authenticate("alice", "a new password") is not None

    Audit(station).record("alice", "view", "/patients/p1", patient="p1")
    shown = CliRunner().invoke(cli, ["audit", "--station", str(station)], env={"COLUMNS": "160"})
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    assert any(re.search(r"5 .*alice .*view .*/patients/p1 .*p1", line) for line in lines)
    assert any(re.search(r"1 .*os:\S+ .*user-add .*cli .*alice", line) for line in lines)
    assert [e.action for e in Audit(station).entries()] == [
        "view", "user-passwd", "user-enable", "user-disable", "user-add"]
    assert "#" in invoke(cli, "audit", "--limit", "1", "--station", station).stdout
    verified = invoke(cli, "audit", "--verify", "--station", station)
    assert verified.exit_code == 0 and "OK audit log: 5 entries, chain sound" in verified.stdout


def test_cli_audit_verify_reports_a_broken_chain(cli: typer.Typer, station: Path, three_entries: Audit) -> None:
    _tamper(station, "UPDATE audit SET page = '/elsewhere' WHERE seq = 3")
    result = invoke(cli, "audit", "--verify", "--station", station)
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: audit entry 3 has been altered (its hash does not match its content)"
