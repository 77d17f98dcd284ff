"""The station's printouts, read back as a person and a scanner would read the paper.

Every PDF is made by the real code (WeasyPrint, zxing-cpp), then turned into text with
poppler's pdftotext and into pixels with pdftoppm; the DataMatrix is decoded with libdmtx
(pylibdmtx) and the Code 128 with zbar (pyzbar): decoders of other implementations than
the encoder, so a code that only its own writer can read fails here.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import getpass
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from PIL import Image
from pylibdmtx import pylibdmtx
from pyzbar import pyzbar
from typer.testing import CliRunner, Result

from releve.cli import app
from releve.station.i18n import english
from releve.station.index.connection import reader
from releve.station.local.audit import Audit
from releve.station.printing import documents, ins, pdf
from releve.station.views import census as census_q
from releve.station.views import formats
from releve.station.views import summary as chart
from releve.station.views.wards import UnknownWard, find_ward
from test_station_web import CAPTURE, Site, add_users, station_site

from conftest import StationFixture, copy_station, run_releve

pytestmark = pytest.mark.timeout(300)


# --- reading the paper back ------------------------------------------------------------------


def page_texts(pdf: bytes) -> list[str]:
    """The text of each page, as pdftotext reads it (pages end with a form feed)."""
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    return text.split("\f")[:-1]


def flat(pdf: bytes) -> str:
    """All the text on one line, words joined by one space."""
    return " ".join(" ".join(page_texts(pdf)).split())


def picture(pdf: bytes, dpi: int = 300, page: int = 1) -> Image.Image:
    """One page rendered by poppler, in grey, as a scanner or a camera would see it."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "page"
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", "-singlefile", "-f", str(page),
                        "-l", str(page), "-", str(root)], input=pdf, capture_output=True, check=True)
        image = Image.open(root.with_suffix(".png"))
        image.load()
        return image


def datamatrices(image: Image.Image, count: int = 1) -> list[bytes]:
    return [found.data for found in pylibdmtx.decode(image, max_count=count, timeout=8000)]


def code128s(image: Image.Image) -> list[bytes]:
    return [found.data for found in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.CODE128])]


