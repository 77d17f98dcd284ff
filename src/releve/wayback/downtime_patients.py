"""Who the patients admitted during the downtime are in the restored HIS.

A patient admitted during the outage has a downtime IPP and the id its admission gave it.
Before anything about them is filed, the HIS is searched for them and what was found is
proposed to a person, who confirms (`releve journal identities`): a wrong match would file
one patient's care into another's record, a wrong creation would split one record in two.

The search, with FHIR's standard parameters only (any server that follows the spec):
1. the INS (`identifier=urn:oid:1.2.250.1.213.1.4.8|<INS>`), when the admission has one;
2. else the identity traits (`family`, first `given`, `birthdate`, `gender`);
3. else nothing: the patient is proposed for creation.
Every candidate the server returns is confirmed here (same INS; or same folded names and
exact birth date, fhir/names.py `person_key`, the station's « doublon probable » rule), so a
server that matches loosely, or ignores a parameter, proposes nobody wrongly. Exactly one
candidate is a `match`; several are `ambiguous`: a person chooses among them. A server
that refuses a parameter (400) makes the search fall to the next rule, and the candidates
carry a note saying so.

`candidates` (stored as JSON in the fates): one dict per HIS patient found (`his`, `name`,
`family`, `given`, `birthDate`, `gender`, `ipp`, `ins`), then, when there is something to
say, dicts with a `note` only (`people` and `notes` split them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import httpx

from ..errors import ReleveError
from ..fhir.client import FhirClient, FhirError, outcome_text, parse_json
from ..fhir.clinical.values import name_parts
from ..fhir.names import person_key
from ..journal.entry import Entry, made_in_downtime
from ..journal.fates import DONE, Fates, Identity
from ..journal.kinds.movement import INS_SYSTEM

INS_SYSTEMS = (INS_SYSTEM, "urn:oid:1.2.250.1.213.1.4.9", "urn:oid:1.2.250.1.213.1.4.10",
               "urn:oid:1.2.250.1.213.1.4.11")  # INS-NIR, INS-NIA and the test OIDs
MOST = 20  # candidates kept: a search that finds more has not identified anyone
PAGES = 10  # of 50 Patients: a server that ignores a parameter may list everyone
PATIENT_REF = re.compile(r"Patient/[A-Za-z0-9\-.]{1,64}")


class IdentityError(ReleveError):
    """A decision that cannot be taken as asked; the message says why and what to do."""


# --- who was admitted during the downtime --------------------------------------------------


def downtime_patients(entries: list[Entry]) -> dict[str, dict]:
    """"Patient/<id>" -> the current Patient resource, for every patient admitted during
    the downtime: a Patient an admission entry wrote (its id is the admission's own, not
    the HIS's), or whose id is the uuid of its journal identifier. A later version (a
    correction, a death) replaces the earlier one; `entries` are in time order."""
    admitted: set[str] = set()
    latest: dict[str, dict] = {}
    for entry in entries:
        resource = entry.resource
        if resource.get("resourceType") != "Patient":
            continue
        rid = str(resource.get("id") or "")
        if rid not in latest and made_in_downtime(entry):  # the resource's first entry
            admitted.add(rid)
        latest[rid] = resource
    return {f"Patient/{rid}": latest[rid] for rid in latest if rid in admitted}


def downtime_ipp(patient: dict, kinds: tuple[str, ...] = ("PI",)) -> str:
    """The number the ward gave the patient (identifier type PI), as the census shows it;
    with `kinds` ("PI", "MR"), a HIS patient's IPP (some servers type it MR)."""
    for kind in kinds:
        for ident in patient.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("value") and any(
                    isinstance(c, dict) and c.get("code") == kind
                    for c in (ident.get("type") or {}).get("coding") or []):
                return str(ident["value"])
    return ""


# --- the search ----------------------------------------------------------------------------------


def propose(client: FhirClient, patient: dict) -> Identity:
    """What the HIS holds that may be this patient, as a proposal for a person."""
    ref = f"Patient/{patient['id']}"
    notes: list[str] = []
    for basis, search in (("ins", _by_ins), ("traits", _by_traits)):
        found = search(client, patient, notes)
        if found:
            return _proposal(ref, basis, found, notes)
    return Identity(ref, "create", "none", None, [{"note": n} for n in notes])


