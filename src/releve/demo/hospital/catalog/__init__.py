"""The demo hospital's clinical vocabulary: services, diagnoses, drugs, tests, protocols.

Written for the demo, not copied from a real formulary. Codes are real codes of open
code systems (CIM-10 / ICD-10, LOINC, SNOMED CT, ATC, UCUM) so that a station shows what
it would show with a real HIS; displays and texts are in French because French is what
the ward reads. Everything here is plain tuples: the generator builds fresh FHIR dicts
from them, so no generated resource shares a nested object with another.
"""

from __future__ import annotations

from typing import NamedTuple

CIM10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"


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

DIAGNOSES: dict[str, str] = {
    "I10": "Hypertension essentielle (primitive)",
    "E11.9": "Diabète sucré de type 2, sans complication",
    "E10.9": "Diabète sucré de type 1, sans complication",
    "E03.9": "Hypothyroïdie, sans précision",
    "E66.9": "Obésité, sans précision",
    "E86": "Hypovolémie (déshydratation)",
    "E04.9": "Goitre non toxique, sans précision",
    "I48.9": "Fibrillation et flutter auriculaires, sans précision",
    "I50.0": "Insuffisance cardiaque congestive",
    "I21.9": "Infarctus aigu du myocarde, sans précision",
    "I63.9": "Infarctus cérébral, sans précision",
    "J44.1": "Maladie pulmonaire obstructive chronique avec épisodes aigus",
    "J44.9": "Maladie pulmonaire obstructive chronique, sans précision",
    "J18.9": "Pneumopathie, sans précision",
    "J96.0": "Insuffisance respiratoire aiguë",
    "J21.9": "Bronchiolite aiguë, sans précision",
    "J45.9": "Asthme, sans précision",
    "A41.9": "Sepsis, sans précision",
    "A08.4": "Infection intestinale virale, sans précision",
    "N39.0": "Infection des voies urinaires, siège non précisé",
    "N17.9": "Insuffisance rénale aiguë, sans précision",
    "N18.9": "Maladie rénale chronique, sans précision",
    "G40.9": "Épilepsie, sans précision",
    "G30.9": "Maladie d'Alzheimer, sans précision",
    "R41.0": "Désorientation, sans précision (syndrome confusionnel)",
    "R55": "Syncope et collapsus",
    "R07.4": "Douleur thoracique, sans précision",
    "R56.0": "Convulsions fébriles",
    "K92.2": "Hémorragie gastro-intestinale, sans précision",
    "K70.3": "Cirrhose alcoolique du foie",
    "K85.9": "Pancréatite aiguë, sans précision",
    "K35.8": "Appendicite aiguë, autre et sans précision",
    "K80.0": "Calcul de la vésicule biliaire avec cholécystite aiguë",
    "K80.2": "Calcul de la vésicule biliaire sans cholécystite",
    "K40.9": "Hernie inguinale unilatérale, sans occlusion ni gangrène",
    "C18.7": "Tumeur maligne du côlon sigmoïde",
    "C18.9": "Tumeur maligne du côlon, sans précision",
    "C20": "Tumeur maligne du rectum",
    "C34.9": "Tumeur maligne des bronches ou du poumon, sans précision",
    "C50.9": "Tumeur maligne du sein, sans précision",
    "C61": "Tumeur maligne de la prostate",
    "D25.9": "Léiomyome de l'utérus, sans précision",
    "S72.0": "Fracture du col du fémur",
    "S52.5": "Fracture de l'extrémité inférieure du radius",
    "M16.1": "Autres coxarthroses primaires",
    "M17.1": "Autres gonarthroses primaires",
    "M54.5": "Lombalgie basse",
    "O80.0": "Accouchement spontané par présentation du sommet",
    "O82.0": "Accouchement par césarienne programmée",
    "F20.9": "Schizophrénie, sans précision",
    "F32.2": "Épisode dépressif sévère sans symptômes psychotiques",
    "F31.9": "Trouble affectif bipolaire, sans précision",
    "Z51.1": "Séance de chimiothérapie pour tumeur",
    "F10.2": "Troubles liés à l'utilisation d'alcool : syndrome de dépendance",
}

