"""`releve station set-ward`: the ward a station serves, the page its staff land on.

A station stands in one ward (a PC at the nurses' desk): after sign-in, its staff want
their census, not the hospital's list of wards. The ward is set at `releve station init
--ward CODE` or later here, kept as typed in station.json (`ward`), and resolved against
the data at each sign-in (views/wards.py: Location id, name or code), since a new
station holds no data yet and a ward the HIS renames keeps its code.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..station.index.connection import reader
from ..station.sync import Settings
from .console import clear_errors, err, fail, out
from .station_users import record_admin


def ward_text(ward: str | None) -> str | None:
    """The ward as given, trimmed; an empty one is an operator's slip, said as such."""
    if ward is not None and not ward.strip():
        fail("--ward must name a ward (its Location id, name or code)", 2)
    return ward.strip() if ward else None


def set_ward(ward: str | None = typer.Argument(None, help="The ward: Location id, name or code"),
             station: Path = typer.Option(..., "--station", help="The station's folder"),
             none: bool = typer.Option(False, "--none", help="No ward: open on the list of wards")) -> None:
    """Set the ward this station serves: after sign-in, its staff land on that ward's
    census (when their account may see it), not on the list of wards."""
    if (ward is None) == (not none):
        fail("give a ward, or --none", 2)
    with clear_errors():
        settings = Settings.load(station)
        settings.ward = ward_text(ward)
        settings.save(station)
        record_admin(station, "set-ward", settings.ward or "none")
        known = ward_known(station, settings.ward)
    if settings.ward is None:
        out.print("no ward set: the station opens on the list of wards")
        return
    out.print(f"station ward set to {escape(settings.ward)}", highlight=False)
    if known is False:
        err.print(f"[yellow]warning:[/] no ward named {escape(settings.ward)!r} in this station's "
                  "data; the station opens on the list of wards until there is one",
                  highlight=False)


def ward_known(station: Path, ward: str | None) -> bool | None:
    """Whether the data names that ward (None: no ward, or no data yet to tell)."""
    from ..station.views.wards import UnknownWard, find_ward

    conn = reader(station) if ward else None
    if conn is None or ward is None:
        return None
    try:
        find_ward(conn, ward)
        return True
    except UnknownWard:
        return False
    finally:
        conn.close()
