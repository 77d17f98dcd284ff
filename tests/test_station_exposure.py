"""Who may see whom on a station, and the audit that proves it, over real HTTP on loopback.

Every patient a page or a printout shows is in the audit log under that patient's id (a
census, an OR day, search results: one entry listing them all); a ward's staff open the
patients of their wards directly and any other patient after giving a reason
(break-glass); the station's administration (downtime, accounts) is on record too.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.local.audit import Audit, AuditError
from releve.station.local.wards import Wards
from releve.station.sync import Settings
from test_station_web import PASSWORD, Site, station_site

from conftest import StationFixture, copy_station, run_releve


class Staff:
    """The signed-in browsers of the test station, and its facts."""

    def __init__(self, site: Site, station_dir: Path, home: str, other: str,
                 inside: str, outside: str) -> None:
        self.site, self.dir = site, station_dir
        self.home, self.other = home, other  # two units with patients
        self.inside, self.outside = inside, outside  # a patient of each
        self.clients: dict[str, httpx.Client] = {}

    def as_(self, name: str) -> httpx.Client:
        """A browser signed in as `name`; its requests carry the station's Origin, as a
        browser's form posts do."""
        if name not in self.clients:
            client = httpx.Client(base_url=self.site.url, follow_redirects=False, timeout=30,
                                  headers={"Origin": self.site.url})
            signed = client.post("/login", data={"username": name, "password": PASSWORD})
            assert signed.status_code == 303, signed.text
            self.clients[name] = client
        return self.clients[name]