# Chronic problems: (CIM-10, minimum age, probability at 70 years, orders they bring).
CHRONIC: tuple[tuple[str, int, float, tuple[str, ...]], ...] = (
    ("I10", 35, 0.45, ("amlo",)),
    ("E11.9", 35, 0.18, ("insu_glar", "insu_scale")),
    ("I48.9", 50, 0.12, ("apix",)),
    ("E03.9", 30, 0.08, ("levo",)),
    ("J44.9", 45, 0.08, ()),
    ("N18.9", 55, 0.10, ()),
    ("E66.9", 25, 0.15, ()),
)

ROUTES: dict[str, tuple[str, str, str]] = {
    # key: (SNOMED CT route, French display, abbreviation used in order texts)
    "iv": ("47625008", "Voie intraveineuse", "IV"),
    "po": ("26643006", "Voie orale", "per os"),
    "sc": ("34206005", "Voie sous-cutanée", "SC"),
    "im": ("78421000", "Voie intramusculaire", "IM"),
    "inh": ("447694001", "Voie respiratoire", "en nébulisation"),
}


class Drug(NamedTuple):
    """A medication order template. `dose` is per kg when `per_kg` (rounded to `step`);
    `continuous` orders are rates (per hour) on an electric syringe, whose `times` are
    the syringe changes; `prn` orders have no fixed times."""

    name: str
    atc: str
    dose: float
    unit: str  # French display
    ucum: str
    route: str
    frequency: int
    period: float
    period_unit: str  # UCUM time unit: h, d
    times: tuple[str, ...]
    text: str  # "{dose}" is replaced by the dose and its unit
    prn: str = ""
    per_kg: bool = False
    step: float = 1
    continuous: bool = False
    dose_range: tuple[float, float] | None = None


Q6H = ("00:00", "06:00", "12:00", "18:00")
Q8H = ("06:00", "14:00", "22:00")
TID = ("08:00", "14:00", "20:00")
BID = ("08:00", "20:00")
SLIDING_SCALE = ("Insuline asparte SC avant les repas selon la glycémie capillaire : "
                 "< 1,80 g/L : 0 UI ; 1,80 à 2,49 g/L : 2 UI ; 2,50 à 2,99 g/L : 4 UI ; "
                 "≥ 3,00 g/L : 6 UI et appeler le médecin")