def _by_ins(client: FhirClient, patient: dict, notes: list[str]) -> list[dict]:
    """The HIS patients with the admission's INS (none without one)."""
    ins = ins_of(patient)
    if not ins:
        notes.append("no INS recorded at admission")
        return []
    found = _search(client, {"identifier": f"{INS_SYSTEM}|{ins}"}, "INS", notes)
    same = [c for c in found or [] if ins_of(c) == ins]
    if found is not None and not same:
        notes.append("no HIS patient has this INS")
    return same


def _by_traits(client: FhirClient, patient: dict, notes: list[str]) -> list[dict]:
    """The HIS patients with the admission's names (folded) and birth date, save those
    whose INS differs from the admission's: a namesake born the same day.

    A server's name search may compare accents ("Lemaître" is not "LEMAITRE" to some, the
    spec's advice notwithstanding), so when it finds no one, the patients born that day
    are asked for and the names compared here."""
    _, family, given = name_parts(patient)
    birth = str(patient.get("birthDate") or "")
    key = person_key(family, given, birth)
    if not (key and given):
        notes.append("names or birth date missing: no search by traits")
        return []
    sex = {"gender": patient["gender"]} if patient.get("gender") in ("female", "male", "other") else {}
    ins = ins_of(patient)
    found = _search(client, {"family": family, "given": given.split()[0], "birthdate": birth, **sex},
                    "traits", notes)
    same, other = _confirmed(found or [], key, ins)
    if not same and not other:
        same, other = _confirmed(_search(client, {"birthdate": birth, **sex}, "birth date",
                                         notes) or [], key, ins)
        if same:
            notes.append("found among the HIS patients born that day, not by the HIS's "
                         "search by name (it may compare accents or case)")
    if other:
        notes.append(f"HIS patients with these names and birth date but another INS, not "
                     f"proposed: {', '.join(candidate(c)['his'] for c in other)}")
    elif not same:
        notes.append("no HIS patient has these names and birth date")
    return same


def _confirmed(found: list[dict], key: str, ins: str) -> tuple[list[dict], list[dict]]:
    """(the candidates with the same names and birth date, those of them whose INS
    differs from the admission's)."""
    same = [c for c in found if person_key(*name_parts(c)[1:], c.get("birthDate")) == key]
    other = [c for c in same if ins and ins_of(c) and ins_of(c) != ins]
    return [c for c in same if c not in other], other


def _proposal(ref: str, basis: str, found: list[dict], notes: list[str]) -> Identity:
    people = [candidate(c) for c in found[:MOST]]
    if len(found) == 1:
        return Identity(ref, "match", basis, people[0]["his"], [*people, *({"note": n} for n in notes)])
    notes = [*notes, f"{len(found)} HIS patients fit ({basis}): a person must choose "
                     "(`releve journal identities confirm`)"]
    if len(found) > MOST:
        notes.append(f"only the first {MOST} are listed")
    return Identity(ref, "ambiguous", basis, None, [*people, *({"note": n} for n in notes)])


def _search(client: FhirClient, params: dict[str, str], rule: str,
            notes: list[str]) -> list[dict] | None:
    """The Patients a search returns (all its pages, up to a bound), or None when the
    server refuses it (400: a parameter it does not support), with a note saying so."""
    found: list[dict] = []
    url: str | None = "Patient"
    query: dict[str, str] | None = {**params, "_count": "50"}
    for _ in range(PAGES):
        if url is None:
            break
        response = client.get(url, query)
        if response.status_code == 400 and query is not None:
            notes.append(f"the HIS refused the search by {rule} (HTTP 400"
                         f"{outcome_text(response)}): fell back to the next rule")
            return None
        bundle = _bundle(client, response)
        found += [e["resource"] for e in bundle.get("entry") or []
                  if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                  and e["resource"].get("resourceType") == "Patient"
                  and (e.get("search") or {}).get("mode", "match") == "match"]
        url = next((link.get("url") for link in bundle.get("link") or []
                    if isinstance(link, dict) and link.get("relation") == "next"), None)
        query = None
    if url is not None:
        notes.append(f"the search by {rule} was cut after {PAGES} pages")
    return list({c.get("id"): c for c in found}.values())


def _bundle(client: FhirClient, response: httpx.Response) -> dict:
    """A search's Bundle, or a FhirError naming what the server answered (never the
    query's values: they identify the patient)."""
    where = client.asked(str(response.url), True)
    if response.status_code >= 400:
        raise FhirError(f"{where}: HTTP {response.status_code}{outcome_text(response)}")
    bundle = parse_json(response.content, where)
    if bundle.get("resourceType") != "Bundle":
        raise FhirError(f"{where}: a search answered with no Bundle")
    return bundle


