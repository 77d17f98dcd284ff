"""The reconcile report on paper for the crisis cell (wayback/reconcile_pdf.py): a
hand-made report in the JSON schema of docs/way-back.md, written as PDF, read back with
pdftotext."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from releve.wayback import reconcile_pdf

NURSE = {"user": "nina", "name": "Nina Infirmière", "role": "nurse"}


def entry(key: str, kind: str, state: str, *, his: str | None = None, detail: str | None = None,
          status: int | None = None, patient: str = "Patient/p-1") -> dict:
    return {"entry": key, "kind": kind, "patient": patient, "resource": f"Observation/{key[-4:]}",
            "author": NURSE, "time": "2026-01-14T09:40:00Z", "state": state, "his": his,
            "detail": detail, "status": status}


REPORT = {
    "reconcile": 1, "station": "92FADEDE2CD701E5", "server": "https://dpi.chu.example/fhir",
    "started": "2026-01-20T08:00:00Z", "finished": "2026-01-20T08:03:30Z", "dry_run": False,
    "counts": {"filed": 2, "already": 1, "replaced": 1, "refused": 1, "waiting-identity": 1,
               "failed": 1},
    "identities": [
        {"patient": "Patient/d-1", "ipp": "D000017", "name": "DUPONT Jeanne",
         "birthDate": "1950-03-02", "proposal": "match", "basis": "ins", "his": "Patient/H-4242",
         "decision": None, "decided_his": None, "candidates": [{"id": "H-4242"}]},
        {"patient": "Patient/d-2", "ipp": "D000018", "name": "MARTIN Paul",
         "birthDate": "1961-11-30", "proposal": "create", "basis": "none", "his": None,
         "decision": None, "decided_his": None, "candidates": []},
        {"patient": "Patient/d-3", "ipp": "D000019", "name": "DÉJÀ Décidé",
         "birthDate": "1970-01-01", "proposal": "create", "basis": "none", "his": None,
         "decision": "create", "decided_his": None, "candidates": []},
    ],
    "entries": [
        entry("92FADEDE2CD701E5/1", "observation", "filed", his="Observation/H-1"),
        entry("92FADEDE2CD701E5/2", "note", "filed", his="DocumentReference/H-2"),
        entry("92FADEDE2CD701E5/3", "observation", "already", his="Observation/H-3"),
        entry("92FADEDE2CD701E5/4", "observation", "replaced", his="Provenance/H-4"),
        entry("92FADEDE2CD701E5/5", "administration", "refused", status=422,
              detail="MedicationRequest/H-77 inconnue du DPI"),
        entry("92FADEDE2CD701E5/6", "admission", "waiting-identity", patient="Patient/d-1",
              detail="Patient/d-1"),
        entry("92FADEDE2CD701E5/7", "transmission", "failed", status=503, detail="Service Unavailable"),
    ],
}


def text_of(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    return " ".join(out.split())


def section(text: str, start: str, end: str | None = None) -> str:
    begin = text.index(start)
    return text[begin:text.index(end, begin)] if end else text[begin:]


def test_the_report_on_paper_says_what_the_cell_must_act_on(tmp_path: Path) -> None:
    out = tmp_path / "reconcile.pdf"
    reconcile_pdf.write(REPORT, out, zone="Europe/Paris")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes().startswith(b"%PDF-")
    text = text_of(out)

    head = section(text, "Report des saisies du mode dégradé dans le DPI", "Saisies par état")
    assert "92FADEDE2CD701E5" in head and "https://dpi.chu.example/fhir" in head
    assert "20/01/2026 09:00" in head and "20/01/2026 09:03" in head and "Europe/Paris" in head
    assert "3 saisie(s) non reportée(s) dans le DPI, 2 identité(s) à confirmer" in head

    counts = section(text, "Saisies par état", "Identités à confirmer")
    for words, n in (("créée dans le DPI", 2), ("déjà dans le DPI", 1), ("refusée par le DPI", 1),
                     ("en attente : identité à confirmer", 1), ("échec d'envoi, à réessayer", 1),
                     ("Total", 7)):
        assert f"{words} {n}" in counts, words
    assert "corrections concurrentes" not in counts  # a state no entry is in is not listed

    identities = section(text, "Identités à confirmer (2)", "Saisies non reportées")
    assert "D000017 DUPONT Jeanne 02/03/1950 rapprocher de Patient/H-4242 INS" in identities
    assert "D000018 MARTIN Paul 30/11/1961 créer dans le DPI aucun patient correspondant" in identities
    assert "DÉJÀ" not in identities and "1 identité(s) déjà confirmée(s)" in identities

    waiting = section(text, "Saisies non reportées (3)", "Saisies reportées")
    assert "HTTP 422 : MedicationRequest/H-77 inconnue du DPI" in waiting
    assert "HTTP 503 : Service Unavailable" in waiting
    assert "Nina Infirmière (infirmier·ère)" in waiting and "14/01/2026 10:40" in waiting
    for key in ("/5", "/6", "/7"):
        assert f"92FADEDE2CD701E5{key}" in waiting
    assert "92FADEDE2CD701E5/1 " not in waiting

    done = section(text, "Saisies reportées (4)")
    assert "note créée dans le DPI 1" in done and "observation version remplacée, historique reporté 1" in done
    assert "92FADEDE2CD701E5/2 note Patient/p-1 14/01/2026 10:40 créée dans le DPI DocumentReference/H-2" in done
    assert "version remplacée, historique reporté Provenance/H-4" in done
    assert "92FADEDE2CD701E5/5" not in done


def test_a_finished_reconcile_says_so_in_utc_without_a_zone(tmp_path: Path) -> None:
    report = {**REPORT, "counts": {"filed": 1}, "identities": [],
              "entries": [entry("A1B2C3D4E5F60718/1", "observation", "filed", his="Observation/H-9")]}
    out = tmp_path / "done.pdf"
    reconcile_pdf.write(report, out)
    text = text_of(out)
    assert "Toutes les saisies sont reportées dans le DPI" in text
    assert "20/01/2026 08:00" in text and "Heures en UTC" in text
    assert "Identités à confirmer (0) Aucune." in text and "Saisies non reportées (0) Aucune." in text


def test_a_long_run_lists_the_first_entries_and_counts_them_all(tmp_path: Path, monkeypatch) -> None:
    """Laying out thousands of rows takes minutes: the paper lists the first ones (what a
    person acts on first: by state), counts every one, and points at the JSON."""
    monkeypatch.setattr(reconcile_pdf, "DONE_LISTED", 2)
    monkeypatch.setattr(reconcile_pdf, "NOT_DONE_LISTED", 1)
    out = tmp_path / "long.pdf"
    reconcile_pdf.write(REPORT, out)
    text = text_of(out)
    waiting = section(text, "Saisies non reportées (3)", "Saisies reportées")
    assert "Les 1 premières, par état ; toutes sont dans le rapport JSON" in waiting
    assert "92FADEDE2CD701E5/6" in waiting  # waiting for an identity comes first (STATES)
    assert "92FADEDE2CD701E5/5" not in waiting and "92FADEDE2CD701E5/7" not in waiting
    done = section(text, "Saisies reportées (4)")
    assert "observation créée dans le DPI 1" in done and "Les 2 premières" in done
    assert "92FADEDE2CD701E5/2" in done and "92FADEDE2CD701E5/3" not in done
