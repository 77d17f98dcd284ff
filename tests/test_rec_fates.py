"""What became of each downtime entry on the way back into the HIS, as the station shows
it: on the patient page's history, the full list of entries, their printout (pdftotext)
and the crisis cell's counts. The fates are written as `releve journal reconcile` writes
them (journal/fates.py `Fates.record`) into a copied demo station served over real HTTP;
before any reconcile, nothing is said and no file is made."""

from __future__ import annotations

import datetime as dt
import html
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from releve.journal.book import Journal
from releve.journal.entry import Author, Entry
from releve.journal.fates import FATES_DB, Fate, Fates
from releve.journal.kinds import Context
from releve.journal.kinds import note as notes
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from test_station_web import PASSWORD, Site, station_site

from conftest import NOW, StationFixture, copy_station

NURSE = Author("nina", "Nina Infirmière", "nurse")
FILED_AT = "2026-01-20T08:15:00Z"  # 09:15 in Paris
# the French each fate shows, by the note it is given to (one note per state)
SAID = {
    "filed": "Reporté dans le DPI le 20/01/2026 09:15 (DocumentReference/his-1)",
    "updated": "Reporté dans le DPI le 20/01/2026 09:15 (DocumentReference/his-2)",
    "already": "Reporté dans le DPI le 20/01/2026 09:15 (DocumentReference/his-3)",
    "waiting-identity": "En attente : identité à confirmer",
    "refused": "Refusé par le DPI : Code de type de document inconnu",
    "failed": "Échec d'envoi, sera réessayé",
    "replaced": "Version remplacée, historique reporté",
    "conflict": "Deux corrections concurrentes : à trancher",
}
EVERY_TEXT = [*SAID.values(), "En attente de la saisie", "Reporté dans le DPI"]


class Ward:
    def __init__(self, site: Site, station_dir: Path, pid: str, entries: list[Entry]) -> None:
        self.site, self.dir, self.pid, self.entries = site, station_dir, pid, entries
        self.nurse, self.cell = site.login("nina"), site.login("cellule")

    def get(self, path: str, client=None) -> str:
        answer = (client or self.nurse).get(path)
        assert answer.status_code == 200, answer.text[:300]
        return html.unescape(answer.text)

    def printed(self, tmp_path: Path) -> str:
        pdf = self.nurse.get(f"/patients/{self.pid}/print/entries.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        (tmp_path / "entries.pdf").write_bytes(pdf.content)
        text = subprocess.run(["pdftotext", str(tmp_path / "entries.pdf"), "-"], capture_output=True,
                              check=True, text=True).stdout
        return " ".join(text.split())


@pytest.fixture(scope="module")
def ward(demo_station: StationFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    station = copy_station(demo_station, tmp_path_factory.mktemp("fates") / "s")
    accounts = Accounts(station.dir)
    accounts.add_user("nina", "nurse", PASSWORD, "Nina Infirmière")
    accounts.add_user("cellule", "crisis", PASSWORD, "Cellule de crise")
    conn = reader(station.dir)
    pid = conn.execute("SELECT patient FROM stays WHERE current = 1 ORDER BY patient LIMIT 1").fetchone()[0]
    conn.close()
    journal = Journal(station.dir)
    context = Context(dt.datetime.fromisoformat(NOW), "Europe/Paris", f"Patient/{pid}", "nurse")
    entries = [journal.append([notes.note_from_form({"text": f"Note {n}", "when": "09:00"},
                                                    context, "Nina Infirmière")], NURSE)[0]
               for n in range(10)]
    with station_site(station.dir) as site:
        yield Ward(site, station.dir, pid, entries)


def row(page: str, entry: Entry) -> str:
    """The history's row of an entry."""
    found = re.search(rf'<tr id="entry-{re.escape(entry.key.replace("/", "-"))}".*?</tr>', page, re.S)
    assert found, f"no row for {entry.key}"
    return " ".join(found[0].split())


def test_before_any_reconcile_nothing_is_said_and_no_file_is_made(ward: Ward, tmp_path: Path) -> None:
    pages = [ward.get(f"/patients/{ward.pid}"), ward.get(f"/patients/{ward.pid}/entries"),
             ward.printed(tmp_path)]
    assert row(pages[0], ward.entries[-1]) and row(pages[1], ward.entries[0])
    assert pages[2].count("Note infirmière") >= len(ward.entries)
    for page in pages:
        assert not [text for text in EVERY_TEXT if text in page]
    crisis = ward.get("/crisis", ward.cell)
    assert "Cellule de crise" in crisis and "Retour vers le DPI" not in crisis
    assert not (ward.dir / FATES_DB).exists()


def test_each_entry_says_its_fate_on_the_pages_and_on_paper(ward: Ward, tmp_path: Path) -> None:
    entries = ward.entries
    by_state = dict(zip(SAID, entries, strict=False))  # 8 states, the 8 oldest notes
    waiting, never = entries[8], entries[9]
    fates = Fates(ward.dir)
    run = fates.start_run("https://dpi.example/fhir")
    fates.record([
        Fate(by_state["filed"].key, "filed", "DocumentReference/his-1", time=FILED_AT),
        Fate(by_state["updated"].key, "updated", "DocumentReference/his-2", time=FILED_AT),
        Fate(by_state["already"].key, "already", "DocumentReference/his-3", time=FILED_AT),
        Fate(by_state["waiting-identity"].key, "waiting-identity", detail="Patient/x"),
        Fate(by_state["refused"].key, "refused", detail="Code de type de document inconnu",
             status=422),
        Fate(by_state["failed"].key, "failed", detail="503", status=503),
        Fate(by_state["replaced"].key, "replaced", "Provenance/his-9", time=FILED_AT),
        Fate(by_state["conflict"].key, "conflict"),
        Fate(waiting.key, "waiting", detail=entries[0].key),
    ], run=run)
    fates.close()

    listed = ward.get(f"/patients/{ward.pid}/entries")
    for state, entry in by_state.items():
        assert SAID[state] in row(listed, entry), state
    assert f"En attente de la saisie {entries[0].key}" in row(listed, waiting)
    assert not [text for text in EVERY_TEXT if text in row(listed, never)]

    patient = ward.get(f"/patients/{ward.pid}")  # the 10 newest: every note here
    assert SAID["refused"] in row(patient, by_state["refused"])
    assert SAID["filed"] in row(patient, by_state["filed"])

    printed = ward.printed(tmp_path)
    for said in SAID.values():
        assert said in printed, said
    # the key may wrap onto a line that pdftotext reads after the next column's text; it
    # is printed nowhere else (the station column shows 8 characters of the station id)
    assert "En attente de la saisie" in printed and entries[0].key in printed.replace(" ", "")

    english = ward.get(f"/patients/{ward.pid}/entries?lang=en")
    assert "Refused by the HIS: Code de type de document inconnu" in row(english, by_state["refused"])
    assert "Filed in the HIS on" in row(english, by_state["filed"])
    ward.get("/wards?lang=fr")

    crisis = ward.get("/crisis", ward.cell)
    section = " ".join(crisis[crisis.index("Retour vers le DPI"):].split())
    for words in ("créées dans le DPI", "refusées par le DPI", "en attente d'une autre saisie",
                  "corrections concurrentes à trancher"):
        assert re.search(rf"{re.escape(words)}</th> ?<td class=\"num\">1</td>", section), words
    assert "déjà dans le DPI" in section and "patients rapprochés" not in section