DRUGS: dict[str, Drug] = {
    "para_iv": Drug("Paracétamol", "N02BE01", 1, "g", "g", "iv", 1, 6, "h", Q6H,
                    "Paracétamol {dose} IV toutes les 6 h"),
    "para_po": Drug("Paracétamol", "N02BE01", 1, "g", "g", "po", 3, 1, "d", TID,
                    "Paracétamol {dose} per os 3 fois par jour"),
    "para_ped": Drug("Paracétamol", "N02BE01", 15, "mg", "mg", "po", 1, 6, "h", Q6H,
                     "Paracétamol {dose} per os toutes les 6 h (15 mg/kg)", per_kg=True, step=10),
    "enox_prev": Drug("Énoxaparine", "B01AB05", 4000, "UI anti-Xa", "[iU]", "sc", 1, 1, "d",
                      ("20:00",), "Énoxaparine {dose} SC une fois par jour, le soir"),
    "enox_cur": Drug("Énoxaparine", "B01AB05", 100, "UI anti-Xa", "[iU]", "sc", 1, 12, "h", BID,
                     "Énoxaparine {dose} SC toutes les 12 h (100 UI/kg)", per_kg=True, step=1000),
    "hep_ivse": Drug("Héparine sodique", "B01AB01", 18, "UI/h", "[iU]/h", "iv", 1, 12, "h", BID,
                     "Héparine sodique IVSE {dose}, adaptée à l'anti-Xa (cible 0,3 à 0,7)",
                     per_kg=True, step=50, continuous=True),
    "apix": Drug("Apixaban", "B01AF02", 5, "mg", "mg", "po", 1, 12, "h", BID,
                 "Apixaban {dose} per os matin et soir"),
    "insu_glar": Drug("Insuline glargine", "A10AE04", 0.2, "UI", "[iU]", "sc", 1, 1, "d",
                      ("22:00",), "Insuline glargine {dose} SC au coucher", per_kg=True, step=2),
    "insu_scale": Drug("Insuline asparte", "A10AB05", 0, "UI", "[iU]", "sc", 3, 1, "d",
                       ("07:30", "12:00", "18:30"), SLIDING_SCALE,
                       prn="selon la glycémie capillaire", dose_range=(0, 6)),
    "insu_ivse": Drug("Insuline humaine rapide", "A10AB01", 2, "UI/h", "[iU]/h", "iv", 1, 12, "h",
                      BID, "Insuline IVSE {dose} selon le protocole de réanimation "
                           "(cible 1,40 à 1,80 g/L)", continuous=True),
    "furo_iv": Drug("Furosémide", "C03CA01", 40, "mg", "mg", "iv", 2, 1, "d", ("08:00", "14:00"),
                    "Furosémide {dose} IV matin et midi"),
    "biso": Drug("Bisoprolol", "C07AB07", 2.5, "mg", "mg", "po", 1, 1, "d", ("08:00",),
                 "Bisoprolol {dose} per os le matin"),
    "rami": Drug("Ramipril", "C09AA05", 5, "mg", "mg", "po", 1, 1, "d", ("08:00",),
                 "Ramipril {dose} per os le matin"),
    "amlo": Drug("Amlodipine", "C08CA01", 5, "mg", "mg", "po", 1, 1, "d", ("08:00",),
                 "Amlodipine {dose} per os le matin"),
    "atorva": Drug("Atorvastatine", "C10AA05", 40, "mg", "mg", "po", 1, 1, "d", ("20:00",),
                   "Atorvastatine {dose} per os le soir"),
    "aspirin": Drug("Acide acétylsalicylique", "B01AC06", 75, "mg", "mg", "po", 1, 1, "d",
                    ("12:00",), "Acide acétylsalicylique {dose} per os à midi"),
    "clopi": Drug("Clopidogrel", "B01AC04", 75, "mg", "mg", "po", 1, 1, "d", ("08:00",),
                  "Clopidogrel {dose} per os le matin"),
    "amoxclav_iv": Drug("Amoxicilline + acide clavulanique", "J01CR02", 1, "g", "g", "iv", 1, 8,
                        "h", Q8H, "Amoxicilline-acide clavulanique {dose} IV toutes les 8 h"),
    "ceftri": Drug("Ceftriaxone", "J01DD04", 2, "g", "g", "iv", 1, 1, "d", ("10:00",),
                   "Ceftriaxone {dose} IV une fois par jour"),
    "piptazo": Drug("Pipéracilline + tazobactam", "J01CR05", 4, "g", "g", "iv", 1, 8, "h", Q8H,
                    "Pipéracilline-tazobactam {dose} IV toutes les 8 h"),
    "morph_sc": Drug("Morphine", "N02AA01", 5, "mg", "mg", "sc", 1, 4, "h", (),
                     "Morphine {dose} SC si EVA > 4, au plus toutes les 4 h",
                     prn="si douleur (EVA > 4)"),
    "tramadol": Drug("Tramadol", "N02AX02", 50, "mg", "mg", "po", 1, 6, "h", (),
                     "Tramadol {dose} per os si douleur, au plus toutes les 6 h",
                     prn="si douleur"),
    "nefopam": Drug("Néfopam", "N02BG06", 20, "mg", "mg", "iv", 1, 6, "h", Q6H,
                    "Néfopam {dose} IV lente toutes les 6 h"),
    "ketoprof": Drug("Kétoprofène", "M01AE03", 100, "mg", "mg", "iv", 1, 12, "h", BID,
                     "Kétoprofène {dose} IV toutes les 12 h (48 h maximum)"),
    "ondans": Drug("Ondansétron", "A04AA01", 4, "mg", "mg", "iv", 1, 8, "h", (),
                   "Ondansétron {dose} IV si nausées ou vomissements, au plus toutes les 8 h",
                   prn="si nausées ou vomissements"),
    "omep": Drug("Oméprazole", "A02BC01", 20, "mg", "mg", "po", 1, 1, "d", ("08:00",),
                 "Oméprazole {dose} per os le matin"),
    "esomep_iv": Drug("Ésoméprazole", "A02BC05", 40, "mg", "mg", "iv", 1, 1, "d", ("08:00",),
                      "Ésoméprazole {dose} IV une fois par jour"),
    "levo": Drug("Lévothyroxine", "H03AA01", 75, "µg", "ug", "po", 1, 1, "d", ("07:00",),
                 "Lévothyroxine {dose} per os à jeun"),
    "macrogol": Drug("Macrogol", "A06AD15", 10, "g", "g", "po", 1, 1, "d", ("08:00",),
                     "Macrogol {dose} per os le matin"),
    "kcl": Drug("Chlorure de potassium", "A12BA01", 600, "mg", "mg", "po", 3, 1, "d", TID,
                "Chlorure de potassium {dose} per os 3 fois par jour"),
    "salbu": Drug("Salbutamol", "R03AC02", 5, "mg", "mg", "inh", 1, 6, "h", Q6H,
                  "Salbutamol {dose} en nébulisation toutes les 6 h"),
    "ipra": Drug("Ipratropium", "R03BB01", 0.5, "mg", "mg", "inh", 3, 1, "d", Q8H,
                 "Ipratropium {dose} en nébulisation 3 fois par jour"),
    "pred": Drug("Prednisolone", "H02AB06", 40, "mg", "mg", "po", 1, 1, "d", ("08:00",),
                 "Prednisolone {dose} per os le matin"),
    "nad": Drug("Noradrénaline", "C01CA03", 1, "mg/h", "mg/h", "iv", 1, 12, "h", BID,
                "Noradrénaline IVSE {dose} (objectif PAM ≥ 65 mmHg)", continuous=True),
    "propofol": Drug("Propofol", "N01AX10", 150, "mg/h", "mg/h", "iv", 1, 12, "h", BID,
                     "Propofol IVSE {dose} (objectif RASS -2 à -3)", continuous=True),
    "sufenta": Drug("Sufentanil", "N01AH03", 15, "µg/h", "ug/h", "iv", 1, 12, "h", BID,
                    "Sufentanil IVSE {dose}", continuous=True),
    "oxaz": Drug("Oxazépam", "N05BA04", 10, "mg", "mg", "po", 3, 1, "d", TID,
                 "Oxazépam {dose} per os 3 fois par jour"),
    "thiamine": Drug("Thiamine (vitamine B1)", "A11DA01", 250, "mg", "mg", "po", 1, 1, "d",
                     ("08:00",), "Thiamine {dose} per os le matin"),
    "rispe": Drug("Rispéridone", "N05AX08", 2, "mg", "mg", "po", 2, 1, "d", BID,
                  "Rispéridone {dose} per os matin et soir"),
    "olanz": Drug("Olanzapine", "N05AH03", 10, "mg", "mg", "po", 1, 1, "d", ("20:00",),
                  "Olanzapine {dose} per os le soir"),
    "sertra": Drug("Sertraline", "N06AB06", 50, "mg", "mg", "po", 1, 1, "d", ("08:00",),
                   "Sertraline {dose} per os le matin"),
    "zopi": Drug("Zopiclone", "N05CF01", 3.75, "mg", "mg", "po", 1, 1, "d", (),
                 "Zopiclone {dose} per os au coucher si insomnie", prn="si insomnie"),
    "halo": Drug("Halopéridol", "N05AD01", 5, "mg", "mg", "im", 1, 6, "h", (),
                 "Halopéridol {dose} IM si agitation, au plus toutes les 6 h",
                 prn="si agitation"),
    "fer": Drug("Sulfate ferreux", "B03AA07", 80, "mg", "mg", "po", 1, 1, "d", ("12:00",),
                "Sulfate ferreux {dose} per os à midi"),
    "spasfon": Drug("Phloroglucinol", "A03AX12", 80, "mg", "mg", "po", 1, 8, "h", (),
                    "Phloroglucinol {dose} per os si douleurs, au plus toutes les 8 h",
                    prn="si douleurs"),
    "leve": Drug("Lévétiracétam", "N03AX14", 500, "mg", "mg", "po", 2, 1, "d", BID,
                 "Lévétiracétam {dose} per os matin et soir"),
    "levoflo": Drug("Lévofloxacine", "J01MA12", 500, "mg", "mg", "po", 1, 1, "d", ("08:00",),
                    "Lévofloxacine {dose} per os une fois par jour (allergie aux pénicillines)"),
    "lactulose": Drug("Lactulose", "A06AD11", 10, "g", "g", "po", 3, 1, "d", TID,
                      "Lactulose {dose} per os 3 fois par jour"),
}
ANTICOAGULANTS = frozenset({"enox_prev", "enox_cur", "hep_ivse", "apix"})
# Orders a known allergy forbids: allergen SNOMED code -> (orders, replacement or "").
AVOID: dict[str, tuple[frozenset[str], str]] = {
    "764146007": (frozenset({"amoxclav_iv", "piptazo", "amox_po"}), "levoflo"),
    "372687004": (frozenset({"amoxclav_iv", "piptazo", "amox_po"}), "levoflo"),
    "387458008": (frozenset({"aspirin", "ketoprof"}), ""),
    "387207008": (frozenset({"ketoprof"}), ""),
    "373529000": (frozenset({"morph_sc"}), "tramadol"),
}


