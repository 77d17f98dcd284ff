"""Reading HL7 v2 values as FHIR: the composite types (CX, XPN, XAD, XTN, CE/CWE, XCN,
PL, DTM) of a message parsed by python-hl7.

Every reader takes its values from fields.py (`Rep.get`, `value`, `repetitions`), which
unescapes with the message's encoding characters and reads empty and `""` (the HL7 null)
as None, so that the mappings never meet an escape sequence or a null marker. Those
readers of fields are also exported from here, the one module the mappings import.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .fields import Rep, Unescape, field_reps, repetitions, segments, unescaper, value

if TYPE_CHECKING:
    from .message import Message

__all__ = ["INS_OIDS", "PARIS", "V2_0203", "Place", "Rep", "Unescape", "address",
           "code_system", "concept", "contact", "dtm", "field_reps", "human_name",
           "identifier", "instant", "order_key", "person", "place", "repetitions",
           "segments", "unescaper", "value", "visit_key"]

PARIS = ZoneInfo("Europe/Paris")  # the zone of the times a message gives without offset
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
INS_OIDS = frozenset({"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9",  # INS-NIR, INS-NIA
                      "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"})  # test, demo
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


_DTM = re.compile(r"(\d{4})(?:(\d\d)(?:(\d\d)(?:(\d\d)(?:(\d\d)(?:(\d\d)(?:\.(\d{1,9}))?)?)?)?)?)?"
                  r"(?:([+-])(\d\d)(\d\d)|Z)?")


def dtm(text: str | None, zone: ZoneInfo) -> str | None:
    """An HL7 DTM/TS as FHIR: a date (YYYY, YYYY-MM, YYYY-MM-DD) when no time is given, a
    dateTime with its offset otherwise (the value's own, else the zone's at that local
    time). Seconds and their fraction are kept as written; a time to the hour or minute
    gets ":00" (FHIR needs seconds). Anything that is not a real date reads as None."""
    if not text or not (match := _DTM.fullmatch(text.strip())):
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    if sign and (int(off_h) > 14 or int(off_m) > 59):
        return None
    try:
        date = dt.date(int(year), int(month or 1), int(day or 1))
        if year == "0000":
            return None
        if hour is None:
            return date.isoformat()[: 4 if month is None else 7 if day is None else 10]
        local = dt.datetime(date.year, date.month, date.day, int(hour), int(minute or 0),
                            int(second or 0))
    except ValueError:
        return None
    if sign:
        offset = f"{sign}{off_h}:{off_m}"
    elif text.rstrip().endswith("Z"):
        offset = "Z"
    else:
        offset = _offset(local, zone)
    tail = f".{fraction}" if fraction else ""
    return f"{local.isoformat()}{tail}{offset}"


def _offset(local: dt.datetime, zone: ZoneInfo) -> str:
    """The zone's UTC offset at that local time, as FHIR writes it (+01:00)."""
    delta = local.replace(tzinfo=zone).utcoffset() or dt.timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def instant(fhir: str | None, zone: ZoneInfo = PARIS) -> str:
    """A FHIR date or dateTime as a UTC instant with a fixed width, so that instants
    compare as text; a date counts from its first moment in `zone`. "" for None."""
    if not fhir:
        return ""
    if len(fhir) <= 10:
        parts = [int(p) for p in fhir.split("-")] + [1, 1]
        moment = dt.datetime(parts[0], parts[1], parts[2], tzinfo=zone)
    else:
        head, dot, rest = fhir.partition(".")
        if dot:  # fromisoformat takes at most 6 digits of fraction
            digits = re.match(r"\d*", rest)
            frac = digits.group() if digits else ""
            fhir = f"{head}.{frac[:6].ljust(6, '0')}{rest[len(frac):]}"
        moment = dt.datetime.fromisoformat(fhir.replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def order_key(m: Message) -> tuple[str, str]:
    """What messages of a group are applied in: the UTC instant of the event time, then
    of the sending time (MSH-7), "" for either when unknown; ties go by log sequence."""
    return instant(m.event_time), instant(m.header.sent)


def _system(rep: Rep, component: int) -> str | None:
    """The FHIR system of an HD assigning authority: its ISO OID as a urn, or its
    universal id when that is already a URI."""
    uid = rep.get(component, 2)
    if not uid:
        return None
    if _OID.fullmatch(uid):
        return f"urn:oid:{uid}"
    return uid if ":" in uid else None


_IDENTIFIER_TYPES = {"PI": "Patient internal identifier", "MR": "Medical record number",
                     "NI": "National unique individual identifier", "VN": "Visit number",
                     "AN": "Account number", "PN": "Person number",
                     "NH": "National Health Plan Identifier", "PRN": "Provider number"}


def identifier(rep: Rep) -> dict | None:
    """CX -> Identifier. The INS (by its OIDs, or CX-5 INS) gets type NI and use official,
    as the station and the demo HIS's FHIR write it; the IPP (CX-5 PI) use usual."""
    ident = rep.get(1)
    if not ident:
        return None
    result: dict[str, Any] = {}
    system = _system(rep, 4)
    kind = rep.get(5)
    ins = (system is not None and system[8:] in INS_OIDS) or kind in ("INS", "NI")
    if ins or kind == "PI":
        result["use"] = "official" if ins else "usual"
    if ins or kind:
        code = "NI" if ins else kind
        coding = {"system": V2_0203, "code": code}
        if display := _IDENTIFIER_TYPES.get(code or ""):
            coding["display"] = display
        result["type"] = {"coding": [coding]}
    if system:
        result["system"] = system
    result["value"] = ident
    if not system and (namespace := rep.get(4, 1)):
        result["assigner"] = {"display": namespace}
    return result


_NAME_USE = {"L": "official", "D": "usual", "A": "usual", "M": "maiden", "N": "nickname",
             "S": "anonymous", "T": "temp", "TEMP": "temp", "BAD": "old", "NOUSE": "old",
             "B": "official", "C": "official", "R": "official"}


def _name(rep: Rep, family: int, kind: int) -> dict | None:
    """The HumanName of an XPN (family at 1) or of an XCN's name (family at 2): family,
    given (first, then further names), suffix, prefix, use from the name type. French
    feeds (INS) write the list of all birth given names in XPN-3, the first included:
    that first one is not repeated."""
    name: dict[str, Any] = {}
    if use := _NAME_USE.get(rep.get(kind) or ""):
        name["use"] = use
    if surname := rep.get(family):
        name["family"] = surname
    first, further = rep.get(family + 1), rep.get(family + 2)
    if first and further and (further + " ").startswith(first + " "):
        further = further[len(first):].strip()  # PAM France: XPN-3 lists every given name
    given = [g for g in (first, further) if g]
    if given:
        name["given"] = given
    if (prefix := rep.get(family + 4)) is not None:
        name["prefix"] = [prefix]
    if (suffix := rep.get(family + 3)) is not None:
        name["suffix"] = [suffix]
    return name if "family" in name or "given" in name else None


def human_name(rep: Rep) -> dict | None:
    """XPN -> HumanName (XPN-7 L official, D usual, M maiden, N nickname...)."""
    return _name(rep, 1, 7)


_ADDRESS_USE = {"H": "home", "B": "work", "O": "work", "C": "temp", "BA": "old"}


def address(rep: Rep) -> dict | None:
    """XAD -> Address (XAD-7 H home, B/O work, C temp, BA old; M mailing is type postal).
    A birth place (XAD-7 BDL, French PAM) is returned too: its caller tells it apart."""
    lines = [part for part in (rep.get(1), rep.get(2)) if part]
    result: dict[str, Any] = {}
    kind = rep.get(7)
    if use := _ADDRESS_USE.get(kind or ""):
        result["use"] = use
    if kind == "M":
        result["type"] = "postal"
    if lines:
        result["line"] = lines
    for key, component in (("city", 3), ("state", 4), ("postalCode", 5), ("country", 6),
                           ("district", 9)):
        if (part := rep.get(component)) is not None:
            result[key] = part
    return result if set(result) - {"use", "type"} else None


_TELECOM_USE = {"PRN": "home", "ORN": "home", "VHN": "home", "WPN": "work"}
_TELECOM_SYSTEM = {"PH": "phone", "CP": "phone", "FX": "fax", "BP": "pager",
                   "Internet": "email", "X.400": "email", "TDD": "other", "TTY": "other"}


def contact(rep: Rep) -> dict | None:
    """XTN -> ContactPoint: the number from XTN-1 (or XTN-12, or country, area and local
    number), the address from XTN-4 for e-mail; use from XTN-2, mobile from XTN-3 CP."""
    equipment, use = rep.get(3), rep.get(2)
    email = rep.get(4)
    if email and (equipment in ("Internet", "X.400", None) or use == "NET"):
        return {"system": "email", "value": email}
    number = rep.get(1) or rep.get(12) or "".join(
        p for p in (rep.get(5), rep.get(6), rep.get(7)) if p) or None
    if not number:
        return None
    result: dict[str, Any] = {"system": _TELECOM_SYSTEM.get(equipment or "", "phone"),
                              "value": number}
    if equipment == "CP":
        result["use"] = "mobile"
    elif point := _TELECOM_USE.get(use or ""):
        result["use"] = point
    return result


_CODE_SYSTEMS = {"LN": "http://loinc.org", "SCT": "http://snomed.info/sct",
                 "SNM": "http://snomed.info/sct", "UCUM": "http://unitsofmeasure.org",
                 "I9": "http://hl7.org/fhir/sid/icd-9-cm", "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
                 "I10": "http://hl7.org/fhir/sid/icd-10", "ATC": "http://www.whocc.no/atc",
                 "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
                 "NDC": "http://hl7.org/fhir/sid/ndc", "C4": "http://www.ama-assn.org/go/cpt",
                 "CPT4": "http://www.ama-assn.org/go/cpt", "CVX": "http://hl7.org/fhir/sid/cvx"}


@functools.lru_cache(maxsize=256)
def code_system(name: str) -> str | None:
    """The FHIR system of an HL7 coding system name (table 0396): the usual ones by
    name, HL7nnnn as the v2 table, an OID as its urn; None for a local name."""
    if system := _CODE_SYSTEMS.get(name.upper()):
        return system
    if re.fullmatch(r"HL7\d{4}", name.upper()):
        return f"http://terminology.hl7.org/CodeSystem/v2-{name[3:]}"
    return f"urn:oid:{name}" if _OID.fullmatch(name) else None


def _coding(code: str | None, display: str | None, system: str | None) -> dict | None:
    if not code:
        return None
    coding: dict[str, Any] = {}
    if system and (url := code_system(system)):
        coding["system"] = url
    coding["code"] = code
    if display:
        coding["display"] = display
    return coding


def concept(rep: Rep) -> dict | None:
    """CE/CWE -> CodeableConcept: the triplet, then the alternate triplet as a second
    coding; text from CWE-9 (original text), else the first display."""
    codings = [c for c in (_coding(rep.get(1), rep.get(2), rep.get(3)),
                           _coding(rep.get(4), rep.get(5), rep.get(6))) if c]
    text = rep.get(9) or rep.get(2) or rep.get(5)
    if not codings and not text:
        return None
    result: dict[str, Any] = {}
    if codings:
        result["coding"] = codings
    if text:
        result["text"] = text
    return result


def person(rep: Rep) -> tuple[str, dict] | None:
    """XCN -> (practitioner key, HumanName). The key is "<authority>|<id>" (XCN-9) when
    there is an id, else "name|<family>|<given>": the same person named the same way in
    two messages is one Practitioner."""
    name = _name(rep, 2, 10) or {}
    ident = rep.get(1)
    if ident:
        return f"{rep.authority(9)}|{ident}", name
    if not name:
        return None
    return f"name|{name.get('family', '')}|{' '.join(name.get('given', []))}", name


@dataclass(frozen=True)
class Place:
    facility: str | None
    ward: str | None
    room: str | None
    bed: str | None
    description: str | None


def place(rep: Rep) -> Place | None:
    """PL: point of care (the ward, or in French feeds the functional unit), room, bed,
    facility (PL-4 as an authority: its OID, else its name) and description (PL-9)."""
    found = Place(rep.authority(4) or None, rep.get(1), rep.get(2), rep.get(3), rep.get(9))
    return found if any(vars(found).values()) else None


def visit_key(m: Message) -> str | None:
    """The stay's key, "<authority>|<id>" of PV1-19 (the visit number, the NDA in France);
    None without PV1 or PV1-19."""
    for seg in segments(m, "PV1"):
        for rep in repetitions(m, seg, 19):
            if ident := rep.get(1):
                return f"{rep.authority(4)}|{ident}"
    return None
