"""ORU^R01 results as FHIR: one DiagnosticReport per OBR, one Observation per OBX, in the
shapes the demo hospital gives the station (Quantity with UCUM code, referenceRange,
v3 interpretation, category laboratory), so the summary's rules read them unchanged.

The report is named by its filler order number (OBR-3: the laboratory's), else the
placer's (OBR-2, ORC-2); each Observation by its report, its code (OBX-3) and sub-id
(OBX-4): a corrected result sent later replaces the earlier one, a deleted one (OBX-11
D) becomes entered-in-error. An encapsulated document (OBX-2 ED: a PDF report) has no
place as an R4 Observation value: it becomes the report's presentedForm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ....fhir.clinical import vitals
from .. import datatypes
from ..message import Message
from . import ids, links
from .links import Number, Segment
from .quantities import reference_range
from .result_values import document, observation_value

CATEGORY = vitals.CATEGORY_SYSTEM
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V2_0078 = "http://terminology.hl7.org/CodeSystem/v2-0078"
ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# OBR-25 (HL7 table 0123) -> DiagnosticReport.status, after HL7's v2-to-FHIR ConceptMap
REPORT_STATUS = {"O": "registered", "I": "registered", "S": "registered", "N": "registered",
                 "A": "partial", "R": "partial", "P": "preliminary", "C": "corrected",
                 "M": "corrected", "F": "final", "X": "cancelled"}
# OBX-11 (HL7 table 0085) -> Observation.status
RESULT_STATUS = {"F": "final", "V": "final", "U": "final", "B": "final", "C": "corrected",
                 "A": "amended", "P": "preliminary", "R": "preliminary", "S": "preliminary",
                 "I": "registered", "O": "registered", "D": "entered-in-error",
                 "W": "entered-in-error", "X": "cancelled", "N": "cancelled"}
# report status -> the status of its results when OBX-11 is empty
_FROM_REPORT = {"registered": "registered", "partial": "preliminary", "preliminary": "preliminary",
                "corrected": "corrected", "final": "final", "cancelled": "cancelled"}
# OBX-8 (HL7 table 0078) codes that v3 ObservationInterpretation holds, in French words
FLAGS = {"H": "Élevé", "HH": "Critique haut", "HU": "Très élevé", "L": "Bas", "LL": "Critique bas",
         "LU": "Très bas", "A": "Anormal", "AA": "Critique anormal", "N": "Normal",
         "<": "Sous le seuil de mesure", ">": "Au-dessus du seuil de mesure", "POS": "Positif",
         "NEG": "Négatif", "DET": "Détecté", "ND": "Non détecté", "R": "Résistant",
         "S": "Sensible", "I": "Intermédiaire", "MS": "Modérément sensible",
         "VS": "Très sensible", "SDD": "Sensible dose-dépendant", "IND": "Indéterminé",
         "E": "Équivoque", "RR": "Réactif", "NR": "Non réactif", "WR": "Faiblement réactif",
         "U": "Hausse significative", "D": "Baisse significative", "B": "Mieux", "W": "Pire",
         "EX": "Hors seuil", "EXP": "Attendu", "UNE": "Inattendu", "IE": "Preuves insuffisantes",
         "CAR": "Porteur", "NCL": "Pas de seuil CLSI", "NS": "Non sensible",
         "SYN-R": "Synergie - résistant", "SYN-S": "Synergie - sensible"}
IMAGING = frozenset({"RAD", "CT", "MR", "NMR", "US", "NMS", "RX", "VUS", "XRC", "CUS", "OUS"})
PROCEDURE = frozenset({"EC", "CTH", "PF", "OSL"})
_CATEGORY_TEXT = {"laboratory": ("Laboratory", "Biologie"), "imaging": ("Imaging", "Imagerie"),
                  "procedure": ("Procedure", "Acte"), "vital-signs": ("Vital Signs", "Signes vitaux")}


def result_resources(m: Message, patient_id: str) -> list[dict]:
    """The DiagnosticReports and Observations of an ORU^R01 (its first patient's)."""
    made: list[dict] = []
    for group in links.walk(m, frozenset({"OBR"})):
        made += _report(m, group, patient_id)
    return made


@dataclass(frozen=True)
class _Report:
    """What the Observations of one report share."""

    m: Message
    about: dict  # subject and encounter, read once per report
    key: str  # the report's key: its ids and its results' are made from it
    status: str  # the results' status when OBX-11 is empty
    effective: str | None
    issued: str | None
    kind: str  # laboratory, imaging, procedure


def _report(m: Message, group: Sequence[Segment], patient_id: str) -> list[dict]:
    obr = group[0]
    placer, filler = _order(m, obr)
    status = REPORT_STATUS.get((datatypes.value(m, obr, 25) or "").upper(), "unknown")
    section = (datatypes.value(m, obr, 24) or "").upper()
    kind = "imaging" if section in IMAGING else "procedure" if section in PROCEDURE else "laboratory"
    shared = _Report(m, links.about(m, patient_id), _report_key(m, obr), _FROM_REPORT.get(status, "unknown"),
                     datatypes.dtm(datatypes.value(m, obr, 7), datatypes.PARIS),
                     _instant(datatypes.value(m, obr, 22)) or _instant_of(m.event_time), kind)
    observations, forms, header_notes = _contents(shared, obr, group[1:])
    report: dict = {"resourceType": "DiagnosticReport", "id": ids.make("rep", shared.key)}
    identifiers = links.numbers(placer, filler)
    if identifiers:
        report["identifier"] = identifiers
    if placer:
        report["basedOn"] = [{"reference": f"ServiceRequest/{ids.make('sr', links.key('placer', placer))}"}]
    report["status"] = status
    report["category"] = [_category(kind, section)]
    report["code"] = links.concept(m, obr, 4) or {"text": links.NO_REPORT}
    report.update(_copy(shared.about))
    if shared.effective:
        report["effectiveDateTime"] = shared.effective
    if shared.issued:
        report["issued"] = shared.issued
    if observations:
        report["result"] = [{"reference": f"Observation/{o['id']}"} for o in observations]
    said = "\n".join(n["text"] for n in links.notes(m, header_notes))
    if said:  # R4 has no DiagnosticReport.note: the laboratory's comment is its conclusion
        report["conclusion"] = said
    if forms:
        report["presentedForm"] = forms
    return [report, *observations]


def _contents(shared: _Report, obr: Segment, rest: Sequence[Segment]) -> tuple[list[dict], list[dict],
                                                                               list[Segment]]:
    """(Observations, documents, the report's own comments) of one OBR's segments."""
    m = shared.m
    observations: dict[str, dict] = {}
    forms: list[dict] = []
    header_notes: list[Segment] = []
    seen_result = False
    for index, seg in enumerate(rest):
        kind = links.name(seg)
        if kind == "NTE" and not seen_result:
            header_notes.append(seg)
        if kind != "OBX":
            continue
        seen_result = True
        if (datatypes.value(m, seg, 2) or "").upper() == "ED":
            title = _title(m, seg, obr)
            forms += [f for f in (document(r, title) for r in datatypes.repetitions(m, seg, 5)) if f]
        else:
            _observation(shared, seg, _following_notes(rest[index + 1:]), observations)
    return list(observations.values()), forms, header_notes


def _observation(c: _Report, obx: Segment, notes: list[Segment], made: dict[str, dict]) -> None:
    """One OBX as an Observation; an OBX of the same code and sub-id as the previous one
    (a text report sent one line per OBX) adds its lines to it."""
    m = c.m
    reps = datatypes.repetitions(m, obx, 3)
    identifier = reps[0] if reps else None
    code = (datatypes.concept(identifier) if identifier else None) or {"text": links.NO_RESULT}
    code_key = f"{identifier.get(1) or ''}^{identifier.get(3) or ''}" if identifier else "^"
    rid = ids.make("obs", c.key, code_key, datatypes.value(m, obx, 4) or "")
    value = observation_value(m, obx)
    found = made.get(rid)
    if found is not None and "valueString" in found and set(value) <= {"valueString"}:
        found["valueString"] += "\n" + value.get("valueString", "")
        found.setdefault("note", []).extend(links.notes(m, notes))
        if not found["note"]:
            del found["note"]
        return
    if found is not None:  # the same test twice in one report: told apart by OBX-1
        rid = ids.make("obs", c.key, code_key, datatypes.value(m, obx, 4) or "",
                       datatypes.value(m, obx, 1) or "")
    status = RESULT_STATUS.get((datatypes.value(m, obx, 11) or "").upper(), c.status)
    resource: dict = {"resourceType": "Observation", "id": rid, "status": status,
                      "category": [_category(_kind(c.kind, code), "")], "code": code}
    resource.update(_copy(c.about))
    effective = datatypes.dtm(datatypes.value(m, obx, 14), datatypes.PARIS) or c.effective
    if effective:
        resource["effectiveDateTime"] = effective
    if c.issued:
        resource["issued"] = c.issued
    performer = links.person(m, obx, 16)
    if performer:
        resource["performer"] = [performer]
    resource.update(_measured(m, obx, value, status))
    said = links.notes(m, notes)
    if said:
        resource["note"] = said
    made[rid] = resource


def _measured(m: Message, obx: Segment, value: dict, status: str) -> dict:
    """The value (or why there is none), its flags, its normal range, its method."""
    made = dict(value)
    if not value and status == "cancelled":
        made["dataAbsentReason"] = {"coding": [{"system": ABSENT, "code": "error"}],
                                    "text": "Résultat impossible à obtenir"}
    flags = _interpretation(m, obx)
    if flags:
        made["interpretation"] = flags
    quantity = value.get("valueQuantity") or {}
    limits = reference_range(datatypes.value(m, obx, 7), quantity.get("unit"), quantity.get("code"))
    if limits:
        made["referenceRange"] = [limits]
    method = links.concept(m, obx, 17)
    if method:
        made["method"] = method
    return made


def _copy(about: dict) -> dict:
    """Each resource its own references: nothing shared between two resources' members."""
    return {name: dict(ref) for name, ref in about.items()}


def _interpretation(m: Message, obx: Segment) -> list[dict]:
    """OBX-8 flags (a repeating field) as v3 ObservationInterpretation concepts, worded
    in French as the demo hospital words them ("Élevé")."""
    found = []
    for rep in datatypes.repetitions(m, obx, 8):
        flag = (rep.get(1) or "").strip().upper()
        if not flag:
            continue
        if flag in FLAGS:
            found.append({"coding": [{"system": INTERPRETATION, "code": flag, "display": FLAGS[flag]}],
                          "text": FLAGS[flag]})
        else:
            found.append({"coding": [{"system": V2_0078, "code": flag}], "text": flag})
    return found


def _kind(report_kind: str, code: dict) -> str:
    """A bedside measure (heart rate, temperature...) sent as a result keeps the category
    the station records it under (vital-signs; laboratory for capillary glucose)."""
    found = [c.get("code") for c in code.get("coding", []) if isinstance(c, dict)]
    measure = next((vitals.BY_CODE[c] for c in found if isinstance(c, str) and c in vitals.BY_CODE), None)
    if report_kind != "laboratory" or measure is None:
        return report_kind
    return measure.category if measure.category in _CATEGORY_TEXT else report_kind


def _category(kind: str, section: str) -> dict:
    english, french = _CATEGORY_TEXT[kind]
    coding = [{"system": CATEGORY, "code": kind, "display": english}]
    if section:
        coding.append({"system": V2_0074, "code": section})
    return {"coding": coding, "text": french}


def _order(m: Message, obr: Segment) -> tuple[Number | None, Number | None]:
    """(placer, filler) numbers of a report: OBR's, else its ORC's (the ORC before it)."""
    orc = _orc_of(m, obr)
    placer = links.number(m, obr, 2) or links.number(m, orc, 2)
    filler = links.number(m, obr, 3) or links.number(m, orc, 3)
    return placer, filler


def _report_key(m: Message, obr: Segment) -> str:
    placer, filler = _order(m, obr)
    if filler:
        return links.key("filler", filler)
    if placer:
        return links.key("placer", placer)
    return links.unnumbered(m, datatypes.value(m, obr, 1) or "")


def _orc_of(m: Message, obr: Segment) -> Segment | None:
    before = None
    for seg in m.parsed:
        if seg is obr:
            return before
        kind = links.name(seg)
        if kind == "ORC":
            before = seg
        elif kind == "OBR":
            before = None
    return None


def _following_notes(rest: Sequence[Segment]) -> list[Segment]:
    """The NTE segments right after an OBX: its comments."""
    notes = []
    for seg in rest:
        if links.name(seg) != "NTE":
            break
        notes.append(seg)
    return notes


def _title(m: Message, obx: Segment, obr: Segment) -> str | None:
    return datatypes.value(m, obx, 3, 2) or datatypes.value(m, obr, 4, 2)


def _instant_of(when: str | None) -> str | None:
    """The message's time, when OBR-22 is empty, as the time the result was issued (not
    as when it was taken: a correction sent at noon would move the morning's sample)."""
    return when if when and len(when) > 10 else None


def _instant(text: str | None) -> str | None:
    """OBR-22 as an instant, which FHIR wants to the second: a bare date is left out."""
    return _instant_of(datatypes.dtm(text, datatypes.PARIS))
