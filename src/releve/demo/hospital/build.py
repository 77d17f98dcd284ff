"""Small builders for the FHIR R4 datatypes the demo hospital writes.

Every call returns a new dict: a consumer (the demo HIS, its activity simulator) may
change one resource without changing another. Times travel as integer Unix seconds and
are written as instants with the Europe/Paris offset of that moment, as a French HIS
writes them.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from .catalog import UCUM

PARIS = ZoneInfo("Europe/Paris")
HOUR = 3600
DAY = 86400

# Identifier systems of the demo hospital: OIDs under 2.999, the arc ITU-T reserves for
# examples, so that no demo identifier can ever collide with a real one.
HOSPITAL_OID = "urn:oid:2.999.33.1"
IPP_SYSTEM = HOSPITAL_OID + ".1"  # IPP: identifiant permanent du patient
NDA_SYSTEM = HOSPITAL_OID + ".2"  # NDA: numéro de dossier administratif (a stay)
STAFF_SYSTEM = HOSPITAL_OID + ".3"  # matricule of the staff
INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"  # INS-NIR of test (ANS): never a real NIR


def instant(ts: int) -> str:
    """2026-03-02T06:00:00+01:00"""
    return datetime.fromtimestamp(ts, PARIS).isoformat()


def day(ts: int) -> str:
    """The Paris calendar date of a moment: 2026-03-02"""
    return datetime.fromtimestamp(ts, PARIS).date().isoformat()


def at(d: date, hhmm: str) -> int:
    """Unix seconds of a Paris wall-clock time on a given day (DST handled by zoneinfo)."""
    hour, minute = int(hhmm[:2]), int(hhmm[3:5])
    return int(datetime(d.year, d.month, d.day, hour, minute, tzinfo=PARIS).timestamp())


def paris_date(ts: int) -> date:
    return datetime.fromtimestamp(ts, PARIS).date()


def fr_date(ts: int) -> str:
    """02/03/2026, as French letters write dates."""
    return datetime.fromtimestamp(ts, PARIS).strftime("%d/%m/%Y")


def fr_number(value: float) -> str:
    """4 000, 2,5, 0,2: French digit grouping and decimal comma."""
    if value == int(value):
        return f"{int(value):,}".replace(",", " ")
    return f"{value:g}".replace(".", ",")


def header(rtype: str, rid: str, updated: int) -> dict:
    return {"resourceType": rtype, "id": rid, "meta": {"lastUpdated": instant(updated)}}


def ref(target: str, display: str | None = None) -> dict:
    if display:
        return {"reference": target, "display": display}
    return {"reference": target}


def coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str, text: str | None = None) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}],
            "text": text or display}


def text_concept(text: str) -> dict:
    return {"text": text}


def quantity(value: float, unit: str, code: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def period(start: int, end: int | None = None) -> dict:
    if end is None:
        return {"start": instant(start)}
    return {"start": instant(start), "end": instant(end)}
