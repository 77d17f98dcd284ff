"""`releve journal identities`: who the patients admitted during the downtime are in the
HIS, as a person confirms it before reconcile files what depends on them
(docs/way-back.md §2). Registered on `releve journal` by journal.py.

  list [--fhir URL ...]     each downtime patient, its proposal and decision (with --fhir,
                            the HIS is searched again first for the undecided)
  confirm PATIENT (--his Patient/ID | --create)
  confirm-proposed          accept every proposal founded on a single INS match
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.markup import escape

from ..journal.book import Journal
from ..journal.entry import Entry
from ..journal.fates import Fates, Identity
from ..journal.index import since as entries_since
from ..wayback import downtime_patients as ids
from .console import clear_errors, fail, out
from .his import CA_CERT, CLIENT_ID, CLIENT_KEY, HIS_TOKEN, HIS_TOKEN_FILE, READ_SCOPE, TOKEN_URL, his_client

identities_app = typer.Typer(help="Confirm who the downtime patients are in the HIS.",
                             no_args_is_help=True)
STATION = typer.Option(None, "--station", help="The station's folder (before or after the verb)")


@identities_app.callback()
def identities(ctx: typer.Context, station: Path | None = STATION) -> None:
    """Who the patients admitted during the downtime are in the HIS."""
    ctx.obj = station


def _station(ctx: typer.Context, station: Path | None) -> Path:
    """The --station given after the verb, else the one given before it."""
    chosen = station or (ctx.parent.obj if ctx.parent is not None else None)
    if chosen is None:
        fail("missing --station DIR", 2)
    return chosen


def _journal(station: Path) -> tuple[list[Entry], dict[str, dict]]:
    """Every entry the station holds (all stations', in time order) and its downtime
    patients."""
    journal = Journal(station)
    entries = list(entries_since(journal.db(), None))
    return entries, ids.downtime_patients(entries)


@identities_app.command("list")
def list_identities(
    ctx: typer.Context,
    station: Path | None = STATION,
    fhir: str | None = typer.Option(None, help="Base URL of the restored HIS: search it again "
                                               "for every undecided patient first"),
    token_file: Path | None = HIS_TOKEN_FILE,
    token: str | None = HIS_TOKEN,
    client_id: str | None = CLIENT_ID,
    client_key: Path | None = CLIENT_KEY,
    token_url: str | None = TOKEN_URL,
    ca_cert: Path | None = CA_CERT,
) -> None:
    """Each patient admitted during the downtime: downtime IPP, name, birth date, what the
    HIS search proposes and on what basis, the candidates, and who decided what."""
    station = _station(ctx, station)
    with clear_errors():
        _, patients = _journal(station)
        fates = Fates(station)
        if fhir:
            client = his_client(fhir, token, client_id, client_key, token_url, READ_SCOPE,
                                ca_cert)
            try:
                ids.refresh(client, fates, patients)
            finally:
                client.close()
        known = fates.identities()
    if not patients:
        out.print("no patient was admitted during the downtime")
        return
    for ref, patient in patients.items():
        _show(ref, patient, known.get(ref))
    decided = sum(1 for ref in patients if ref in known and known[ref].decision is not None)
    out.print(f"{len(patients)} patients admitted during the downtime: {decided} decided, "
              f"{len(patients) - decided} waiting for a decision", highlight=False)


def _show(ref: str, patient: dict, identity: Identity | None) -> None:
    """One patient's block: who they are, the proposal, the candidates, the decision."""
    candidate = ids.candidate(patient)
    out.print(f"[bold]{escape(ref)}[/]  IPP {escape(ids.downtime_ipp(patient) or '-')}  "
              f"{escape(candidate['name'])}  born {escape(str(candidate['birthDate'] or '-'))}  "
              f"{escape(str(candidate['gender'] or '-'))}  INS {escape(candidate['ins'] or '-')}",
              highlight=False)
    if identity is None:
        out.print("  proposal: none yet (search the HIS: `list --fhir URL`)", highlight=False)
        return
    target = f" {identity.his}" if identity.his else ""
    out.print(f"  proposal: {identity.proposal}{escape(target)} (basis {identity.basis})",
              highlight=False)
    for person in ids.people(identity.candidates):
        out.print(f"  candidate {escape(person['his'])}: {escape(person['name'])}, "
                  f"born {escape(str(person['birthDate'] or '-'))}, "
                  f"{escape(str(person['gender'] or '-'))}, IPP {escape(str(person['ipp'] or '-'))}, "
                  f"INS {escape(str(person['ins'] or '-'))}", highlight=False)
    for note in ids.notes(identity.candidates):
        out.print(f"  note: {escape(note)}", highlight=False)
    if identity.decision is None:
        out.print("  decision: [yellow]none[/] (nothing about this patient is filed until "
                  "someone confirms)", highlight=False)
    else:
        out.print(f"  decision: {escape(ids.decision_text(identity))} by "
                  f"{escape(str(identity.decided_by))} at {escape(str(identity.decided_at))}",
                  highlight=False)


@identities_app.command("confirm")
def confirm(
    ctx: typer.Context,
    patient: str = typer.Argument(..., help="Patient/<id> of the admission, or the downtime IPP"),
    station: Path | None = STATION,
    his: str | None = typer.Option(None, "--his", help="The HIS's patient: Patient/<id>"),
    create: bool = typer.Option(False, "--create", help="The HIS does not know the patient: "
                                                        "create them"),
) -> None:
    """Decide who a downtime patient is in the HIS; the decider is the account running
    this. A decision can change until reconcile filed something under it."""
    if (his is None) == (not create):
        fail("give --his Patient/<id> or --create (one of them)", 2)
    with clear_errors(code=2):
        ids.check_his(his)
    station = _station(ctx, station)
    with clear_errors():
        entries, patients = _journal(station)
        ref = ids.find_patient(patients, patient)
        fates = Fates(station)
        decided = ids.decide(fates, entries, ref, "create" if create else "match", his,
                             getpass.getuser())
        found = {p["his"] for p in ids.people(decided.candidates)}
    out.print(f"{escape(ref)} (IPP {escape(ids.downtime_ipp(patients[ref]) or '-')}): "
              f"{'create' if create else f'match {escape(str(his))}'}, decided by "
              f"{escape(str(decided.decided_by))}", highlight=False)
    if his is not None and his not in found:
        out.print(f"note: {escape(his)} is not among the candidates the HIS search found",
                  highlight=False)


@identities_app.command("confirm-proposed")
def confirm_proposed(ctx: typer.Context, station: Path | None = STATION) -> None:
    """Accept every undecided proposal founded on the INS with exactly one HIS candidate;
    print each one accepted. The others wait for `confirm`."""
    station = _station(ctx, station)
    with clear_errors():
        _, patients = _journal(station)
        accepted = list(ids.accept_proposed(Fates(station), getpass.getuser()))
    for identity in accepted:
        patient = patients.get(identity.patient, {})
        out.print(f"accepted {escape(identity.patient)} (IPP "
                  f"{escape(ids.downtime_ipp(patient) or '-')}, {escape(ids.candidate(patient)['name'])})"
                  f": match {escape(str(identity.decided_his))} by INS", highlight=False)
    out.print(f"{len(accepted)} proposals accepted", highlight=False)
