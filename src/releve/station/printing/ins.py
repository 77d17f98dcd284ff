"""The INS DataMatrix: the national health identity as French hospitals print it on
labels and wristbands, so that a scan fills in the identity instead of a hand.

The content follows the ANS "DataMatrix INS" layout, built on the 2D-Doc structure
(tests/test_station_print.py spells out a whole example):

    header  "IS" "01" + 22 zeros      26 characters: marker IS (INS), version 01, then the
                                       2D-Doc header fields this unsigned code leaves empty
    S1      matricule INS              15 characters (NIR or NIA with its key), fixed
    S2      OID of the matricule       up to 20 characters, then GS (0x1D) if shorter
    S3      birth given names          up to 100 characters, space separated, then GS
    S4      birth name                 up to 100 characters, then GS
    S5      sex                        1 character, M or F
    S6      birth date                 10 characters, DD-MM-YYYY
    S7      birthplace (COG code)      5 characters, optional: INSEE code of the commune,
                                       or 99xxx for a country

Names are written as the INS traits are: capitals, without diacritics (RNIPP spelling);
hyphens, apostrophes and spaces kept. The code carries identity only, never care data.
It is printed only when every mandatory trait is known; otherwise the label says why.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..records.projections import INS_SYSTEMS
from ..text import _LIGATURES  # Œ -> OE, ß -> SS...: the same spelling-out as search

HEADER = "IS01" + "0" * 22
GS = "\x1d"
OID_MAX = 20
NAMES_MAX = 100
SEX = {"male": "M", "female": "F"}
BIRTHPLACE_URLS = ("patient-birthPlace", "birth-place", "birthplace")
_COG = re.compile(r"^(\d[\dAB]\d{3})$")  # 2A/2B for Corsica, 99xxx for countries


@dataclass(frozen=True)
class InsTraits:
    """What the code carries, as read from the Patient resource."""

    matricule: str
    oid: str
    given: str  # every birth given name, space separated
    family: str  # birth name
    sex: str  # M or F
    birth_date: str  # YYYY-MM-DD
    birthplace: str | None = None  # COG code


def rnipp_text(text: str) -> str:
    """'Hélène-Marie d'Arc' -> "HELENE-MARIE D'ARC": capitals without diacritics."""
    spelled = text.replace("’", "'").translate(_LIGATURES)
    bare = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^A-Za-z' -]", " ", bare).upper().split())


def _official_name(patient: dict) -> dict:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    return next((n for n in names if n.get("use") == "official"),
                next((n for n in names if n.get("use") != "usual"), names[0] if names else {}))


def _ins_identifier(patient: dict) -> tuple[str, str] | None:
    for ident in patient.get("identifier") or []:
        if not isinstance(ident, dict):
            continue
        system, value = ident.get("system"), ident.get("value")
        if system in INS_SYSTEMS and isinstance(value, str):
            return value.replace(" ", ""), system.removeprefix("urn:oid:")
    return None


def _birthplace(patient: dict) -> str | None:
    """The COG code of the birthplace, from a birthPlace extension's address, if any."""
    for extension in patient.get("extension") or []:
        if not isinstance(extension, dict):
            continue
        url = str(extension.get("url", "")).casefold()
        if not any(part in url for part in BIRTHPLACE_URLS):
            continue
        address = extension.get("valueAddress")
        if not isinstance(address, dict):
            continue
        for inner in address.get("extension") or []:
            if not isinstance(inner, dict):
                continue
            coding = coding if isinstance(coding := inner.get("valueCoding"), dict) else {}
            for value in (coding.get("code"), inner.get("valueCode"), inner.get("valueString")):
                if isinstance(value, str) and _COG.match(value.strip().upper()):
                    return value.strip().upper()
    return None


def traits(patient: dict) -> InsTraits | None:
    """The INS traits of a Patient resource, or None when one mandatory trait is missing."""
    found = _ins_identifier(patient)
    name = _official_name(patient)
    given = rnipp_text(" ".join(g for g in name.get("given") or [] if isinstance(g, str)))
    family = rnipp_text(written if isinstance(written := name.get("family"), str) else "")
    sex = SEX.get(gender if isinstance(gender := patient.get("gender"), str) else "")
    birth = birth_date if isinstance(birth_date := patient.get("birthDate"), str) else ""
    if (found is None or not re.fullmatch(r"\d{6}[\dAB]\d{8}", found[0]) or len(found[1]) > OID_MAX
            or not given or not family or sex is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", birth)):
        return None
    return InsTraits(found[0], found[1], given[:NAMES_MAX], family[:NAMES_MAX], sex, birth,
                     _birthplace(patient))


def _variable(tag: str, value: str, longest: int) -> str:
    """A variable-length field ends with GS unless it fills its maximum length."""
    return f"{tag}{value}{GS if len(value) < longest else ''}"


def content(found: InsTraits) -> str:
    """The text the DataMatrix carries (ASCII, with GS separators)."""
    year, month, day = found.birth_date.split("-")
    parts = [HEADER, "S1", found.matricule, _variable("S2", found.oid, OID_MAX),
             _variable("S3", found.given, NAMES_MAX), _variable("S4", found.family, NAMES_MAX),
             "S5", found.sex, "S6", f"{day}-{month}-{year}"]
    if found.birthplace:
        parts += ["S7", found.birthplace]
    return "".join(parts)


def patient_content(patient: dict) -> str | None:
    """The INS DataMatrix content for a Patient resource, or None if it cannot be made."""
    found = traits(patient)
    return content(found) if found else None