# Who can have a diagnosis: (youngest, oldest, sex or None).
DIAGNOSIS_AGES: dict[str, tuple[int, int, str | None]] = {
    "S72.0": (65, 100, None), "I50.0": (55, 100, None), "G30.9": (70, 100, None),
    "C61": (55, 90, "male"), "C50.9": (35, 85, "female"), "J21.9": (0, 1, None),
    "R56.0": (0, 5, None), "A08.4": (0, 10, None), "I21.9": (40, 90, None),
    "I63.9": (45, 95, None), "M16.1": (55, 90, None), "M17.1": (55, 90, None),
    "K70.3": (35, 75, None), "C34.9": (45, 85, None), "C18.7": (45, 85, None),
    "C18.9": (45, 85, None), "C20": (45, 85, None), "D25.9": (35, 60, "female"),
    "O82.0": (18, 43, "female"), "O80.0": (18, 43, "female"), "J44.1": (45, 95, None),
}


class Profile(NamedTuple):
    """Why a current inpatient is here, and what that brings: orders, the trend of the
    results, extra tests, and the operation already done (surgical stays)."""

    diagnosis: str
    weight: int
    orders: tuple[str, ...]
    scenario: str
    labs: tuple[str, ...] = ()
    procedure: str = ""


PROFILES: dict[str, tuple[Profile, ...]] = {
    "uhcd": (Profile("R07.4", 3, ("para_po",), "stable", ("trop",)),
             Profile("R55", 2, ("enox_prev",), "stable"),
             Profile("N39.0", 2, ("ceftri", "para_po"), "infection"),
             Profile("E86", 2, ("para_po",), "renal")),
    "rea": (Profile("A41.9", 4, ("nad", "propofol", "sufenta", "piptazo", "insu_ivse", "hep_ivse",
                                 "esomep_iv"), "sepsis", ("lact",)),
            Profile("J96.0", 3, ("propofol", "sufenta", "ceftri", "enox_prev", "esomep_iv", "salbu"),
                    "infection", ("lact",)),
            Profile("K85.9", 1, ("para_iv", "esomep_iv", "enox_prev", "nad"), "infection", ("lact",))),
    "card": (Profile("I50.0", 4, ("furo_iv", "biso", "rami", "enox_prev", "kcl", "para_po"),
                     "heart_failure", ("bnp",)),
             Profile("I48.9", 3, ("apix", "biso", "para_po"), "stable", ("bnp",)),
             Profile("I21.9", 3, ("aspirin", "clopi", "enox_cur", "atorva", "biso", "rami"), "acs",
                     ("trop",)),
             Profile("R55", 1, ("enox_prev",), "stable", ("trop",))),
    "pneu": (Profile("J44.1", 4, ("salbu", "ipra", "pred", "amoxclav_iv", "enox_prev"), "infection"),
             Profile("J18.9", 4, ("amoxclav_iv", "para_iv", "enox_prev"), "infection"),
             Profile("C34.9", 2, ("morph_sc", "para_po", "ondans", "enox_prev"), "stable", ("alb",)),
             Profile("J45.9", 1, ("salbu", "pred"), "stable")),
    "mint": (Profile("A41.9", 2, ("piptazo", "para_iv", "enox_prev"), "infection", ("lact",)),
             Profile("N39.0", 3, ("ceftri", "para_po", "enox_prev"), "infection"),
             Profile("E86", 2, ("para_po", "enox_prev", "kcl"), "renal"),
             Profile("N17.9", 2, ("enox_prev",), "renal"),
             Profile("J18.9", 2, ("ceftri", "para_iv", "enox_prev"), "worsening")),
    "neur": (Profile("I63.9", 5, ("aspirin", "atorva", "enox_prev", "para_po"), "stable"),
             Profile("G40.9", 2, ("leve", "para_po"), "stable")),
    "gast": (Profile("K92.2", 3, ("esomep_iv", "para_iv"), "anemia", ("inr",)),
             Profile("K70.3", 2, ("thiamine", "lactulose", "oxaz"), "stable", ("inr", "alb")),
             Profile("K85.9", 3, ("para_iv", "nefopam", "esomep_iv", "enox_prev"), "infection")),
    "onco": (Profile("C34.9", 3, ("morph_sc", "para_po", "ondans", "macrogol", "enox_prev"), "stable",
                     ("alb",)),
             Profile("C18.9", 2, ("para_po", "ondans", "enox_prev"), "worsening"),
             Profile("C50.9", 2, ("para_po", "ondans", "tramadol"), "stable"),
             Profile("C61", 1, ("para_po", "enox_prev"), "stable")),
    "cvis": (Profile("K35.8", 3, ("para_iv", "nefopam", "ketoprof", "enox_prev", "amoxclav_iv"),
                     "postop", (), "appendectomy"),
             Profile("K80.0", 3, ("para_iv", "nefopam", "enox_prev", "ondans"), "postop", (),
                     "cholecystectomy"),
             Profile("C18.7", 2, ("para_iv", "nefopam", "morph_sc", "enox_prev", "esomep_iv"),
                     "postop", ("alb",), "colectomy"),
             Profile("K40.9", 1, ("para_po", "enox_prev"), "postop", (), "hernia")),
    "orth": (Profile("S72.0", 5, ("para_iv", "morph_sc", "enox_prev", "macrogol"), "postop", (),
                     "hip_fracture"),
             Profile("M16.1", 2, ("para_po", "nefopam", "enox_prev"), "postop", (), "thr"),
             Profile("M17.1", 2, ("para_po", "nefopam", "enox_prev", "tramadol"), "postop", (), "tkr"),
             Profile("S52.5", 1, ("para_po", "tramadol"), "stable")),
    "mat": (Profile("O80.0", 6, ("para_po", "spasfon", "fer"), "stable"),
            Profile("O82.0", 3, ("para_po", "enox_prev", "fer"), "postop", (), "cesarean")),
    "ped": (Profile("J21.9", 4, ("para_ped",), "infection"),
            Profile("A08.4", 3, ("para_ped",), "stable"),
            Profile("J45.9", 2, ("salbu", "pred"), "stable"),
            Profile("R56.0", 1, ("para_ped",), "infection")),
    "ger": (Profile("R41.0", 3, ("para_po", "enox_prev", "macrogol"), "stable"),
            Profile("J18.9", 3, ("amoxclav_iv", "para_po", "enox_prev"), "infection"),
            Profile("I50.0", 2, ("furo_iv", "biso", "enox_prev", "kcl"), "heart_failure", ("bnp",)),
            Profile("E86", 2, ("para_po", "enox_prev"), "renal"),
            Profile("G30.9", 1, ("para_po", "macrogol"), "stable"),
            Profile("N39.0", 2, ("ceftri", "para_po", "enox_prev"), "infection")),
    "ssr": (Profile("S72.0", 3, ("para_po", "enox_prev", "macrogol"), "stable"),
            Profile("I63.9", 3, ("aspirin", "atorva", "para_po"), "stable"),
            Profile("M17.1", 2, ("para_po", "enox_prev"), "stable"),
            Profile("J44.9", 1, ("ipra", "para_po"), "stable")),
    "psy": (Profile("F20.9", 4, ("rispe", "zopi", "halo"), "stable"),
            Profile("F32.2", 4, ("sertra", "oxaz", "zopi"), "stable"),
            Profile("F31.9", 2, ("olanz", "zopi"), "stable"),
            Profile("F10.2", 2, ("oxaz", "thiamine"), "stable")),
}

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


