"""The Patient of a patient group, from the PID segment of its latest ADT message.

Shaped as the FHIR capture's patients are, so the station shows them the same way: the
IPP with identifier type PI (the station's "IPP"), the INS under its OID (the station's
"INS"), the birth name as the official name (which the station displays) and the used
name as the usual one (which its search also finds), partial birth dates kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import datatypes as d
from ..message import Message, patient_key
from . import ids
from .movements import event_of, first

# PAM France's PID-32 (identity reliability: VIDE, PROV, VALI, DOUTE, FICTI, RECUP, QUAL)
# goes to FR Core's identity reliability extension, so nothing is lost; the INS is kept
# whatever the status (a nurse checks it against the wristband), but only a qualified
# identity ("QUAL") makes it the patient's official identifier.
RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
RELIABILITY_CODES = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
# PID-11 of XAD-7 BDL (birth delivery location: PAM France's birth place, its INSEE code
# in XAD-9) or BR (residence at birth) is where the patient was born, not where they
# live: FHIR's birth place extension (which FR Core's Patient takes), never `address`.
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
BIRTH_TYPES = ("BDL", "BR")
GENDERS = {"M": "male", "F": "female", "O": "other", "A": "other", "U": "unknown",
           "N": "unknown"}
_NAME_ORDER = {"official": 0, "usual": 1}


def patient_resource(messages: Sequence[Message], survivor: str) -> dict | None:
    """The survivor's Patient: demographics from the latest ADT message about the
    survivor (else the latest ADT message of the group; a group without ADT, say a
    patient known only by results, from its other messages' PID), merged-away numbers
    kept as old identifiers so a search by the old IPP still finds the patient.

    Identity feeds count as any ADT message: A28 (add) and A31 (update) give the
    demographics when latest; A29 (delete person) makes the Patient inactive until a
    later message speaks of the person again, and its PID, often reduced to the
    identifiers, is read only when there is no other; A24 and A37 link and unlink."""
    with_pid = [m for m in messages if first(m, "PID") is not None]
    adt = [m for m in with_pid if m.header.kind.startswith("ADT^")]
    with_pid = adt or with_pid
    if not with_pid:
        return None
    own = [m for m in with_pid if m.patient == survivor] or with_pid
    m = ([m for m in own if event_of(m) != "A29"] or own)[-1]
    pid = first(m, "PID")
    statuses = [code for rep in d.repetitions(m, pid, 32) if (code := rep.get(1))]
    resource: dict = {"resourceType": "Patient", "id": ids.patient(survivor)}
    if m.event_time and "T" in m.event_time:
        resource["meta"] = {"lastUpdated": m.event_time}
    extensions: list[dict] = []
    if statuses:
        extensions.append({"url": RELIABILITY, "extension": [
            {"url": "identityStatus", "valueCoding": {"system": RELIABILITY_CODES, "code": code}}
            for code in statuses]})
    addresses, born_at = _addresses(m, pid)
    if born_at:
        extensions.append({"url": BIRTH_PLACE, "valueAddress": born_at})
    if extensions:
        resource["extension"] = extensions
    identifiers = _identifiers(m, pid, statuses)
    identifiers += _old_identifiers(messages, identifiers)
    resource["identifier"] = identifiers
    resource["active"] = event_of(own[-1]) != "A29"
    names = [n for rep in d.repetitions(m, pid, 5) if (n := d.human_name(rep))]
    names = [n for i, n in enumerate(names) if n not in names[:i]]
    if names:
        resource["name"] = sorted(names, key=lambda n: _NAME_ORDER.get(n.get("use", ""), 2))
    telecom = [c for field in (13, 14) for rep in d.repetitions(m, pid, field)
               if (c := d.contact(rep))]
    if telecom:
        resource["telecom"] = telecom
    if gender := GENDERS.get((d.value(m, pid, 8) or "").upper()):
        resource["gender"] = gender
    if born := d.dtm(d.value(m, pid, 7), d.PARIS):
        resource["birthDate"] = born[:10]
    _deceased(m, pid, resource)
    if addresses:
        resource["address"] = addresses
    if links := _links(messages, survivor):
        resource["link"] = links
    return resource


def _addresses(m: Message, pid) -> tuple[list[dict], dict | None]:
    """PID-11's addresses, and apart from them the birth place (BDL first, else BR)."""
    addresses: list[dict] = []
    born: dict[str, dict] = {}
    for rep in d.repetitions(m, pid, 11):
        if (found := d.address(rep)) is None:
            continue
        if (kind := rep.get(7)) in BIRTH_TYPES:
            born.setdefault(kind, found)
        else:
            addresses.append(found)
    return addresses, next((born[k] for k in BIRTH_TYPES if k in born), None)


def _links(messages: Sequence[Message], survivor: str) -> list[dict]:
    """A24 (link patient information) and A37 (unlink), replayed in event order: the
    patients of the second PID still linked, as `seealso` links (the other record is
    the same person, kept apart by the source, not merged)."""
    linked: dict[str, bool] = {}
    for m in messages:
        if (event := event_of(m)) not in ("A24", "A37"):
            continue
        pids = d.segments(m, "PID")
        if len(pids) < 2:
            continue
        other = patient_key(d.repetitions(m, pids[1], 3)) or patient_key(
            d.repetitions(m, pids[1], 2))
        if other and other != survivor:
            linked[other] = event == "A24"
    return [{"other": {"reference": f"Patient/{ids.patient(key)}"}, "type": "seealso"}
            for key in sorted(linked) if linked[key]]


def _identifiers(m: Message, pid, reliability: list[str]) -> list[dict]:
    """PID-3's identifiers (datatypes.identifier: the IPP usual, the INS official); an
    INS whose identity PID-32 says is not qualified loses "official"."""
    found = []
    for rep in d.repetitions(m, pid, 3):
        ident = d.identifier(rep)
        if not ident or ident in found:
            continue
        if reliability and "QUAL" not in reliability and _type(ident) in ("NI", "INS"):
            ident = {k: v for k, v in ident.items() if k != "use"}
        found.append(ident)
    return found


def _old_identifiers(messages: Sequence[Message], current: list[dict]) -> list[dict]:
    """MRG-1's identifiers (merged-away or replaced numbers), use "old"."""
    values = {(i.get("system"), i.get("value")) for i in current}
    old: list[dict] = []
    for m in messages:
        if (mrg := first(m, "MRG")) is None:
            continue
        for rep in d.repetitions(m, mrg, 1):
            ident = d.identifier(rep)
            if ident and (ident.get("system"), ident.get("value")) not in values:
                values.add((ident.get("system"), ident.get("value")))
                old.append({**ident, "use": "old"})
    return old


def _type(ident: dict) -> str | None:
    for coding in (ident.get("type") or {}).get("coding", []):
        return coding.get("code")
    return None


def _deceased(m: Message, pid, resource: dict) -> None:
    """PID-29 (when) and PID-30 (whether): a date when known, else the indicator."""
    when = d.dtm(d.value(m, pid, 29), d.PARIS)
    if when:
        resource["deceasedDateTime"] = when
    elif (d.value(m, pid, 30) or "").upper() == "Y":
        resource["deceasedBoolean"] = True
