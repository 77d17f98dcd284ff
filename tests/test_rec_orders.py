"""Downtime orders over real HTTP: a physician prescribes, the nurse sees it in the plan
flagged « prescription de mode dégradé » and « à valider », the pharmacist checks it, the
flag changes; roles refused on the server with nothing written; bad input refused field
by field in French with nothing written; corrections kept in the history; the entries on
paper (pdftotext)."""

from __future__ import annotations

import datetime as dt
import html
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from releve.journal import files
from releve.journal.book import Journal
from releve.journal.entry import Author
from releve.journal.kinds import Context, Invalid, order_check
from releve.journal.kinds import order as order_kind
from releve.station.index.connection import reader
from releve.station.local.accounts import Accounts
from releve.station.local.audit import Audit
from releve.station.web.recording import csrf_of
from releve.station.web.signin import COOKIE
from test_station_web import PASSWORD, Site, station_site

from conftest import NOW, StationFixture, copy_station, run_releve

PULL = """import sys
from pathlib import Path
from releve.journal.book import Journal
here, peer = Journal(Path(sys.argv[1])), Journal(Path(sys.argv[2]))
print(here.ingest(peer.station, peer.key.public, peer.lines_after(peer.station, 0)).accepted)
"""
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
GOOD = {"type": "medication", "drug": "Paracétamol", "code": "N02BE01", "dose": "1", "unit": "g",
        "route": "orale", "frequency": "3", "days": "5"}


class Ward:
    """The test station, its patient, and a signed-in browser per role."""

    def __init__(self, site: Site, station_dir: Path, pid: str) -> None:
        self.site, self.dir, self.pid = site, station_dir, pid
        self.clients: dict[str, httpx.Client] = {}

    def as_(self, name: str) -> httpx.Client:
        if name not in self.clients:
            self.clients[name] = self.site.login(name)
        return self.clients[name]

    def csrf(self, name: str) -> str:
        """The session's token, from the page's forms; a role with no form on the page
        (a nurse, for orders) gets the one its session would have: the server must
        still refuse it by its role."""
        page = self.as_(name).get(f"/patients/{self.pid}")
        assert page.status_code == 200, page.text[:300]
        found = CSRF.search(page.text)
        return found[1] if found else csrf_of(self.as_(name).cookies[COOKIE])

    def post(self, name: str, path: str, data: dict) -> httpx.Response:
        return self.as_(name).post(f"/patients/{self.pid}{path}", data={"csrf": self.csrf(name), **data})

    def page(self, name: str = "nina") -> str:
        return html.unescape(self.as_(name).get(f"/patients/{self.pid}").text)

    def written(self) -> int:
        """The bytes of every journal file: what a refused post must leave as it was."""
        return sum(p.stat().st_size for p in files.journal_dir(self.dir).glob("*.ndjson"))

    def order_key(self, drug: str) -> str:
        keys = re.findall(r'<tr id="order-([^"]+)">\s*<th scope="row">([^<]+)</th>', self.page("marc"))
        match = [k for k, text in keys if text.startswith(drug)]
        assert match, f"no order of {drug} on the page"
        station, seq = match[0].rsplit("-", 1)
        return f"{station}/{seq}"


