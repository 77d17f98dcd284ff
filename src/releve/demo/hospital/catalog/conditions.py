"""What brings patients to the demo hospital: diagnoses (CIM-10), the chronic problems
commoner with age, who can have which diagnosis, allergies and their reactions (SNOMED
CT), and the reasons for an emergency visit."""

from __future__ import annotations

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

# Why people come to the emergency department: (reason, CIM-10 or "", FRENCH triage 1-5)
ED_REASONS: tuple[tuple[str, str, int], ...] = (
    ("Douleur thoracique", "R07.4", 2), ("Dyspnée", "", 2), ("Chute de sa hauteur", "", 3),
    ("Traumatisme du poignet", "S52.5", 4), ("Douleur abdominale", "", 3),
    ("Malaise", "R55", 3), ("Fièvre", "", 3), ("Lombalgie", "M54.5", 5),
    ("Confusion", "R41.0", 2), ("Crise convulsive", "", 2), ("Déficit moteur brutal", "", 1),
    ("Douleur de hanche après chute", "", 3), ("Vomissements", "", 4),
)
