"""`releve station user ...` and `releve station audit`: accounts and audit from the shell.

`user_app` is a Typer group meant to be mounted as `releve station user`; `audit_command`
is a plain function meant to be registered as `releve station audit`. Each command takes
`--station DIR`. Errors an operator can act on are one red line on stderr and status 1.

Changes to accounts made here are themselves written to the audit log (user
`os:<login>`), so who created or re-enabled an account is on record next to what it saw;
`releve station downtime` records its declarations the same way (`record_admin`).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..station.local.accounts import ROLES, AccountError, Accounts
from ..station.local.audit import Audit
from ..station.local.throttle import LoginThrottle
from ..station.local.wards import HOSPITAL_ROLES, WARD_ROLES, Wards, check_wards
from .console import clear_errors, err, fail, out

user_app = typer.Typer(help="Create and manage the station's local accounts.",
                       no_args_is_help=True, add_completion=False)

STATION = typer.Option(..., "--station", help="The station's folder")
PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="Read the password from standard input")


@contextlib.contextmanager
def local_errors() -> Iterator[None]:
    """clear_errors, and a local database or station folder that cannot be used said as
    such: these commands touch nothing else."""
    with clear_errors():
        try:
            yield
        except sqlite3.Error as exc:
            fail(f"the station's local database cannot be used: {exc}")
        except OSError as exc:
            fail(f"{exc.filename or 'station folder'}: {exc.strerror}")


def read_password(from_stdin: bool) -> str:
    """The first line of stdin (without its newline), or a hidden prompt asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def os_login() -> str:
    """Who runs an administrative command, as the audit log names them."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # a container's uid with no passwd entry
        return f"os:uid{os.getuid()}"


def record_admin(station: Path, action: str, detail: str | None) -> None:
    """Put an administrative change on record, under the operating-system login that made it."""
    Audit(station).record(os_login(), action, "cli", detail=detail)


WARD = typer.Option([], "--ward", help="A ward (unit id, as in /wards/ID) whose patients the "
                   f"user opens directly; repeat for several. Required for {', '.join(WARD_ROLES)}; "
                   f"{', '.join(HOSPITAL_ROLES)} see every patient")


@user_app.command("add")
def add(name: str,
        role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}"),
        ward: list[str] = WARD,
        display_name: str | None = typer.Option(None, "--display-name", help="Name shown in the app"),
        password_stdin: bool = PASSWORD_STDIN,
        station: Path = STATION) -> None:
    """Create a user (password prompted twice, or read from stdin)."""
    with local_errors():
        attached = Wards(station)
        attached.accounts.check_new_user(name, role)  # before asking for a password, not after
        check_wards(role, ward)
        attached.add_user(name, role, read_password(password_stdin), display_name, ward)
        record_admin(station, "user-add", _with_wards(name, ward))
    out.print(f"user {escape(name)} added ({role})", highlight=False)


@user_app.command("wards")
def wards(name: str, ward: list[str] = WARD, station: Path = STATION) -> None:
    """Attach a user of a ward role to these wards (replacing the ones they had)."""
    with local_errors():
        user = Accounts(station).get_user(name)
        if user is None:
            raise AccountError(f"no user named {name!r}")
        check_wards(user.role, ward)
        Wards(station).attach(name, ward)
        record_admin(station, "user-wards", _with_wards(name, ward))
    out.print(f"user {escape(name)} attached to {escape(', '.join(ward))}", highlight=False)


def _with_wards(name: str, units: list[str]) -> str:
    """The audit detail of an account change: who, and where they work."""
    return name + (f" wards={','.join(sorted(set(units)))}" if units else "")


@user_app.command("list")
def list_(station: Path = STATION) -> None:
    """Show every account, enabled or not."""
    with local_errors():
        users = Accounts(station).list_users()
    if not users:
        err.print("no users yet: create one with `releve station user add NAME --role ROLE`")
        return
    attached = Wards(station)
    table = Table("name", "role", "wards", "display name", "state", "created")
    for user in users:
        table.add_row(escape(user.name), user.role, _wards_shown(user.role, attached.of(user.name)),
                      escape(user.display_name),
                      "[red]disabled[/]" if user.disabled else "enabled", user.created)
    out.print(table)


def _wards_shown(role: str, units: list[str]) -> str:
    if role not in WARD_ROLES:
        return "all patients"
    if not units:  # an account from before wards: local/wards.py says why it sees everyone
        return "[yellow]all patients (no ward attached yet)[/]"
    return escape(", ".join(units))


@user_app.command("disable")
def disable(name: str, station: Path = STATION) -> None:
    """Stop a user logging in and end their sessions."""
    with local_errors():
        Accounts(station).disable(name)
        record_admin(station, "user-disable", name)
    out.print(f"user {escape(name)} disabled; their sessions are closed", highlight=False)


@user_app.command("enable")
def enable(name: str, station: Path = STATION) -> None:
    """Let a disabled user log in again."""
    with local_errors():
        Accounts(station).enable(name)
        record_admin(station, "user-enable", name)
    out.print(f"user {escape(name)} enabled", highlight=False)


@user_app.command("unlock")
def unlock(name: str, station: Path = STATION) -> None:
    """End the sign-in lock of an account (five failed logins lock it for a while)."""
    with local_errors():
        was_locked = LoginThrottle(station).unlock(name)
        record_admin(station, "user-unlock", name)
    out.print(f"user {escape(name)} " + ("unlocked" if was_locked else "was not locked; its "
                                         "failed logins are forgotten"), highlight=False)


@user_app.command("passwd")
def passwd(name: str, password_stdin: bool = PASSWORD_STDIN, station: Path = STATION) -> None:
    """Set a user's password; their open sessions are closed."""
    with local_errors():
        accounts = Accounts(station)
        if accounts.get_user(name) is None:
            raise AccountError(f"no user named {name!r}")
        accounts.set_password(name, read_password(password_stdin))
        record_admin(station, "user-passwd", name)
    out.print(f"password of {escape(name)} changed", highlight=False)


def audit_command(station: Path = STATION,
                  limit: int = typer.Option(50, "--limit", help="How many of the latest entries"),
                  patient: str | None = typer.Option(None, "--patient", help="Only this Patient id"),
                  user: str | None = typer.Option(None, "--user", help="Only this user"),
                  verify: bool = typer.Option(False, "--verify", help="Check the whole hash chain")) -> None:
    """Show the latest audit entries, or check the audit log's hash chain."""
    with local_errors():
        audit = Audit(station)
        if verify:
            count = audit.verify()
            out.print(f"[green]OK[/] audit log: {count} entries, chain sound", highlight=False)
            return
        entries = audit.entries(limit=limit, patient=patient, user=user)
    table = Table("#", "time (UTC)", "user", "action", "page", "patient", "detail")
    for e in entries:
        shown = e.patient or (f"{len(e.patients)} patients" if e.patients else "")
        table.add_row(str(e.seq), e.time, escape(e.user), escape(e.action), escape(e.page),
                      escape(shown), escape(e.detail or ""))
    out.print(table)
