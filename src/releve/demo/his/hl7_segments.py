"""The segments of the demo's HL7 v2.5 messages, written from FHIR resources: MSH, PID,
PV1, ZBE and the values inside them (escaped text, times, identifiers, places), and
`Hospital`, the FHIR data they are written from (hl7_messages.py composes the messages).

Nothing here parses HL7: it only writes it, separators escaped, in UTF-8.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
INS_OIDS = {"1.2.250.1.213.1.4.8": "ASIP-SANTE-INS-NIR",
            "1.2.250.1.213.1.4.9": "ASIP-SANTE-INS-NIA",
            "1.2.250.1.213.1.4.10": "ASIP-SANTE-INS-NIR-TEST"}
PV1_CLASS = {"IMP": "I", "EMER": "E", "AMB": "O", "ACUTE": "I", "NONAC": "I", "SS": "O"}
SPECIFIC = {"bd": 0, "ro": 1, "wa": 2}  # a movement's place: the most specific one given
_ESCAPES = {"|": "\\F\\", "^": "\\S\\", "~": "\\R\\", "\\": "\\E\\", "&": "\\T\\",
            "\r": "\\.br\\", "\n": "\\.br\\"}
_TABLE = str.maketrans(_ESCAPES)


@dataclass(frozen=True)
class Sender:
    """Who sends (MSH-3/4), to whom (MSH-5/6), and the establishment the identifiers and
    places belong to: its namespace (HD-1) and the OIDs of its IPP and NDA."""

    application: str = "DEMO-HIS"
    facility: str = "CHTR"
    receiver: str = "RELEVE"
    namespace: str = "CHTR"
    facility_oid: str = "2.999.33.1"
    ward_suffix: str = ""  # added to ward names: " – site des Sables"
    # OID arcs of the data's identifier systems -> the arcs written instead (the
    # establishment's own), e.g. {"2.999.33.1": "2.999.33.2"}
    arcs: dict[str, str] = field(default_factory=dict)

    def oid(self, system: str | None) -> str | None:
        """The OID of an identifier system `urn:oid:...` as this sender writes it."""
        if not system or not system.startswith("urn:oid:"):
            return None
        oid = system.removeprefix("urn:oid:")
        for arc, own in self.arcs.items():
            if oid == arc or oid.startswith(f"{arc}."):
                return own + oid[len(arc):]
        return oid


@dataclass(frozen=True)
class Outgoing:
    """One message to send: when its event happened (the order messages go in), its
    control id and kind, and its text (segments ended by carriage returns)."""

    when: float  # Unix seconds of the event
    control_id: str
    kind: str
    text: str

    def encoded(self) -> bytes:
        return self.text.encode("utf-8")


def esc(value: Any) -> str:
    """A value as HL7 text, its separators escaped (the message's are the default ones)."""
    return "" if value is None else str(value).translate(_TABLE)


def ts(instant: str | None) -> str:
    """FHIR dateTime -> HL7 DTM with its offset: 2026-01-14T06:00:00+01:00 ->
    20260114060000+0100; a date alone -> 20260114."""
    if not instant:
        return ""
    if len(instant) == 10:
        return instant.replace("-", "")
    moment = datetime.fromisoformat(instant)
    return moment.strftime("%Y%m%d%H%M%S%z")


def seconds(instant: str) -> float:
    return datetime.fromisoformat(instant).timestamp()


def control_id(kind: str, *parts: str) -> str:
    """At most 20 characters (MSH-10 in v2.5): the event's code and 16 hex digits."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    return f"{kind[-3:]}{digest}"


def ref_id(reference: dict | None, rtype: str) -> str | None:
    """The id of a `Type/id` reference to that type, else None."""
    text = str((reference or {}).get("reference", ""))
    return text.removeprefix(f"{rtype}/") if text.startswith(f"{rtype}/") else None


def coding(concept: dict | None, system: str | None = None) -> dict:
    """A CodeableConcept's first Coding (of `system` when given), else {}."""
    for found in (concept or {}).get("coding") or []:
        if system is None or found.get("system") == system:
            return found
    return {}


def place_kind(location: dict) -> str | None:
    """A Location's physicalType code: bd, ro, wa, si."""
    return coding(location.get("physicalType")).get("code")


class Hospital:
    """What the messages are made from: the Locations, Practitioners, Patients,
    Encounters and laboratory Observations of a FHIR data set (others are ignored)."""

    def __init__(self, resources: Iterable[dict], sender: Sender | None = None):
        self.sender = sender or Sender()
        self.locations: dict[str, dict] = {}
        self.practitioners: dict[str, dict] = {}
        self.patients: dict[str, dict] = {}
        self.encounters: dict[str, dict] = {}
        self.observations: list[dict] = []
        for resource in resources:
            rtype = resource.get("resourceType")
            if rtype == "Location":
                self.locations[resource["id"]] = resource
            elif rtype == "Practitioner":
                self.practitioners[resource["id"]] = resource
            elif rtype == "Patient":
                self.patients[resource["id"]] = resource
            elif rtype == "Encounter":
                self.encounters[resource["id"]] = resource
            elif rtype == "Observation" and laboratory(resource):
                self.observations.append(resource)

    # --- the common segments --------------------------------------------------------------

    def hd(self, system: str | None, namespace: str | None = None) -> str:
        """An assigning authority as HD subcomponents: namespace&OID&ISO."""
        oid = self.sender.oid(system)
        name = namespace or self.sender.namespace
        return f"{esc(name)}&{esc(oid)}&ISO" if oid else esc(name)

    def msh(self, kind: str, trigger: str, control: str, when: str) -> str:
        s = self.sender
        structure = {"ADT": "ADT_A01", "ORU": "ORU_R01"}[kind]
        if kind == "ADT" and trigger == "A02":
            structure = "ADT_A02"
        elif kind == "ADT" and trigger == "A03":
            structure = "ADT_A03"
        elif kind == "ADT" and trigger in ("A04", "A05"):
            structure = "ADT_A05"
        return (f"MSH|^~\\&|{esc(s.application)}|{esc(s.facility)}|{esc(s.receiver)}|"
                f"{esc(s.facility)}|{ts(when)}||{kind}^{trigger}^{structure}|{control}|P|2.5|"
                f"||||FRA|UNICODE UTF-8|||2.10^IHE_FR")

    def pid(self, patient: dict) -> str:
        """PID-3 with the IPP (PI) and the INS when there is one, PID-5 the names (birth
        name L with every given name in XPN-3, used name D), PID-7 birth date, PID-8 sex,
        PID-11 address, PID-13 phone."""
        ids = []
        for identifier in patient.get("identifier") or []:
            system = identifier.get("system") or ""
            oid = system.removeprefix("urn:oid:")
            value = esc(identifier.get("value"))
            if oid in INS_OIDS:
                ids.append(f"{value}^^^{INS_OIDS[oid]}&{oid}&ISO^INS")
            elif coding(identifier.get("type")).get("code") in ("PI", "MR"):
                ids.append(f"{value}^^^{self.hd(system)}^PI")
        names = []
        for name in patient.get("name") or []:
            kind = {"official": "L", "usual": "D", "maiden": "M", "nickname": "N"}.get(
                name.get("use", ""), "L")
            given = name.get("given") or []
            # PAM France (INS): XPN-2 the first given name, XPN-3 every given name
            names.append(f"{esc(name.get('family'))}^{esc(given[0] if given else '')}^"
                         f"{esc(' '.join(given) if kind == 'L' and len(given) > 1 else '')}^^"
                         f"{esc(' '.join(name.get('prefix') or []))}^^{kind}")
        sex = {"male": "M", "female": "F", "other": "O", "unknown": "U"}.get(
            patient.get("gender", ""), "U")
        address = ""
        for where in (patient.get("address") or [])[:1]:
            lines = where.get("line") or [""]
            address = (f"{esc(lines[0])}^{esc(' '.join(lines[1:]))}^{esc(where.get('city'))}^^"
                       f"{esc(where.get('postalCode'))}^FRA^H")
        phones = [f"{esc(t.get('value'))}^PRN^{'CP' if t.get('use') == 'mobile' else 'PH'}"
                  for t in patient.get("telecom") or [] if t.get("system") == "phone"]
        deceased = patient.get("deceasedDateTime")
        fields = ["PID", "1", "", "~".join(ids), "", "~".join(names), "",
                  ts(patient.get("birthDate")), sex, "", "", address, "", "~".join(phones),
                  *[""] * 15, ts(deceased), "Y" if deceased else ""]
        return "|".join(fields).rstrip("|")

    def place(self, location_id: str | None) -> tuple[str, dict | None]:
        """(PL ward^room^bed^facility, the ward's Location) for a place of the tree."""
        parts: dict[str, dict] = {}
        current = self.locations.get(location_id or "")
        while current is not None and len(parts) < 4:
            kind = place_kind(current)
            if kind in ("bd", "ro", "wa") and kind not in parts:
                parts[kind] = current
            current = self.locations.get(ref_id(current.get("partOf"), "Location") or "")
        ward = parts.get("wa")
        pl = (f"{esc(ward_code(ward))}^{esc((parts.get('ro') or {}).get('name'))}^"
              f"{esc((parts.get('bd') or {}).get('name'))}^"
              f"{esc(self.sender.namespace)}&{esc(self.sender.facility_oid)}&ISO")
        return pl, ward

    def doctor(self, encounter: dict) -> str:
        """The attending (PV1-7) as XCN: id^family^given^^^prefix, its authority."""
        for participant in encounter.get("participant") or []:
            pid = ref_id(participant.get("individual"), "Practitioner")
            person = self.practitioners.get(pid or "")
            if person is None:
                continue
            return self.xcn(person)
        return ""

    def xcn(self, person: dict) -> str:
        name = (person.get("name") or [{}])[0]
        number = (person.get("identifier") or [{}])[0]
        return (f"{esc(number.get('value'))}^{esc(name.get('family'))}^"
                f"{esc((name.get('given') or [''])[0])}^^^{esc(' '.join(name.get('prefix') or []))}"
                f"^^^{self.hd(number.get('system'))}")

    def pv1(self, encounter: dict, place: str, admitted: str | None,
            discharged: str | None = None) -> str:
        cls = PV1_CLASS.get(code_of(encounter.get("class")), "I")
        nda: dict = next(iter(encounter.get("identifier") or []), {})
        visit = f"{esc(nda.get('value'))}^^^{self.hd(nda.get('system'))}^AN" if nda else ""
        fields = ["PV1", "1", cls, place, "", "", "", self.doctor(encounter), *[""] * 11,
                  visit, *[""] * 24, ts(admitted), ts(discharged)]
        return "|".join(fields).rstrip("|")

    def zbe(self, movement: str, start: str, ward: dict | None, nature: str) -> str:
        """ZBE-1 the movement's id, ZBE-2 its start, ZBE-4 INSERT, ZBE-5 N (not a
        historic movement), ZBE-8 the nursing ward (UF de soins) name^...^UF^^^code,
        ZBE-9 the nature of the movement (HMS: every responsibility changes; L: the bed)."""
        uf = ""
        if ward is not None:
            name = f"{ward.get('name')}{self.sender.ward_suffix}"
            uf = (f"{esc(name)}^^^^^{esc(self.sender.namespace)}&{esc(self.sender.facility_oid)}"
                  f"&ISO^UF^^^{esc(ward_code(ward))}")
        return (f"ZBE|{movement}^{esc(self.sender.application)}|{ts(start)}||INSERT|N|||"
                f"{uf}|{nature}")


def code_of(value: dict | None) -> str:
    """A Coding's code ("" without one): Encounter.class is a Coding, not a concept."""
    return str((value or {}).get("code", ""))


def ward_code(ward: dict | None) -> str | None:
    """The ward's code in PV1-3 and ZBE-8: its alias (CARD-A), else its id's tail."""
    if ward is None:
        return None
    alias = ward.get("alias") or []
    return alias[0] if alias else str(ward["id"]).removeprefix("loc-").upper()


def laboratory(observation: dict) -> bool:
    """A laboratory result with a time, in a status a laboratory reports."""
    categories = [coding(c).get("code") for c in observation.get("category") or []]
    return "laboratory" in categories and bool(observation.get("effectiveDateTime")) and \
        observation.get("status") in ("final", "amended", "corrected", "preliminary")
