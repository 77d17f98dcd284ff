"""Where the demo hospital's care happens and who gives it: its sites, its clinical
services (split into units of about 30 beds), the units without beds, and the staff's
roles."""

from __future__ import annotations

from typing import NamedTuple


class Service(NamedTuple):
    """A clinical service; large ones are split into units of about 30 beds (A, B...)."""

    code: str
    name: str
    share: float  # of the hospital's beds
    site: int  # index in SITES
    floor: int
    kind: str  # drives staff (site.py), ages (generate.py) and care (stays, ward, medication)
    max_stay_days: float  # how long a current inpatient may have been here
    single_rooms: float  # share of beds in single rooms


SITES: tuple[tuple[str, str, str], ...] = (
    # (code, name, street address)
    ("principal", "Hôpital principal", "1 boulevard Yves-du-Manoir"),
    ("tilleuls", "Site des Tilleuls (gériatrie et SSR)", "12 allée des Tilleuls"),
    ("pins", "Centre psychothérapique Les Pins", "40 route des Pins"),
)

SERVICES: tuple[Service, ...] = (
    Service("uhcd", "UHCD (hospitalisation de courte durée)", 0.02, 0, 0, "short", 1.0, 1.0),
    Service("rea", "Réanimation polyvalente", 0.04, 0, 1, "icu", 12, 1.0),
    Service("card", "Cardiologie", 0.08, 0, 2, "medicine", 7, 0.5),
    Service("pneu", "Pneumologie", 0.06, 0, 2, "medicine", 8, 0.5),
    Service("mint", "Médecine interne", 0.08, 0, 3, "medicine", 10, 0.5),
    Service("neur", "Neurologie", 0.05, 0, 3, "medicine", 8, 0.6),
    Service("gast", "Hépato-gastro-entérologie", 0.05, 0, 4, "medicine", 7, 0.5),
    Service("onco", "Oncologie médicale", 0.05, 0, 4, "oncology", 8, 0.8),
    Service("cvis", "Chirurgie viscérale et digestive", 0.07, 0, 5, "surgery", 7, 0.5),
    Service("orth", "Orthopédie-traumatologie", 0.07, 0, 5, "surgery", 8, 0.5),
    Service("mat", "Maternité", 0.07, 0, 6, "maternity", 4, 1.0),
    Service("ped", "Pédiatrie", 0.05, 0, 6, "pediatrics", 4, 0.7),
    Service("ger", "Gériatrie aiguë", 0.10, 1, 1, "geriatrics", 14, 0.5),
    Service("ssr", "Soins de suite et de réadaptation", 0.09, 1, 2, "rehab", 40, 0.5),
    Service("psy", "Psychiatrie adulte", 0.12, 2, 1, "psychiatry", 45, 0.7),
)

# Units without beds of their own: every one has a phone in the directory.
ED = ("urg", "Urgences", 0, 0)  # code, name, site, floor
OTHER_UNITS: tuple[tuple[str, str, int, int], ...] = (
    ("bloc", "Bloc opératoire", 0, 1),
    ("hdjo", "Hôpital de jour d'oncologie", 0, 4),
    ("radt", "Radiothérapie", 0, -1),
    ("phar", "Pharmacie à usage intérieur", 0, -1),
    ("labo", "Laboratoire de biologie médicale", 0, 0),
    ("efs", "Dépôt de sang", 0, 0),
)

# Staff roles: (code, French title, http://terminology.hl7.org/CodeSystem/practitioner-role
# code or "", on a pager rather than a DECT).
ROLES: dict[str, tuple[str, str, bool]] = {
    "chef": ("Chef de service", "doctor", False),
    "med": ("Médecin", "doctor", False),
    "chir": ("Chirurgien", "doctor", False),
    "anes": ("Médecin anesthésiste-réanimateur", "doctor", False),
    "interne": ("Interne", "doctor", True),
    "cadre": ("Cadre de santé", "", False),
    "ide": ("Infirmier(ère) diplômé(e) d'État", "nurse", False),
    "ibode": ("Infirmier(ère) de bloc opératoire", "nurse", False),
    "as": ("Aide-soignant(e)", "", False),
    "sf": ("Sage-femme", "", False),
    "pharm": ("Pharmacien", "pharmacist", False),
    "prep": ("Préparateur en pharmacie", "", False),
    "bio": ("Biologiste", "doctor", False),
    "tech": ("Technicien de laboratoire", "", False),
    "onco": ("Oncologue", "doctor", False),
    "radiot": ("Radiothérapeute", "doctor", False),
    "manip": ("Manipulateur en électroradiologie", "", False),
    "urgentiste": ("Médecin urgentiste", "doctor", False),
    "psy": ("Psychiatre", "doctor", False),
    "ped": ("Pédiatre", "doctor", False),
    "ger": ("Gériatre", "doctor", False),
    "gyneco": ("Gynécologue-obstétricien", "doctor", False),
    "rea": ("Médecin réanimateur", "doctor", False),
}

# The physicians of a service, by its kind.
DOCTOR_ROLE: dict[str, str] = {
    "short": "urgentiste", "icu": "rea", "medicine": "med", "oncology": "onco", "surgery": "chir",
    "maternity": "gyneco", "pediatrics": "ped", "geriatrics": "ger", "rehab": "med",
    "psychiatry": "psy",
}
