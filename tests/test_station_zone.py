"""A station's day is its own: the OR schedule follows the station's time zone.

French hospitals are not all in Paris' zone (Réunion is UTC+4, French Guiana UTC-3). The
same Appointment, written by the HIS in UTC, falls on different calendar days depending on
where the ward is; the station's `timezone` setting decides, on the page and on paper.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from releve.station.index.connection import reader
from releve.station.views import schedule

from conftest import StationFixture, _station_from

LATE = "2026-01-14T23:30:00Z"  # 00:30 on the 15th in Paris, 03:30 in Réunion, 20:30 in Cayenne
NOON = "2026-01-14T12:00:00+01:00"  # noon in Paris: on the 14th everywhere here


def _appointment(aid: str, start: str, description: str) -> dict:
    return {"resourceType": "Appointment", "id": aid, "status": "booked", "start": start,
            "end": start.replace(":00:00", ":45:00").replace(":30:00", ":59:00"),
            "description": description,
            "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"},
                            {"actor": {"reference": "Location/bloc-1"}, "status": "accepted"}]}


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> StationFixture:
    folder = tmp_path_factory.mktemp("zone")
    inputs = folder / "input"
    inputs.mkdir()
    resources = [
        {"resourceType": "Patient", "id": "p1", "name": [{"family": "Payet", "given": ["Rose"]}]},
        {"resourceType": "Location", "id": "bloc-1", "name": "Salle 1", "status": "active"},
        _appointment("late", LATE, "Appendicectomie"),
        _appointment("noon", NOON, "Cholécystectomie"),
    ]
    (inputs / "resources.ndjson").write_bytes(b"\n".join(map(orjson.dumps, resources)) + b"\n")
    return _station_from(folder, inputs)


def _procedures(station: StationFixture, day: str, zone: str) -> list[str]:
    conn = reader(station.dir)
    try:
        rooms = schedule.day_schedule(conn, dt.date.fromisoformat(day), zone)
    finally:
        conn.close()
    return [b.procedure for room in rooms for b in room.bookings]


@pytest.mark.parametrize(("zone", "on_14th", "on_15th"), [
    ("Europe/Paris", ["Cholécystectomie"], ["Appendicectomie"]),
    ("Indian/Reunion", ["Cholécystectomie"], ["Appendicectomie"]),
    ("America/Cayenne", ["Cholécystectomie", "Appendicectomie"], []),
])
def test_or_day_follows_the_station_zone(station: StationFixture, zone: str,
                                         on_14th: list[str], on_15th: list[str]) -> None:
    assert _procedures(station, "2026-01-14", zone) == on_14th
    assert _procedures(station, "2026-01-15", zone) == on_15th
    assert _procedures(station, "2026-01-13", zone) == []


def test_bookings_are_indexed_by_utc_day(station: StationFixture) -> None:
    """The index holds no time zone: a station whose zone changes needs no rebuild."""
    conn = reader(station.dir)
    try:
        days = dict(conn.execute("SELECT appointment, day FROM bookings").fetchall())
    finally:
        conn.close()
    assert days == {"late": "2026-01-14", "noon": "2026-01-14"}


def test_or_page_uses_the_station_setting(station: StationFixture, tmp_path: Path) -> None:
    from releve.station.sync import Settings
    from test_station_web import add_users, station_site

    from conftest import copy_station

    own = copy_station(station, tmp_path / "station")
    settings = Settings.load(own.dir)
    settings.timezone = "America/Cayenne"
    settings.save(own.dir)
    add_users(own.dir)
    with station_site(own.dir) as site:
        nurse = site.login("nurse")
        late = nurse.get("/or", params={"date": "2026-01-14"}).text
        next_day = nurse.get("/or", params={"date": "2026-01-15"}).text
        nurse.close()
    assert "Appendicectomie" in late and "Cholécystectomie" in late
    assert "Appendicectomie" not in next_day


def test_age_turns_at_the_station_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    """A patient born on 15 January 1950: at 2026-01-14T23:30Z it is already the 15th in
    Paris and Réunion (76 years old there) but still the 14th in Cayenne (75)."""
    from releve.station.views import formats

    monkeypatch.setenv("RELEVE_NOW", LATE)
    assert formats.age_text("1950-01-15", zone="Indian/Reunion") == "76 ans"
    assert formats.age_text("1950-01-15", zone="Europe/Paris") == "76 ans"
    assert formats.age_text("1950-01-15", zone="America/Cayenne") == "75 ans"
