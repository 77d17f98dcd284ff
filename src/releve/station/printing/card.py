"""A patient's identity as the labels, the wristband and the forms print it.

The identity shown is the summary's (views.summary.Identity: the name the ward uses, birth date,
sex, IPP, INS); the DataMatrix carries the INS traits read from the Patient resource
itself (birth name, every birth given name, OID), as ins.py describes: the index's
Patient, or for a patient known only as a Patient their resources contain
(index/identities.py), that contained Patient. A patient without
a complete INS gets labels all the same, with the IPP barcode and a line saying why
there is no DataMatrix: the ward must never be left without labels.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from ..index.identities import contained_patient
from ..views import resources
from ..views.summary import Summary, summary
from ..views.summary.reader import Recorded
from . import ins
from .codes import CodeError, code128_img, datamatrix_img

LABELS_PER_SHEET = 24  # 3 x 8 stickers of 70 x 37 mm: the usual A4 sheet of patient labels
SEX_LETTER = {"female": "F", "male": "M"}


@dataclass
class Card:
    patient_id: str
    name: str  # "DUPONT Marie": the name the ward uses
    birth_name: str  # "DUPONT Marie Claire": the official (birth) name, when it differs
    birth_date: str  # as the HIS wrote it (YYYY-MM-DD)
    sex: str  # F, M or ""
    ipp: str
    ins: str
    place: str  # unit, room, bed
    allergies: list[str]
    high_allergies: list[str]  # the severe ones, by fhir.clinical.allergies.high_risk
    allergy_state: str  # known, none, unknown
    datamatrix: str | None  # an <img> of the symbol (codes.py)
    barcode: str | None  # an <img> of the IPP's Code 128
    band_datamatrix: str | None = None


def card(conn: sqlite3.Connection, pid: str, now: dt.datetime, zone: str,
         band: bool = False, summarised: Summary | None = None,
         local: Recorded | None = None) -> Card | None:
    """The patient's card, or None if the index holds no such patient; `summarised`:
    their summary when the caller has it already (the ward binder); `local`: what the
    wards recorded (a patient admitted during the downtime has only that)."""
    found = summarised or summary(conn, pid, now, zone, local)
    if found is None:
        return None
    who = found.identity
    resource = resources.resource(conn, "Patient", pid) or contained_patient(conn, pid) or {}
    traits = ins.traits(resource)
    content = ins.content(traits) if traits else None
    stay = found.stay
    place = " · ".join(p for p in (stay.unit, stay.room, stay.bed) if p) if stay else ""
    return Card(
        patient_id=pid, name=who.name, birth_name=_birth_name(traits, who.name),
        birth_date=who.birth_date or "", sex=SEX_LETTER.get(who.gender or "", ""),
        ipp=who.ipp or "", ins=who.ins or "",
        place=place, allergies=[a.substance for a in found.allergies],
        high_allergies=[a.substance for a in found.allergies if a.high],
        allergy_state=found.allergy_state,
        datamatrix=_datamatrix(content, "15mm"),
        barcode=_barcode(who.ipp),
        band_datamatrix=_datamatrix(content, "20mm") if band else None)


def _birth_name(traits: ins.InsTraits | None, shown: str) -> str:
    """The INS birth name and given names, when they are not what the ward name says."""
    if traits is None:
        return ""
    birth = f"{traits.family} {traits.given}"
    return "" if ins.rnipp_text(shown) == birth else birth


def _datamatrix(content: str | None, size: str) -> str | None:
    if not content:
        return None
    try:
        return datamatrix_img(content, size)
    except CodeError:
        return None


def _barcode(ipp: str | None) -> str | None:
    """The IPP's Code 128, at most 64 mm wide: what a 70 mm label holds."""
    if not ipp:
        return None
    try:
        return code128_img(ipp, "8mm", max_width=64.0)
    except CodeError:
        return None