def candidate(resource: dict) -> dict:
    """What a person needs to tell whether a HIS patient is the one admitted."""
    _, family, given = name_parts(resource)
    return {"his": f"Patient/{resource.get('id')}", "name": f"{family.upper()} {given}".strip(),
            "family": family, "given": given, "birthDate": resource.get("birthDate"),
            "gender": resource.get("gender"), "ipp": downtime_ipp(resource, ("PI", "MR")) or None,
            "ins": ins_of(resource) or None}


def ins_of(patient: dict) -> str:
    for ident in patient.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") in INS_SYSTEMS and ident.get("value"):
            return str(ident["value"])
    return ""


def people(candidates: list) -> list[dict]:
    return [c for c in candidates if isinstance(c, dict) and "his" in c]


def notes(candidates: list) -> list[str]:
    return [str(c["note"]) for c in candidates if isinstance(c, dict) and "note" in c]


# --- proposals and decisions ---------------------------------------------------------------------


def refresh(client: FhirClient, fates: Fates | None, patients: dict[str, dict]) -> dict[str, Identity]:
    """The identity of every downtime patient: a person's decision where one was made,
    else a fresh proposal (stored in `fates` unless None, as in a dry run)."""
    known = fates.identities() if fates is not None else {}
    result: dict[str, Identity] = {}
    for ref, patient in patients.items():
        held = known.get(ref)
        if held is not None and held.decision is not None:
            result[ref] = held
            continue
        proposal = propose(client, patient)
        if fates is not None:
            fates.propose(proposal)
        result[ref] = proposal
    return result


def find_patient(patients: dict[str, dict], given: str) -> str:
    """The downtime patient named by "Patient/<id>" or by the downtime IPP."""
    if given in patients:
        return given
    by_ipp = [ref for ref, patient in patients.items() if downtime_ipp(patient) == given]
    if len(by_ipp) == 1:
        return by_ipp[0]
    if by_ipp:
        raise IdentityError(f"the downtime IPP {given} names {len(by_ipp)} patients: give "
                            "Patient/<id> (`releve journal identities list`)")
    raise IdentityError(f"{given} is neither a patient admitted during the downtime "
                        "(Patient/<id>) nor a downtime IPP")


def settled(fates: Fates, entries: Iterable[Entry], patient: str) -> list[str]:
    """The entries about `patient` the HIS already holds: once one of them is filed, under
    the decision taken, the decision can no longer change (its references point there)."""
    about = {e.key for e in entries if e.patient == patient}
    keys = {key for _, key in fates.filed().values() if key in about}
    keys |= {key for key, fate in fates.fates(about).items() if fate.state in DONE}
    return sorted(keys)


def decide(fates: Fates, entries: list[Entry], patient: str, decision: str, his: str | None,
           by: str) -> Identity:
    """Record a person's decision, unless reconcile already filed something under the
    earlier one; the decision as stored."""
    check_his(his)
    held = fates.identities().get(patient)
    if held is None:
        raise IdentityError(f"no proposal for {patient} yet: search the HIS first "
                            "(`releve journal identities list --fhir URL`)")
    if held.decision is not None and (held.decision, held.decided_his) != (decision, his):
        filed = settled(fates, entries, patient)
        if filed:
            raise IdentityError(
                f"{patient} was decided ({decision_text(held)}) and reconcile has filed "
                f"{len(filed)} entries about them under that decision (first {filed[0]}): "
                "changing it now would leave them in the wrong record; correct it in the HIS")
    fates.decide(patient, decision, his, by)
    return fates.identities()[patient]


def check_his(his: str | None) -> None:
    if his is not None and not PATIENT_REF.fullmatch(his):
        raise IdentityError(f"--his must be Patient/<id>, not {his!r}")


def decision_text(identity: Identity) -> str:
    return f"match {identity.decided_his}" if identity.decision == "match" else "create"


def accept_proposed(fates: Fates, by: str) -> Iterator[Identity]:
    """Accept every undecided proposal founded on the INS with exactly one candidate: the
    national identifier, matched and confirmed, needs no one to compare names."""
    for identity in fates.identities().values():
        if identity.decision is None and identity.proposal == "match" and \
                identity.basis == "ins" and len(people(identity.candidates)) == 1 and identity.his:
            fates.decide(identity.patient, "match", identity.his, by)
            yield fates.identities()[identity.patient]