def keep_html(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The HTML of every printout made from here on (the PDFs are made as usual)."""
    made: list[str] = []

    def render(template: str, lang: str, zone: str, **context) -> pdf.Pdf:
        made.append(pdf.engine().html(template, lang, zone, **context))
        return pdf.engine().pdf(made[-1])

    monkeypatch.setattr(documents, "render", render)
    return made


@dataclasses.dataclass
class DoseBox:
    text: str  # "08:00 03/12": the time due and the day
    width: float  # mm
    height: float  # mm
    border: float  # the thinnest of its four borders, mm


def dose_boxes(html: str) -> list[list[DoseBox]]:
    """Each page's MAR dose boxes as WeasyPrint lays the page out, with the printout's own
    stylesheet: what is left on paper to initial."""
    from weasyprint import HTML
    from weasyprint.formatting_structure.boxes import InlineBlockBox

    engine = pdf.engine()
    laid = HTML(string=html, base_url=str(pdf.TEMPLATES), url_fetcher=engine.fetcher).render(
        stylesheets=[engine.css], font_config=engine.fonts)
    mm = 25.4 / 96

    def walk(box):
        yield box
        for child in getattr(box, "children", ()):
            yield from walk(child)

    def text(box) -> str:
        return " ".join(b.text for b in walk(box) if hasattr(b, "text") and b.text.strip())

    pages = []
    for page in laid.pages:
        boxes = [b for b in walk(page._page_box) if isinstance(b, InlineBlockBox)
                 and "dose" in (b.element.get("class") or "").split()]
        pages.append([DoseBox(" ".join(text(b).split()), b.border_width() * mm, b.border_height() * mm,
                              min(b.border_top_width, b.border_right_width, b.border_bottom_width,
                                  b.border_left_width) * mm) for b in boxes])
    return pages


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def station(demo_station: StationFixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the demo station: printing writes to its audit log."""
    copied = copy_station(demo_station, tmp_path_factory.mktemp("print") / "s")
    add_users(copied.dir)
    return copied.dir


@pytest.fixture(scope="module")
def conn(station: Path) -> Iterator[sqlite3.Connection]:
    connection = reader(station)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def desk(station: Path, conn: sqlite3.Connection) -> documents.Desk:
    return documents.Desk.open(station, conn, "test-printer")


@pytest.fixture(scope="module")
def ward(conn: sqlite3.Connection) -> census_q.Census:
    """The demo ward with the most patients, among those where one has an allergy."""
    censuses = [census_q.census(conn, u.place.id) for u in census_q.units(conn)]
    with_allergy = [c for c in censuses if any(r.occupant and r.occupant.allergies for r in c.rows)]
    return max(with_allergy, key=lambda c: len(census_q.ward_patients(c)))


@pytest.fixture(scope="module")
def allergic(conn: sqlite3.Connection, ward: census_q.Census, desk: documents.Desk) -> chart.Summary:
    """A patient with an allergy, doses due and an INS, as the summary reads them, from
    that ward if it has one (the demo hospital, like a real one, has patients whose INS is
    not yet known; who is admitted where depends on the day the demo is generated)."""
    units = [ward] + [census_q.census(conn, u.place.id) for u in census_q.units(conn)]
    for census in units:
        for pid, _ in census_q.ward_patients(census):
            found = chart.summary(conn, pid, desk.now, desk.zone)
            if found.allergies and found.plan and found.identity.ins:
                return found
    pytest.fail("the demo hospital has no allergic patient with doses due and an INS")


def patient_resource(conn: sqlite3.Connection, pid: str) -> dict:
    row = conn.execute("SELECT json FROM resources WHERE type = 'Patient' AND id = ?", (pid,)).fetchone()
    return orjson.loads(row[0])


# --- the INS DataMatrix content -------------------------------------------------------------------


def test_ins_content_follows_the_ans_layout() -> None:
    patient = {
        "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1979-05-01",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "279052A01234556"}],
        "name": [{"use": "usual", "family": "Martin", "given": ["Hélène"]},
                 {"use": "official", "family": "Lœuvre-d’Arc", "given": ["Hélène", "Marie"]}],
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                       "valueAddress": {"city": "Ajaccio", "extension": [
                           {"url": "https://example.org/insee-code", "valueCoding": {"code": "2A004"}}]}}],
    }
    assert ins.patient_content(patient) == (
        "IS01" + "0" * 22 + "S1279052A01234556" + "S21.2.250.1.213.1.4.8\x1d"
        + "S3HELENE MARIE\x1d" + "S4LOEUVRE-D'ARC\x1d" + "S5F" + "S601-05-1979" + "S72A004")
    # a 20-character OID fills its field: no separator after it
    patient["identifier"][0]["system"] = "urn:oid:1.2.250.1.213.1.4.10"
    assert "S21.2.250.1.213.1.4.10S3HELENE" in ins.patient_content(patient)
    for broken in ({"gender": "unknown"}, {"birthDate": "1979"}, {"identifier": []},
                   {"identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "12345"}]}):
        assert ins.patient_content({**patient, **broken}) is None


# --- texts ---------------------------------------------------------------------------------------------


def test_every_french_text_of_the_printouts_has_its_english() -> None:
    """The print templates and the macros they share with the pages (the pages' own texts
    are checked by test_station_web and test_station_chart)."""
    root = pdf.ROOT
    sources = [*sorted((root / "print").glob("*.html")), *sorted((root / "shared").glob("_*.html")),
               root / "shared" / "patient_medications.html"]
    texts: set[str] = set()
    for source in sources:
        body = source.read_text()
        texts.update(re.findall(r'_\(\s*"([^"]*)"', body))
        for listed in re.findall(r"{% set \w+ = \{(.*?)\} %}", body, re.S):  # label tables
            texts.update(re.findall(r':\s*"([^"]*)"', listed))
        for listed in re.findall(r"{% for \w+ in \[(.*?)\] %}", body, re.S):  # rows of a form
            texts.update(re.findall(r'"([^"]*)"', listed))
    assert {"Si besoin", "Erreur de saisie", "Ne pas réanimer", "Poids (kg)", "Bip"} <= texts
    assert sorted(t for t in texts if t not in english()) == []


# --- the MAR ---------------------------------------------------------------------------------------


def test_ward_mar_has_every_patient_dose_and_allergies_on_every_page(
        desk: documents.Desk, ward: census_q.Census, conn: sqlite3.Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = keep_html(monkeypatch)
    printout = documents.ward_mar(desk, ward.unit.id)
    pages = page_texts(printout.pdf.data)
    assert len(pages) == printout.pdf.pages >= len(printout.patients) >= 2
    summaries = {pid: chart.summary(conn, pid, desk.now, desk.zone) for pid in printout.patients}
    assert [pid for pid, _ in census_q.ward_patients(ward)] == printout.patients
    boxes = dose_boxes(made[0])
    assert len(boxes) == len(pages)
    shown_boxes: dict[str, list[str]] = {}
    for number, (text, page_boxes) in enumerate(zip(pages, boxes, strict=True), 1):
        flat = " ".join(text.split())
        here = [s for s in summaries.values() if s.identity.name in flat]
        assert len(here) == 1, f"page {number} does not name exactly one patient"
        shown = here[0]
        assert f"IPP {shown.identity.ipp}" in flat
        if shown.allergy_state == "known":
            assert "ALLERGIES" in flat and all(a.substance in flat for a in shown.allergies), number
        else:
            assert "Allergies :" in flat, number
        shown_boxes.setdefault(shown.patient_id, []).extend(b.text for b in page_boxes)
        # a box to initial: bordered, and room under the time for a nurse's initials
        assert all(b.border > 0.2 and b.width >= 15 and b.height >= 12 for b in page_boxes), number
    tz = ZoneInfo(desk.zone)
    for pid, s in summaries.items():
        due = [text for m in s.scheduled for text in  # a late dose first, marked so
               [f"{d.local} en retard" for d in m.overdue]
               + [f"{d.local} {d.when.astimezone(tz):%d/%m}" for d in m.due]]
        assert shown_boxes.get(pid, []) == due, "every dose due has its box, on its patient's pages"
    everything = " ".join(" ".join(pages).split())
    # pdftotext joins a word the layout broke at its hyphen ("sous-" / "cutanée"), with no
    # option to keep the hyphen: the dose and route are compared without hyphens
    unhyphenated = everything.replace("-", "")
    assert sum(len(s.plan) for s in summaries.values()) > len(summaries)
    for s in summaries.values():
        for m in s.medications:
            assert m.drug in everything
            dose = f"{m.dose or '—'} · {m.route}" if m.route else m.dose or "—"
            assert dose.replace("-", "") in unhyphenated, dose
        for given in s.administrations:
            assert given.drug in everything and formats.datetime_text(given.when, desk.zone) in everything
    for _, place in census_q.ward_patients(ward):
        assert place in everything


def test_a_ward_mar_repeats_each_patients_header_and_allergies_on_all_their_pages(
        desk: documents.Desk, ward: census_q.Census, conn: sqlite3.Connection,
        allergic: chart.Summary) -> None:
    """A patient whose plan runs over three pages, then a patient with other allergies: each
    page's running header names the patient on it, with that patient's allergies."""
    long = copy.copy(allergic)
    long.medications = [dataclasses.replace(m, drug=f"{m.drug} n°{i}") for i in range(14)
                        for m in allergic.medications]
    others = (chart.summary(conn, pid, desk.now, desk.zone) for pid, _ in census_q.ward_patients(ward))
    other = next(s for s in others if s.patient_id != allergic.patient_id and s.allergy_state != "known")
    pdf_ = documents._mar(desk, [documents.MarPatient(long, "Lit 12"), documents.MarPatient(other, "Lit 13")],
                          ward.unit.name)
    pages = [" ".join(text.split()) for text in page_texts(pdf_.data)]
    names = [allergic.identity.name in text for text in pages]
    assert sum(names) >= 3 and names == sorted(names, reverse=True) and not names[-1]
    for text in pages:
        if allergic.identity.name in text:
            assert f"IPP {allergic.identity.ipp}" in text and "ALLERGIES" in text
            assert all(a.substance in text for a in allergic.allergies)
        else:
            assert other.identity.name in text and f"IPP {other.identity.ipp}" in text
            assert "ALLERGIES" not in text  # the first patient's header does not run on
            assert ("Aucune allergie connue" if other.allergy_state == "none"
                    else "Allergies non renseignées") in text
    assert f"{allergic.medications[0].drug} n°13" in " ".join(pages)


def test_an_as_needed_order_with_set_times_prints_what_it_is_for(
        desk: documents.Desk, allergic: chart.Summary) -> None:
    """An insulin scale has set times (its doses get boxes) and a condition: the sheet says both."""
    scheduled = next(m for m in allergic.medications if m.due)
    scale = dataclasses.replace(scheduled, drug="Insuline asparte", as_needed=True,
                                as_needed_reason="selon la glycémie capillaire")
    pdf_ = documents._mar(desk, [documents.MarPatient(dataclasses.replace(allergic, medications=[scale]),
                                                      "Lit 12")], "Cardiologie")
    text = " ".join(" ".join(page_texts(pdf_.data)).split())
    assert "Insuline asparte" in text and "selon la glycémie capillaire" in text
    assert all(d.local in text for d in scale.due)


def test_patient_mar_in_english(station: Path, conn: sqlite3.Connection, allergic: chart.Summary) -> None:
    english = documents.Desk.open(station, conn, "test-printer", "en")
    text = " ".join(" ".join(page_texts(documents.patient_mar(english, allergic.patient_id).pdf.data)).split())
    assert "Doses due: time, then initials" in text and "printed" in text
    assert "Prises prévues" not in text and allergic.identity.name in text


# --- sheets ------------------------------------------------------------------------------------------


def test_census_sheet_lists_every_bed_and_patient(desk: documents.Desk, ward: census_q.Census,
                                                   conn: sqlite3.Connection) -> None:
    printout = documents.census_sheet(desk, ward.unit.id)
    text = " ".join(" ".join(page_texts(printout.pdf.data)).split())
    assert ward.unit.name in text
    for row in ward.rows:
        assert row.place.name in text
        if row.occupant:
            assert census_q.patient_name(row.occupant.family, row.occupant.given) in text
            ipp = conn.execute("SELECT ipp FROM patients WHERE id = ?", (row.occupant.patient,)).fetchone()[0]
            assert ipp in text
            assert all(a in text for a in row.occupant.allergies)
    assert documents.census_sheet(desk, "loc-nowhere") is None


def test_or_sheet_and_directory_sheet(desk: documents.Desk, conn: sqlite3.Connection) -> None:
    day = conn.execute("SELECT day FROM bookings GROUP BY day ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    rooms = documents.schedule_q.day_schedule(conn, dt.date.fromisoformat(day), "Europe/Paris")
    text = " ".join(" ".join(page_texts(documents.or_sheet(desk, dt.date.fromisoformat(day)).pdf.data)).split())
    assert rooms and all(r.name in text for r in rooms)
    assert all(b.patient_name in text and b.procedure in text for r in rooms for b in r.bookings)
    entries = documents.directory_q.entries(conn)
    text = flat(documents.directory_sheet(desk).pdf.data)
    units = [e for e in entries if e.kind == "unit"]
    assert units and all(e.name in text and all(p.number in text for p in e.phones) for e in units)
    people = [e for e in entries if e.kind == "person"]
    assert all(e.name in text for e in people[:: max(1, len(people) // 20)])


# --- labels and wristband: the codes scan back ----------------------------------------------------------


def test_labels_carry_identity_and_codes_that_scan(desk: documents.Desk, conn: sqlite3.Connection,
                                                   allergic: chart.Summary) -> None:
    pid, who = allergic.patient_id, allergic.identity
    printout = documents.labels(desk, pid)
    assert printout.pdf.pages == 1
    text = page_texts(printout.pdf.data)[0]
    assert text.count(who.name) == 24 and who.ipp in text and who.ins in text
    assert dt.date.fromisoformat(who.birth_date).strftime("%d/%m/%Y") in text
    expected = ins.patient_content(patient_resource(conn, pid))
    assert expected and expected.startswith("IS01") and f"S1{who.ins}" in expected
    sheet = picture(printout.pdf.data)
    width, height = sheet.size
    for column in range(3):  # the first row of stickers, each cut out as a scanner sees it
        sticker = sheet.crop((column * width // 3, 0, (column + 1) * width // 3, height // 8))
        assert datamatrices(sticker) == [expected.encode()]
        assert code128s(sticker) == [who.ipp.encode()]


def test_wristband_codes_scan(desk: documents.Desk, conn: sqlite3.Connection, allergic: chart.Summary) -> None:
    printout = documents.wristband(desk, allergic.patient_id)
    text = " ".join(" ".join(page_texts(printout.pdf.data)).split())
    who = allergic.identity
    born = dt.date.fromisoformat(who.birth_date).strftime("%d/%m/%Y")
    for part in (who.name, f"IPP {who.ipp}", f"INS {who.ins}", f"Né(e) le {born}"):
        assert text.count(part) == 2, part  # the two copies to cut out
    band = picture(printout.pdf.data, dpi=200)
    expected = ins.patient_content(patient_resource(conn, allergic.patient_id)).encode()
    assert datamatrices(band, 2) == [expected, expected]
    width, height = band.size
    for top, bottom in ((0, 0.27), (0.27, 0.52)):  # each copy of the band, as cut out
        copy_ = band.crop((0, int(top * height), width, int(bottom * height)))
        assert datamatrices(copy_) == [expected]
        assert code128s(copy_) == [allergic.identity.ipp.encode()]


def test_forms_prefilled_and_blank(desk: documents.Desk, allergic: chart.Summary) -> None:
    filled = documents.forms(desk, allergic.patient_id)
    pages = page_texts(filled.pdf.data)
    assert len(pages) == 3
    titles = ("Fiche d'admission", "Prescription médicamenteuse", "Surveillance et constantes")
    who = allergic.identity
    born = dt.date.fromisoformat(who.birth_date).strftime("%d/%m/%Y")
    for title, text in zip(titles, pages, strict=True):
        assert title in text and all(part in text for part in (who.name, who.ipp, who.ins, born)), title
    assert allergic.allergies[0].substance in pages[0]
    blank = documents.forms(desk)
    pages = page_texts(blank.pdf.data)
    assert len(pages) == 3 and blank.patients == []
    assert all(t in p for t, p in zip(titles, pages, strict=True))
    assert not any(part in " ".join(pages) for part in (who.name, who.ipp, who.ins))
    assert "pièce d'identité" in pages[0]


def test_synthea_patients_print_without_ins(synthea_station: StationFixture) -> None:
    """US data: no INS, so no DataMatrix (said on the label), and the MRN's Code 128 scans."""
    conn = reader(synthea_station.dir)
    desk = documents.Desk.open(synthea_station.dir, conn, "test-printer")
    rows = conn.execute("SELECT patient FROM resources WHERE type = 'MedicationRequest' "
                        "GROUP BY patient ORDER BY count(*) DESC LIMIT 2").fetchall()
    for (pid,) in rows:
        summary = chart.summary(conn, pid, desk.now, desk.zone)
        mar = " ".join(" ".join(page_texts(documents.patient_mar(desk, pid).pdf.data)).split())
        assert summary.identity.name in mar
        words = set(re.split(r"[\s/]+", mar))  # a long drug name wraps in its cell: word by word
        assert all(set(re.split(r"[\s/]+", m.drug)) <= words for m in summary.scheduled)
        labels = documents.labels(desk, pid)
        assert {"Pas", "DataMatrix", "incomplète"} <= set(page_texts(labels.pdf.data)[0].split())
        sticker = picture(labels.pdf.data).crop((0, 0, 827, 438))
        assert code128s(sticker) == [summary.identity.ipp.encode()]
    conn.close()


# --- the command line ---------------------------------------------------------------------------------


def test_cli_prints_a_ward_mar_and_audits_every_patient(station: Path, ward: census_q.Census,
                                                        tmp_path: Path) -> None:
    before = Audit(station).verify()
    out = tmp_path / "night" / "mar.pdf"
    result = run_releve("station", "print", "mar", "--ward", ward.unit.name.upper(), "--out", out,
                        "--station", station)
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF")
    patients = [pid for pid, _ in census_q.ward_patients(ward)]
    entries = Audit(station).entries(limit=1)
    assert Audit(station).verify() == before + 1  # one entry listing every patient printed
    assert set(entries[0].patients) == set(patients) and entries[0].patient is None
    assert all(e.action == "print" and e.page == "print-mar-ward" and e.user == f"os:{getpass.getuser()}"
               and e.detail == ward.unit.id for e in entries)
    said = (result.stdout + result.stderr).decode()
    assert "page(s)" in said and not any(p in said for p in patients)
    text = " ".join(page_texts(pdf))
    assert all(re.sub(r"\s+", " ", census_q.patient_name(r.occupant.family, r.occupant.given)) in " ".join(text.split())
               for r in ward.rows if r.occupant)


def test_cli_labels_with_user_and_clear_errors(station: Path, allergic: chart.Summary, tmp_path: Path) -> None:
    out = tmp_path / "labels.pdf"
    run_releve("station", "print", "labels", "--patient", allergic.patient_id, "--out", out,
               "--station", station, "--user", "dsi-nuit")
    latest = Audit(station).entries(limit=1)[0]
    assert (latest.user, latest.action, latest.page, latest.patient) == (
        "dsi-nuit", "print", "print-labels", allergic.patient_id)
    assert out.read_bytes().startswith(b"%PDF")

    def cli(*args: str | Path) -> Result:  # the same command line, in this process: errors are quick
        return CliRunner().invoke(app, ["station", "print", *map(str, args), "--station", str(station)])

    missing = cli("wristband", "--patient", "pat-none", "--out", tmp_path / "x.pdf")
    assert missing.exit_code == 1 and "no patient with this id" in missing.output
    assert "pat-none" not in missing.output
    for command in ("census", "mar"):
        unknown = cli(command, "--ward", "Nulle part", "--out", tmp_path / "x.pdf")
        assert unknown.exit_code == 1 and "no ward named 'Nulle part'" in unknown.output, command
        assert "loc-" in unknown.output  # the wards that exist are listed
    missing = cli("mar", "--patient", "pat-none", "--out", tmp_path / "x.pdf")
    assert missing.exit_code == 1 and "no patient with this id" in missing.output
    assert cli("or", "--date", "demain", "--out", tmp_path / "x.pdf").exit_code == 2
    assert cli("mar", "--out", tmp_path / "x.pdf").exit_code == 2  # neither --ward nor --patient
    assert not (tmp_path / "x.pdf").exists()
    # an --out that cannot be written: said by its name, nothing audited, nothing left behind
    seq = Audit(station).verify()
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()
    for where, why in ((tmp_path / "a-folder", "Is a directory"),
                       (tmp_path / "a-file" / "forms.pdf", "a-file is not a folder"),
                       (tmp_path / "a-file" / "night" / "forms.pdf", "Not a directory")):
        refused = cli("forms", "--out", where)
        assert refused.exit_code == 1, where
        said = " ".join(refused.output.split())
        assert f"cannot write the PDF to {where}" in said and why in said, said
    assert Audit(station).verify() == seq and list((tmp_path / "a-folder").iterdir()) == []
    not_a_station = CliRunner().invoke(app, ["station", "print", "directory", "--out", str(tmp_path / "x.pdf"),
                                             "--station", str(tmp_path)])
    assert not_a_station.exit_code == 1 and "not a station folder" in not_a_station.output


def test_ward_names_codes_and_ids(conn: sqlite3.Connection, ward: census_q.Census) -> None:
    unit = ward.unit
    assert find_ward(conn, unit.id) == unit.id
    assert find_ward(conn, unit.name.upper()) == unit.id
    alias = orjson.loads(conn.execute("SELECT json FROM resources WHERE type = 'Location' AND id = ?",
                                      (unit.id,)).fetchone()[0])["alias"][0]
    assert find_ward(conn, alias.lower()) == unit.id
    with pytest.raises(UnknownWard):
        find_ward(conn, "Service imaginaire")


# --- from the pages ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def web(station: Path) -> Iterator[Site]:
    with station_site(station) as site:
        yield site


def test_print_urls_need_sign_in_serve_pdf_and_are_audited(web: Site, station: Path, ward: census_q.Census,
                                                             allergic: chart.Summary) -> None:
    pid, unit = allergic.patient_id, ward.unit.id
    urls = [f"/patients/{pid}/print/mar.pdf", f"/patients/{pid}/print/labels.pdf",
            f"/patients/{pid}/print/wristband.pdf", f"/patients/{pid}/print/forms.pdf",
            f"/wards/{unit}/print/mar.pdf", f"/wards/{unit}/print/census.pdf",
            "/or/print.pdf?date=2026-01-05", "/directory/print.pdf", "/forms/blank.pdf"]
    anonymous = web.client()
    for url in urls:
        answer = anonymous.get(url)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    nurse = web.login("nurse")
    summary = nurse.get(f"/patients/{pid}").text
    assert f'href="/patients/{pid}/print/mar.pdf"' in summary and "print/labels.pdf" in summary
    census_page = nurse.get(f"/wards/{unit}").text
    assert f'href="/wards/{unit}/print/mar.pdf"' in census_page and "print/census.pdf" in census_page
    assert "/or/print.pdf?date=" in nurse.get("/or").text
    assert 'href="/directory/print.pdf"' in nurse.get("/directory").text
    CAPTURE.records.clear()
    for url in urls:
        seq = Audit(station).verify()
        answer = nurse.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"] == "application/pdf" and answer.content.startswith(b"%PDF")
        assert answer.headers["cache-control"] == "no-store" and pid not in answer.headers["content-disposition"]
        entries = Audit(station).entries(limit=Audit(station).verify() - seq)
        assert entries and all(e.action == "print" and e.user == "nurse" for e in entries), url
        if url.startswith("/patients/"):
            assert [e.patient for e in entries] == [pid]
    ward_entries = [e for e in Audit(station).entries(limit=50) if e.page == "print-mar-ward"]
    assert {p for e in ward_entries for p in e.patients} >= {p for p, _ in census_q.ward_patients(ward)}
    text = " ".join(page_texts(nurse.get(f"/patients/{pid}/print/mar.pdf?lang=en").content)[0].split())
    assert "ALLERGIES" in text and "Medication, dose and route" in text
    assert nurse.get("/patients/pat-none/print/labels.pdf").status_code == 404
    assert nurse.get("/wards/loc-nowhere/print/mar.pdf").status_code == 404
    logged = CAPTURE.text()
    assert "/patients/{pid}/print/mar.pdf" in logged and pid not in logged
    assert allergic.identity.family not in logged and unit not in logged