class Lab(NamedTuple):
    loinc: str
    name: str
    unit: str  # French display
    ucum: str
    decimals: int
    low: float  # reference range (women's when it differs)
    high: float
    male_low: float | None = None
    male_high: float | None = None

    def reference_range(self, male: bool) -> tuple[float, float]:
        """(low, high) for the patient's sex: the men's range where it differs."""
        if not male or (self.male_low is None and self.male_high is None):
            return self.low, self.high
        if self.male_low is None or self.male_high is None:
            raise ValueError(f"lab {self.loinc} ({self.name}): a men's range needs both bounds")
        return self.male_low, self.male_high


LABS: dict[str, Lab] = {
    "hb": Lab("718-7", "Hémoglobine", "g/dL", "g/dL", 1, 12.0, 16.0, 13.0, 17.0),
    "wbc": Lab("6690-2", "Leucocytes", "G/L", "10*9/L", 1, 4.0, 10.0),
    "plt": Lab("777-3", "Plaquettes", "G/L", "10*9/L", 0, 150, 400),
    "na": Lab("2951-2", "Sodium", "mmol/L", "mmol/L", 0, 135, 145),
    "k": Lab("2823-3", "Potassium", "mmol/L", "mmol/L", 1, 3.5, 5.0),
    "creat": Lab("14682-9", "Créatinine", "µmol/L", "umol/L", 0, 45, 90, 60, 110),
    "crp": Lab("1988-5", "Protéine C réactive", "mg/L", "mg/L", 0, 0, 5),
    "gluc": Lab("14749-6", "Glucose", "mmol/L", "mmol/L", 1, 3.9, 5.8),
    "inr": Lab("6301-6", "INR", "INR", "{INR}", 2, 0.8, 1.2),
    "trop": Lab("6598-7", "Troponine T", "µg/L", "ug/L", 3, 0, 0.014),
    "bnp": Lab("33762-6", "NT-proBNP", "pg/mL", "pg/mL", 0, 0, 125),
    "lact": Lab("2524-7", "Lactate", "mmol/L", "mmol/L", 1, 0.5, 2.0),
    "alb": Lab("1751-7", "Albumine", "g/L", "g/L", 0, 35, 50),
    "hba1c": Lab("4548-4", "Hémoglobine glyquée (HbA1c)", "%", "%", 1, 4.0, 6.0),
}
BASIC_PANEL = ("hb", "wbc", "plt", "na", "k", "creat", "crp")

