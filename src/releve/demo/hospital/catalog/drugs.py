"""The demo hospital's formulary: routes, the medication order templates (ATC codes,
French order texts, schedules), and which orders an allergy forbids."""

from __future__ import annotations

from typing import NamedTuple

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