def patients_by_unit(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Current patients of each unit ('wa'), from their bed, room or unit."""
    parent = dict(conn.execute("SELECT id, part_of FROM locations"))
    kind = dict(conn.execute("SELECT id, physical_type FROM locations"))
    found: dict[str, list[str]] = {}
    for patient, location in conn.execute("SELECT patient, location FROM stays WHERE current = 1 "
                                          "AND location IS NOT NULL ORDER BY patient"):
        place, steps = location, 0
        while place is not None and kind.get(place) != "wa" and steps < 5:
            place, steps = parent.get(place), steps + 1
        if place is not None and kind.get(place) == "wa":
            found.setdefault(place, []).append(patient)
    return found


@pytest.fixture(scope="module")
def staff(demo_station: StationFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staff]:
    station = copy_station(demo_station, tmp_path_factory.mktemp("exposure") / "s")
    conn = reader(station.dir)
    by_unit = patients_by_unit(conn)
    conn.close()
    home, other = sorted(by_unit, key=lambda u: -len(by_unit[u]))[:2]
    accounts, wards = Accounts(station.dir), Wards(station.dir)
    accounts.add_user("admin", "admin", PASSWORD)
    accounts.add_user("nina", "nurse", PASSWORD, "Nina Infirmière")
    wards.attach("nina", [home])
    accounts.add_user("nora", "nurse", PASSWORD)  # her break-glass is for a ward, not a patient
    wards.attach("nora", [home])
    accounts.add_user("olga", "nurse", PASSWORD)  # from before wards: none attached
    accounts.add_user("paul", "pharmacist", PASSWORD)
    with station_site(station.dir) as site:
        staff = Staff(site, station.dir, home, other, by_unit[home][0], by_unit[other][0])
        yield staff
        for client in staff.clients.values():
            client.close()


def index_of(staff: Staff) -> sqlite3.Connection:
    return reader(staff.dir)


def audited_pages(staff: Staff, patient: str) -> set[str]:
    """The pages of the admin's /audit?patient=X rows (the page column of each row)."""
    page = staff.as_("admin").get("/audit", params={"patient": patient})
    assert page.status_code == 200
    rows = re.findall(r'<tr class="action-[^"]*">(.*?)</tr>', page.text, re.S)
    return {re.findall(r"<td>(.*?)</td>", row, re.S)[3].strip() for row in rows}  # after time, user, action


# --- 1. every patient shown is on record ---------------------------------------------------------


def test_census_or_search_and_printouts_record_every_patient_shown(staff: Staff) -> None:
    conn = index_of(staff)
    day, booked = conn.execute("SELECT day, patient FROM bookings WHERE patient IS NOT NULL "
                               "ORDER BY day, start LIMIT 1").fetchone()
    family = conn.execute("SELECT family FROM patients WHERE id = ?", (staff.inside,)).fetchone()[0]
    conn.close()
    nurse = staff.as_("nina")
    for url in (f"/wards/{staff.home}", f"/wards/{staff.home}/print/census.pdf",
                f"/wards/{staff.home}/print/mar.pdf", f"/patients?q={family}",
                f"/patients/{staff.inside}", f"/patients/{staff.inside}/print/labels.pdf",
                f"/or?date={day}", f"/or/print.pdf?date={day}"):
        assert nurse.get(url).status_code == 200, url

    shown = audited_pages(staff, staff.inside)
    assert {"census", "print-census", "print-mar-ward", "patients", "summary",
            "print-labels"} <= shown, shown
    assert {"or", "print-or"} <= audited_pages(staff, booked)
    census = next(e for e in Audit(staff.dir).entries(user="nina") if e.page == "census")
    assert census.patient is None and staff.inside in census.patients and len(census.patients) > 1
    search = next(e for e in Audit(staff.dir).entries(user="nina") if e.page == "patients")
    assert search.detail == family and staff.inside in search.patients


def test_the_hash_chain_covers_the_listed_patients(staff: Staff) -> None:
    assert staff.as_("nina").get(f"/wards/{staff.home}").status_code == 200
    log = Audit(staff.dir)
    count = log.verify()
    listed = next(e for e in log.entries() if e.patients)
    with sqlite3.connect(log.path) as db:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit_patients SET patient = 'someone-else' WHERE seq = ?", (listed.seq,))
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("INSERT INTO audit_patients (seq, patient) VALUES (1, 'added-later')")
        db.execute("DROP TRIGGER audit_patients_no_update")
        db.execute("UPDATE audit_patients SET patient = 'someone-else' WHERE seq = ? AND patient = ?",
                   (listed.seq, listed.patients[0]))
    try:
        with pytest.raises(AuditError) as broken:
            log.verify()
        assert broken.value.seq == listed.seq
    finally:  # put the log back as it was for the other tests
        with sqlite3.connect(log.path) as db:
            db.execute("UPDATE audit_patients SET patient = ? WHERE seq = ? AND patient = 'someone-else'",
                       (listed.patients[0], listed.seq))
            db.execute("CREATE TRIGGER audit_patients_no_update BEFORE UPDATE ON audit_patients "
                       "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be "
                       "changed'); END")
    assert log.verify() >= count


# --- 2. break-glass ------------------------------------------------------------------------------


def test_a_nurse_opens_her_wards_patients_directly(staff: Staff) -> None:
    page = staff.as_("nina").get(f"/patients/{staff.inside}")
    assert page.status_code == 200 and "break-glass" not in page.text


def test_another_wards_patient_asks_for_a_reason_then_opens_at_once(staff: Staff) -> None:
    nurse = staff.as_("nina")
    for url in (f"/patients/{staff.outside}", f"/patients/{staff.outside}/print/mar.pdf"):
        asked = nurse.get(url)
        assert asked.status_code == 403, url
        assert "Urgence vitale" in asked.text and "Transfert" in asked.text and "Autre raison" in asked.text
        assert f'action="/patients/{staff.outside}/break-glass"' in asked.text
    before = Audit(staff.dir).entries(user="nina", patient=staff.outside)
    assert all(e.page != "summary" for e in before)  # asking showed nothing

    refused = nurse.post(f"/patients/{staff.outside}/break-glass",
                         data={"reason": "autre", "text": "  ", "next": f"/patients/{staff.outside}"})
    assert refused.status_code == 400
    assert not Audit(staff.dir).entries(user="nina", action="break-glass")

    given = nurse.post(f"/patients/{staff.outside}/break-glass",
                       data={"reason": "urgence", "next": f"/patients/{staff.outside}/print/mar.pdf"})
    assert given.status_code == 303 and given.headers["location"] == f"/patients/{staff.outside}/print/mar.pdf"
    assert nurse.get(given.headers["location"]).headers["content-type"] == "application/pdf"
    opened = nurse.get(f"/patients/{staff.outside}")
    assert opened.status_code == 200 and "Urgence vitale" not in opened.text

    glass = Audit(staff.dir).entries(user="nina", action="break-glass")
    assert [(e.patient, e.detail) for e in glass] == [(staff.outside, "urgence vitale")]
    views = [e for e in Audit(staff.dir).entries(user="nina", patient=staff.outside)
             if e.action in ("view", "print")]
    assert len(views) == 2
    assert all(e.detail.startswith(f"break-glass #{glass[0].seq}: urgence vitale") for e in views)


def test_break_glass_goes_only_to_that_patients_pages(staff: Staff) -> None:
    answer = staff.as_("nina").post(f"/patients/{staff.outside}/break-glass",
                                    data={"reason": "autre", "text": "appel du SAMU",
                                          "next": "https://elsewhere.example/"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/patients/{staff.outside}"
    latest = Audit(staff.dir).entries(user="nina", action="break-glass", limit=1)[0]
    assert latest.detail == "autre : appel du SAMU"


def test_search_lists_other_wards_patients(staff: Staff) -> None:
    conn = index_of(staff)
    family = conn.execute("SELECT family FROM patients WHERE id = ?", (staff.outside,)).fetchone()[0]
    conn.close()
    found = staff.as_("nina").get("/patients", params={"q": family})
    assert found.status_code == 200 and f'href="/patients/{staff.outside}"' in found.text


def test_hospital_roles_and_accounts_without_wards_see_everyone(staff: Staff) -> None:
    for name in ("paul", "admin", "olga"):
        assert staff.as_(name).get(f"/patients/{staff.outside}").status_code == 200, name
    assert not Audit(staff.dir).entries(user="paul", action="break-glass")


def test_the_audit_page_lists_break_glass_first(staff: Staff) -> None:
    nurse = staff.as_("nina")
    nurse.post(f"/patients/{staff.outside}/break-glass", data={"reason": "transfert"})
    for _ in range(3):  # later entries that would push it down the main table
        nurse.get(f"/wards/{staff.home}")
    page = staff.as_("admin").get("/audit").text
    glass_table = page.index('class="audit break-glass"')
    assert glass_table < page.index('<table class="audit">')
    first_rows = page[glass_table:page.index("</table>", glass_table)]
    assert "transfert" in first_rows and staff.outside in first_rows and "nina" in first_rows


def test_another_wards_census_asks_for_a_reason_then_opens_at_once(staff: Staff) -> None:
    nurse, census = staff.as_("nora"), f"/wards/{staff.other}"
    for url in (census, f"{census}/print/census.pdf", f"{census}/print/mar.pdf"):
        asked = nurse.get(url)
        assert asked.status_code == 403, url
        assert "Urgence vitale" in asked.text and "Autre raison" in asked.text
        assert f'action="/wards/{staff.other}/break-glass"' in asked.text
        assert staff.outside not in asked.text
    english = nurse.get(census, params={"lang": "en"}).text
    assert "Ward outside yours" in english and "Open the ward&#39;s census" in english
    assert nurse.get(census, params={"lang": "fr"}).status_code == 403  # back to French
    assert not [e for e in Audit(staff.dir).entries(user="nora") if e.action in ("view", "print")]

    refused = nurse.post(f"{census}/break-glass", data={"reason": "autre", "text": " ", "next": census})
    assert refused.status_code == 400 and f'action="/wards/{staff.other}/break-glass"' in refused.text
    assert not Audit(staff.dir).entries(user="nora", action="break-glass")

    given = nurse.post(f"{census}/break-glass", data={"reason": "urgence", "next": census})
    assert given.status_code == 303 and given.headers["location"] == census
    assert nurse.get(census).status_code == 200
    printed = nurse.get(f"{census}/print/census.pdf")
    assert printed.headers["content-type"] == "application/pdf"

    glass = Audit(staff.dir).entries(user="nora", action="break-glass")
    assert [(e.patient, e.page, e.detail) for e in glass] == \
        [(None, "census", f"ward={staff.other}: urgence vitale")]
    seen = [e for e in Audit(staff.dir).entries(user="nora") if e.action in ("view", "print")]
    assert {e.page for e in seen} == {"census", "print-census"}
    assert all(e.detail.startswith(f"break-glass #{glass[0].seq}: ward={staff.other}") for e in seen)
    assert staff.outside in next(e for e in seen if e.page == "census").patients


def test_ward_break_glass_opens_only_that_wards_pages(staff: Staff) -> None:
    nurse = staff.as_("nora")
    answer = nurse.post(f"/wards/{staff.other}/break-glass",
                        data={"reason": "transfert", "next": f"/patients/{staff.outside}"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/wards/{staff.other}"
    assert nurse.get(f"/patients/{staff.outside}").status_code == 403  # a census is not a record


def test_own_ward_and_hospital_roles_open_a_census_directly(staff: Staff) -> None:
    assert staff.as_("nora").get(f"/wards/{staff.home}").status_code == 200
    for name in ("admin", "paul", "olga"):
        assert staff.as_(name).get(f"/wards/{staff.other}").status_code == 200, name
        assert not Audit(staff.dir).entries(user=name, action="break-glass")
    assert staff.as_("nora").get("/wards").status_code == 200


# --- 3. audited administration -------------------------------------------------------------------


def test_downtime_and_account_changes_are_audited_with_the_os_user(staff: Staff) -> None:
    station = staff.dir
    run_releve("station", "downtime", "--declare", "--note", "cyberattaque", "--station", station)
    run_releve("station", "downtime", "--end", "--station", station)
    refused = run_releve("station", "user", "add", "zoe", "--role", "nurse", "--password-stdin",
                         "--station", station, input=f"{PASSWORD}\n".encode(), check=False)
    assert refused.returncode == 1 and b"--ward" in refused.stderr
    run_releve("station", "user", "add", "zoe", "--role", "nurse", "--ward", staff.home,
               "--password-stdin", "--station", station, input=f"{PASSWORD}\n".encode())
    run_releve("station", "user", "wards", "zoe", "--ward", staff.home, "--ward", staff.other,
               "--station", station)
    assert Wards(station).of("zoe") == sorted([staff.home, staff.other])
    entries = [e for e in reversed(Audit(station).entries(limit=10_000)) if e.page == "cli"]
    assert [(e.action, e.detail) for e in entries] == [
        ("downtime-declare", "cyberattaque"), ("downtime-end", None),
        ("user-add", f"zoe wards={staff.home}"),
        ("user-wards", f"zoe wards={','.join(sorted([staff.home, staff.other]))}")]
    assert all(e.user.startswith("os:") and len(e.user) > 3 for e in entries)
    assert Settings.load(station).downtime is None
