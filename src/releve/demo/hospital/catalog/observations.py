"""What a ward measures: laboratory tests (LOINC, reference ranges by sex) and the
basic panel, vital signs, and the ABO and RhD blood groups."""

from __future__ import annotations

from typing import NamedTuple


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