@pytest.fixture(scope="module")
def ward(demo_station: StationFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    station = copy_station(demo_station, tmp_path_factory.mktemp("orders") / "s")
    accounts = Accounts(station.dir)
    accounts.add_user("marc", "physician", PASSWORD, "Marc Médecin")
    accounts.add_user("nina", "nurse", PASSWORD, "Nina Infirmière")
    accounts.add_user("paul", "pharmacist", PASSWORD, "Paul Pharmacien")
    conn = reader(station.dir)
    pid = conn.execute("SELECT patient FROM stays WHERE current = 1 ORDER BY patient LIMIT 1").fetchone()[0]
    conn.close()
    with station_site(station.dir) as site:
        yield Ward(site, station.dir, pid)


def _row(page: str, drug: str) -> str:
    """The line of an order in the plan's table of current treatments."""
    meds = _treatments(page)
    row = meds[meds.index(f'class="drug">{drug}'):]
    return row[:row.index("</tr>")]


def _treatments(page: str) -> str:
    """The "Traitements en cours" section, where the plan's current orders are."""
    start = page.index('id="h-meds"')
    return page[start:page.index("</section>", start)]


def test_order_is_in_the_plan_flagged_until_the_pharmacist_validates(ward: Ward) -> None:
    answer = ward.post("marc", "/orders", {**GOOD, "drug": "Paracétamol test"})
    assert answer.status_code == 303, answer.text[:500]
    row = _row(ward.page("nina"), "Paracétamol test")
    assert "prescription de mode dégradé" in row and "à valider par la pharmacie" in row
    assert "14:00" in row and "20:00" in row  # 3 fois par jour, planned from 10:00
    assert "1 g" in row and "Voie orale" in row
    queue = html.unescape(ward.as_("paul").get("/orders/to-check").text)
    assert "Paracétamol test" in queue
    key = ward.order_key("Paracétamol test")
    checked = ward.post("paul", "/orders/check", {"entry": key, "outcome": "validee"})
    assert checked.status_code == 303, checked.text[:500]
    row = _row(ward.page("nina"), "Paracétamol test")
    assert "validée par Paul Pharmacien le 14/01/2026" in row and "à valider" not in row
    assert "Paracétamol test" not in ward.as_("paul").get("/orders/to-check").text


def test_a_nurse_cannot_prescribe_nor_a_physician_check(ward: Ward) -> None:
    before = ward.written()
    refused = ward.post("nina", "/orders", GOOD)
    assert refused.status_code == 403 and "Saisie non autorisée" in refused.text
    ward.post("marc", "/orders", {**GOOD, "drug": "Amoxicilline"})
    after_order = ward.written()
    assert after_order > before
    key = ward.order_key("Amoxicilline")
    assert ward.post("marc", "/orders/check", {"entry": key, "outcome": "validee"}).status_code == 403
    assert ward.post("nina", "/orders/check", {"entry": key, "outcome": "validee"}).status_code == 403
    assert ward.post("paul", "/orders", GOOD).status_code == 403
    assert ward.as_("nina").get("/orders/to-check").status_code == 403
    assert ward.written() == after_order


BAD = [
    ({"drug": ""}, "drug", "Ce champ est obligatoire."),
    ({"drug": "x" * 201}, "drug", "Texte trop long (201 caractères, 200 au plus)."),
    ({"dose": "un"}, "dose", "« un » n'est pas un nombre."),
    ({"dose": ""}, "dose", "Ce champ est obligatoire."),
    ({"dose": "-2"}, "dose", "La dose doit être un nombre positif."),
    ({"unit": "kg"}, "unit", "Choisissez une des valeurs proposées."),
    ({"route": ""}, "route", "Choisissez une des valeurs proposées."),
    ({"frequency": "7"}, "frequency", "Choisissez une des valeurs proposées."),
    ({"frequency": "h", "every": "5"}, "every", "Valeur non prévue : de 1 à 24."),
    ({"frequency": "prn", "prn_max": "3"}, "prn_reason", "Ce champ est obligatoire."),
    ({"start": "2026-02-01T08:00"}, "start", "Plus de 7 jours à l'avance : saisie refusée."),
    ({"start": "2025-12-01T08:00"}, "start", "Plus de 24 h en arrière : saisie refusée."),
    ({"start": "demain"}, "start", "Heure invalide : écrivez HH:MM ou AAAA-MM-JJTHH:MM."),
    ({"days": "0"}, "days", "Durée de 1 à 90 jours."),
    ({"days": "", "end": "2026-01-14T09:00"}, "end", "La fin doit être après le début."),
    ({"days": "", "end": "2027-01-14T09:00"}, "end", "Plus de 90 jours : saisie refusée."),
    ({"code": "paracetamol"}, "code", "Code ATC invalide (exemple : N02BE01)."),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_order_is_refused_in_french_and_nothing_is_written(ward: Ward, change, field,
                                                                 message) -> None:
    before = ward.written()
    answer = ward.post("marc", "/orders", {**GOOD, "drug": "Kétoprofène", **change})
    page = html.unescape(answer.text)
    assert answer.status_code == 400
    assert f'id="err-{field}" role="alert">{message}<' in page
    assert 'value="Kétoprofène"' in page or field == "drug"  # the typed values are kept
    assert ward.written() == before


def test_bad_lab_request_and_bad_check_are_refused(ward: Ward) -> None:
    before = ward.written()
    answer = ward.post("marc", "/orders", {"type": "lab", "what": "", "priority": "urgent",
                                           "reason": "fièvre", "when": "2026-03-01T08:00"})
    page = html.unescape(answer.text)
    assert answer.status_code == 400
    assert 'id="err-what" role="alert">Ce champ est obligatoire.<' in page
    assert 'id="err-when" role="alert">Plus de 7 jours à l\'avance : saisie refusée.<' in page
    assert ward.written() == before
    ward.post("marc", "/orders", {**GOOD, "drug": "Tramadol"})
    written = ward.written()
    key = ward.order_key("Tramadol")
    answer = ward.post("paul", "/orders/check", {"entry": key, "outcome": "a-modifier", "comment": ""})
    assert answer.status_code == 400 and 'id="err-comment"' in answer.text
    assert ward.written() == written


def test_lab_request_is_listed_with_the_downtime_orders(ward: Ward) -> None:
    answer = ward.post("marc", "/orders", {"type": "lab", "what": "Ionogramme sanguin", "code": "2951-2",
                                           "priority": "urgent", "reason": "vomissements",
                                           "specimen": "sang"})
    assert answer.status_code == 303, answer.text[:500]
    page = ward.page()
    orders = page[page.index('id="rec-orders"'):]
    assert "Ionogramme sanguin (Examen de biologie)" in orders[:orders.index("</section>")]
    upcoming = page[page.index('id="h-upcoming"'):]
    assert "Ionogramme sanguin" in upcoming[:upcoming.index("</section>")]


def test_correction_to_modify_and_cancel_keep_every_version(ward: Ward) -> None:
    ward.post("marc", "/orders", {**GOOD, "drug": "Furosémide", "dose": "40", "unit": "mg",
                                  "frequency": "1"})
    first = ward.order_key("Furosémide")
    asked = ward.post("paul", "/orders/check", {"entry": first, "outcome": "a-modifier",
                                                "comment": "dose trop forte pour la clairance"})
    assert asked.status_code == 303
    assert "à modifier : dose trop forte pour la clairance" in _treatments(ward.page())
    form = html.unescape(ward.as_("marc").get(f"/patients/{ward.pid}/orders/correct",
                                              params={"entry": first}).text)
    assert 'value="Furosémide"' in form and 'value="40"' in form
    missing_reason = ward.post("marc", "/orders", {**GOOD, "drug": "Furosémide", "dose": "20", "unit": "mg",
                                                   "frequency": "1", "supersedes": first})
    assert missing_reason.status_code == 400 and 'id="err-reason_change"' in missing_reason.text
    fixed = ward.post("marc", "/orders", {**GOOD, "drug": "Furosémide", "dose": "20", "unit": "mg",
                                          "frequency": "1", "supersedes": first,
                                          "reason_change": "avis pharmaceutique"})
    assert fixed.status_code == 303
    second = ward.order_key("Furosémide")
    assert second != first
    row = _row(ward.page(), "Furosémide")
    assert "20 mg" in row and "à valider par la pharmacie" in row
    assert ward.post("marc", "/orders", {**GOOD, "supersedes": first,
                                         "reason_change": "x"}).status_code == 409
    stopped = ward.post("marc", "/orders/stop", {"entry": second, "reason": "prescrit par erreur",
                                                 "action": "cancel"})
    assert stopped.status_code == 303
    again = ward.post("marc", "/orders/stop", {"entry": ward_key(ward, second), "reason": "x"})
    assert again.status_code == 409
    assert ward.post("paul", "/orders/check", {"entry": ward_key(ward, second),
                                               "outcome": "validee"}).status_code == 409
    page = ward.page()
    assert 'class="drug">Furosémide' not in _treatments(page)
    history = page[page.index('id="rec-history"'):]
    assert history.count("<del>Furosémide") == 2  # both versions kept, struck
    assert "annulé : prescrit par erreur" in history
    assert "remplacé par la saisie du 14/01/2026" in history
    assert "corrige la saisie " + first in history and "raison : avis pharmaceutique" in history
    assert "À modifier : dose trop forte pour la clairance — Furosémide 40 mg" in history
    assert "Marc Médecin" in history and "(médecin)" in history and "(ce poste)" in history


def test_the_printed_entries_list_every_entry(ward: Ward, tmp_path: Path) -> None:
    ward.post("marc", "/orders", {**GOOD, "drug": "Héparine", "dose": "5000", "unit": "UI",
                                  "route": "sc", "frequency": "2"})
    pdf = ward.as_("nina").get(f"/patients/{ward.pid}/print/entries.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "e.pdf").write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "e.pdf"), "-"], capture_output=True,
                          check=True, text=True).stdout
    page = ward.page()
    total = int(re.search(r"(\d+) saisie\(s\), de tous les postes", page)[1])
    assert f"{total} saisie(s), de tous les postes" in " ".join(text.split())
    for drug in ("Héparine", "Paracétamol test", "Amoxicilline"):
        assert drug in text
    out = tmp_path / "cli.pdf"
    run_releve("station", "print", "entries", "--station", ward.dir, "--patient", ward.pid,
               "--out", out)
    cli = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, check=True, text=True).stdout
    assert "Héparine" in cli and "Saisies du mode dégradé" in cli
    printed = [e for e in Audit(ward.dir).entries(patient=ward.pid, action="print")
               if e.page == "print-entries"]
    assert {e.user for e in printed} >= {"nina"} and len(printed) == 2


def ward_key(ward: Ward, replaced: str) -> str:
    """The entry that replaced `replaced`: the newest line of the history (read from the
    page: a second index connection in this process would drop the server's SQLite locks)."""
    newest = re.search(r'<tr id="entry-([0-9A-F]+)-(\d+)"', ward.page())
    assert newest and f"{newest[1]}/{newest[2]}" != replaced
    return f"{newest[1]}/{newest[2]}"


def _context() -> Context:
    return Context(dt.datetime.fromisoformat(NOW), "Europe/Paris", "Patient/p1", "physician")


def test_every_n_hours_plans_from_the_first_dose_and_check_refuses_a_wrong_unit() -> None:
    draft = order_kind.from_form({**GOOD, "frequency": "h", "every": "6", "start": "09:30"}, _context())
    repeat = draft.resource["dosageInstruction"][0]["timing"]["repeat"]
    assert repeat["period"] == 6 and repeat["periodUnit"] == "h"
    assert repeat["boundsPeriod"]["start"] == "2026-01-14T09:30:00+01:00"
    posted = {**draft.resource, "dosageInstruction": [{**draft.resource["dosageInstruction"][0],
                                                       "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "kg"}}]}]}
    with pytest.raises(Invalid) as refused:
        order_kind.check(posted, _context())
    assert [p.field for p in refused.value.problems] == ["unit"]
    prn = order_kind.from_form({**GOOD, "frequency": "prn", "prn_reason": "douleur", "prn_max": "4"},
                               _context()).resource["dosageInstruction"][0]
    assert prn["asNeededCodeableConcept"]["text"] == "douleur"
    assert prn["maxDosePerPeriod"]["numerator"]["value"] == 4
    assert order_kind.form_of(order_kind.from_form(GOOD, _context()).resource)["dose"] == "1"
    later = order_kind.from_form({**GOOD, "start": "2026-01-16T08:00"}, _context()).resource
    assert later["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"].startswith("2026-01-16T08:00")
    far = dict(later, dosageInstruction=[{**later["dosageInstruction"][0], "timing": {"repeat": {
        "boundsPeriod": {"start": "2026-02-16T08:00:00+01:00"}}}}])
    with pytest.raises(Invalid) as refused:
        order_kind.check(far, _context())  # what the API posts is held to the form's window
    assert [p.message() for p in refused.value.problems] == ["Plus de 7 jours à l'avance : saisie refusée."]


def test_a_check_names_the_version_it_checked() -> None:
    draft = order_check.from_form({"outcome": "validee", "target": "MedicationRequest/x",
                                   "entry": "abc/3", "verifier": "Paul"}, _context())
    assert draft.kind == "order-check" and order_check.checked_entry(draft.resource) == "abc/3"
    assert draft.resource["agent"][0]["type"]["coding"][0]["code"] == "verifier"
    with pytest.raises(Invalid):
        order_check.check({**draft.resource, "target": [{"reference": "Observation/x"}]}, _context())


def test_the_orders_pages_in_english(ward: Ward) -> None:
    ward.post("marc", "/orders", {**GOOD, "drug": "Ondansétron", "dose": "4", "unit": "mg", "route": "iv"})
    key = ward.order_key("Ondansétron")
    doctor = html.unescape(ward.as_("marc").get(f"/patients/{ward.pid}?lang=en").text)
    assert "Downtime orders" in doctor and "New medication order" in doctor and "Downtime entries" in doctor
    assert "to be checked by the pharmacy" in doctor
    correct = ward.as_("marc").get(f"/patients/{ward.pid}/orders/correct", params={"entry": key})
    assert correct.status_code == 200 and "Correct an order" in correct.text
    queue = html.unescape(ward.as_("paul").get("/orders/to-check?lang=en").text)
    assert "Orders to check" in queue and "Ondansétron" in queue
    entries = html.unescape(ward.as_("paul").get(f"/patients/{ward.pid}/entries").text)
    assert "Downtime entries" in entries and "Ondansétron" in entries
    for client in ("marc", "paul"):
        ward.as_(client).get("/wards?lang=fr")


def test_an_order_from_a_peer_station_is_checked_here(ward: Ward, tmp_path: Path) -> None:
    (tmp_path / "peer").mkdir()
    peer = Journal(tmp_path / "peer")
    context = Context(dt.datetime.fromisoformat(NOW), "Europe/Paris", f"Patient/{ward.pid}", "physician")
    draft = order_kind.from_form({**GOOD, "drug": "Vancomycine", "dose": "1", "unit": "g", "route": "iv",
                                  "frequency": "2", "requester": "Dr Pair"}, context)
    written = peer.append([draft], Author("pair", "Dr Pair", "physician"))
    pulled = subprocess.run([sys.executable, "-c", PULL, str(ward.dir), str(tmp_path / "peer")],
                            capture_output=True, text=True, check=True)  # its own process, as a pull
    assert pulled.stdout.strip() == "1"
    queue = html.unescape(ward.as_("paul").get("/orders/to-check").text)
    assert "Vancomycine 1 g" in queue
    checked = ward.post("paul", "/orders/check", {"entry": written[0].key, "outcome": "validee"})
    assert checked.status_code == 303
    assert "validée par Paul Pharmacien" in _row(ward.page(), "Vancomycine")
    # the entries' page lists them all (the patient page, its newest few): entries written
    # at the same pinned instant sort by station id, random from one run to the next
    history = html.unescape(ward.as_("nina").get(f"/patients/{ward.pid}/entries").text)
    line = history[history.index(f'id="entry-{peer.station}-1"'):]
    line = line[:line.index("</tr>")]
    assert "Dr Pair" in line and "(ce poste)" not in line and peer.station[:8] in line