# Vital signs: key: (LOINC, French name, unit display, UCUM, decimals)
VITALS: dict[str, tuple[str, str, str, str, int]] = {
    "hr": ("8867-4", "Fréquence cardiaque", "/min", "/min", 0),
    "bp": ("85354-9", "Pression artérielle", "mmHg", "mm[Hg]", 0),
    "sys": ("8480-6", "Pression artérielle systolique", "mmHg", "mm[Hg]", 0),
    "dia": ("8462-4", "Pression artérielle diastolique", "mmHg", "mm[Hg]", 0),
    "temp": ("8310-5", "Température", "°C", "Cel", 1),
    "spo2": ("59408-5", "Saturation en oxygène (oxymétrie de pouls)", "%", "%", 0),
    "rr": ("9279-1", "Fréquence respiratoire", "/min", "/min", 0),
    "weight": ("29463-7", "Poids", "kg", "kg", 1),
    "pain": ("72514-3", "Douleur (échelle numérique 0-10)", "{score}", "{score}", 0),
    "glyc": ("2339-0", "Glycémie capillaire", "g/L", "g/L", 2),
}

# Allergens: (SNOMED CT substance, French name, category, type, weight, reactions)
ALLERGENS: tuple[tuple[str, str, str, str, int, tuple[str, ...]], ...] = (
    ("764146007", "Pénicilline", "medication", "allergy", 10, ("urticaire", "anaphylaxie", "eruption")),
    ("372687004", "Amoxicilline", "medication", "allergy", 6, ("eruption", "urticaire", "quincke")),
    ("387458008", "Aspirine", "medication", "allergy", 3, ("bronchospasme", "urticaire")),
    ("387207008", "Ibuprofène", "medication", "allergy", 2, ("urticaire", "quincke")),
    ("387494007", "Codéine", "medication", "intolerance", 3, ("nausees",)),
    ("373529000", "Morphine", "medication", "intolerance", 2, ("nausees", "prurit")),
    ("385420005", "Produits de contraste iodés", "medication", "allergy", 3,
     ("urticaire", "anaphylaxie")),
    ("387406002", "Sulfamides", "medication", "allergy", 2, ("eruption",)),
    ("111088007", "Latex", "environment", "allergy", 2, ("urticaire", "prurit", "anaphylaxie")),
    ("256259004", "Pollen", "environment", "allergy", 2, ("prurit",)),
    ("256349002", "Arachide", "food", "allergy", 3, ("quincke", "anaphylaxie", "urticaire")),
    ("102263004", "Œufs", "food", "allergy", 1, ("urticaire", "diarrhee")),
    ("3718001", "Lait de vache", "food", "intolerance", 1, ("diarrhee",)),
)
# Reactions: key: (SNOMED CT finding, French name, severity)
REACTIONS: dict[str, tuple[str, str, str]] = {
    "urticaire": ("126485001", "Urticaire", "moderate"),
    "anaphylaxie": ("39579001", "Choc anaphylactique", "severe"),
    "eruption": ("271807003", "Éruption cutanée", "mild"),
    "quincke": ("41291007", "Œdème de Quincke", "severe"),
    "nausees": ("422587007", "Nausées", "mild"),
    "bronchospasme": ("4386001", "Bronchospasme", "severe"),
    "prurit": ("418290006", "Prurit", "mild"),
    "diarrhee": ("62315008", "Diarrhée", "mild"),
}

