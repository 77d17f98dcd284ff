"""Care planned ahead: operations (SNOMED CT) and what the operating-room schedule is
made of, chemotherapy protocols and radiotherapy courses."""

from __future__ import annotations

from typing import NamedTuple

# Operations: (SNOMED CT procedure, French name, surgeons' service, minutes, CIM-10 reason)
PROCEDURES: dict[str, tuple[str, str, str, int, str]] = {
    "appendectomy": ("80146002", "Appendicectomie", "cvis", 60, "K35.8"),
    "cholecystectomy": ("45595009", "Cholécystectomie par cœlioscopie", "cvis", 90, "K80.2"),
    "colectomy": ("23968004", "Colectomie", "cvis", 180, "C18.7"),
    "hernia": ("44558001", "Cure de hernie inguinale", "cvis", 60, "K40.9"),
    "thyroid": ("13619001", "Thyroïdectomie", "cvis", 120, "E04.9"),
    "thr": ("52734007", "Prothèse totale de hanche", "orth", 120, "M16.1"),
    "tkr": ("609588000", "Prothèse totale de genou", "orth", 120, "M17.1"),
    "hip_fracture": ("52734007", "Prothèse de hanche pour fracture du col", "orth", 120, "S72.0"),
    "cesarean": ("11466000", "Césarienne", "mat", 60, "O82.0"),
    "hysterectomy": ("236886002", "Hystérectomie", "mat", 120, "D25.9"),
}

# What the operating-room schedule is made of (key, weight).
SCHEDULED_OPERATIONS: tuple[tuple[str, int], ...] = (
    ("cholecystectomy", 5), ("hernia", 4), ("colectomy", 2), ("thyroid", 2), ("thr", 4),
    ("tkr", 4), ("hysterectomy", 2), ("cesarean", 1), ("appendectomy", 1),
)


class Protocol(NamedTuple):
    """A chemotherapy protocol: a cycle every `every_days`, `cycles` in all."""

    code: str
    title: str
    every_days: int
    cycles: int
    diagnosis: str
    detail: str
    hours: int  # how long one cycle keeps the patient (46 h pump for FOLFOX)
    weight: int


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("FOLFOX", "Protocole FOLFOX 4 simplifié", 14, 12, "C18.7",
             "Oxaliplatine 85 mg/m² J1, acide folinique 400 mg/m² J1, 5-fluorouracile "
             "400 mg/m² en bolus puis 2 400 mg/m² en perfusion continue de 46 h (diffuseur)",
             46, 6),
    Protocol("FOLFIRI", "Protocole FOLFIRI", 14, 12, "C20",
             "Irinotécan 180 mg/m² J1, acide folinique 400 mg/m² J1, 5-fluorouracile "
             "400 mg/m² en bolus puis 2 400 mg/m² en perfusion continue de 46 h", 46, 2),
    Protocol("CARBO-TAXOL", "Protocole carboplatine-paclitaxel", 21, 6, "C34.9",
             "Carboplatine AUC 5 J1 et paclitaxel 175 mg/m² J1", 6, 2),
    Protocol("DOCETAXEL", "Protocole docétaxel", 21, 6, "C50.9", "Docétaxel 75 mg/m² J1", 4, 1),
)


class Course(NamedTuple):
    """A radiotherapy course: `fractions` of `dose_gy`, five a week."""

    code: str
    title: str
    fractions: int
    dose_gy: float
    diagnosis: str
    weight: int


COURSES: tuple[Course, ...] = (
    Course("SEIN", "Radiothérapie adjuvante du sein", 25, 2.0, "C50.9", 5),
    Course("RECTUM", "Radiochimiothérapie préopératoire du rectum", 25, 2.0, "C20", 2),
    Course("PROSTATE", "Radiothérapie de la prostate", 39, 2.0, "C61", 2),
    Course("POUMON", "Radiothérapie thoracique", 30, 2.0, "C34.9", 1),
)