# ABO and RhD groups: (ABO SNOMED, RhD SNOMED, French label, share of the population).
BLOOD_GROUPS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("112144000", "A", "165747007", "positif", "A+", 0.38),
    ("112144000", "A", "165746003", "négatif", "A-", 0.07),
    ("58460004", "O", "165747007", "positif", "O+", 0.36),
    ("58460004", "O", "165746003", "négatif", "O-", 0.06),
    ("112149005", "B", "165747007", "positif", "B+", 0.08),
    ("112149005", "B", "165746003", "négatif", "B-", 0.01),
    ("165743006", "AB", "165747007", "positif", "AB+", 0.03),
    ("165743006", "AB", "165746003", "négatif", "AB-", 0.01),
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

# Why people come to the emergency department: (reason, CIM-10 or "", FRENCH triage 1-5)
ED_REASONS: tuple[tuple[str, str, int], ...] = (
    ("Douleur thoracique", "R07.4", 2), ("Dyspnée", "", 2), ("Chute de sa hauteur", "", 3),
    ("Traumatisme du poignet", "S52.5", 4), ("Douleur abdominale", "", 3),
    ("Malaise", "R55", 3), ("Fièvre", "", 3), ("Lombalgie", "M54.5", 5),
    ("Confusion", "R41.0", 2), ("Crise convulsive", "", 2), ("Déficit moteur brutal", "", 1),
    ("Douleur de hanche après chute", "", 3), ("Vomissements", "", 4),
)
