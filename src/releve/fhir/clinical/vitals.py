"""The bedside measures a ward records, once: their LOINC codes, UCUM units, and the two
ranges every reader of them shares.

`possible` is what a living patient's measure can be: a value outside it is a typing
slip or the wrong unit (375 for 37,5 °C, 1,8 for 180 cm...) and is refused. `plausible`
is what a ward sees on an ordinary day: a value outside it is recorded (a nurse may be
looking at a crashing patient) but shown with a warning, when typed and on the trend.
The ranges are for adults and children past infancy; they never block a real value,
they only ask for a second look.

The journal checks recorded Observations against this table (journal/kinds/observation.py)
and the summary reads the same codes into its vital-signs trend (views/summary/observations.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from .values import unit_text

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
BP_PANEL = "85354-9"
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"


@dataclass(frozen=True)
class Measure:
    """One measure: how it is coded, written and checked."""

    key: str  # the form's field and the summary's series
    label: str  # French, as the ward says it
    code: str  # the LOINC code recorded
    display: str  # LOINC's name for it
    unit: str  # UCUM code
    category: str  # observation-category code
    order: int  # place in the vital-signs table
    possible: tuple[float, float]  # outside: refused (bounds included)
    plausible: tuple[float, float]  # outside: recorded with a warning
    whole: bool = False  # a score: whole numbers only
    also: tuple[str, ...] = ()  # other LOINC codes a HIS sends for it (read, never written)
    positive: bool = False  # zero is impossible too (a weight)

    @property
    def shown_unit(self) -> str:
        """°C, mmHg: the unit as a ward writes it."""
        return unit_text(self.unit)

    def is_possible(self, value: float) -> bool:
        low, high = self.possible
        return low <= value <= high and not (self.positive and value <= 0) \
            and not (self.whole and value != int(value))

    def is_plausible(self, value: float) -> bool:
        low, high = self.plausible
        return low <= value <= high


MEASURES: tuple[Measure, ...] = (
    Measure("temp", "Température", "8310-5", "Body temperature", "Cel", "vital-signs", 1,
            (20, 46), (35, 40.5), also=("8331-1",)),
    Measure("hr", "Pouls", "8867-4", "Heart rate", "/min", "vital-signs", 2,
            (0, 350), (40, 180)),
    Measure("sys", "Pression artérielle systolique", SYSTOLIC, "Systolic blood pressure",
            "mm[Hg]", "vital-signs", 3, (0, 350), (70, 220)),
    Measure("dia", "Pression artérielle diastolique", DIASTOLIC, "Diastolic blood pressure",
            "mm[Hg]", "vital-signs", 4, (0, 250), (35, 130)),
    Measure("spo2", "SpO2", "2708-6", "Oxygen saturation in Arterial blood", "%", "vital-signs", 5,
            (0, 100), (85, 100), also=("59408-5",)),
    Measure("rr", "Fréquence respiratoire", "9279-1", "Respiratory rate", "/min", "vital-signs", 6,
            (0, 120), (8, 40)),
    Measure("weight", "Poids", "29463-7", "Body weight", "kg", "vital-signs", 7,
            (0, 500), (2, 250), also=("3141-9",), positive=True),
    Measure("pain", "Douleur (0-10)", "72514-3",
            "Pain severity - 0-10 verbal numeric rating [Score] - Reported", "{score}", "survey", 8,
            (0, 10), (0, 10), whole=True, also=("38208-5",)),
    Measure("glyc", "Glycémie capillaire", "41653-7",
            "Glucose [Mass/volume] in Capillary blood by Glucometer", "g/L", "laboratory", 11,
            (0, 15), (0.4, 5), also=("2339-0",), positive=True),
    Measure("urine", "Diurèse", "9187-6", "Urine output", "mL", "vital-signs", 12,
            (0, 10000), (0, 4000)),
)
BY_KEY: dict[str, Measure] = {m.key: m for m in MEASURES}
BY_CODE: dict[str, Measure] = {code: m for m in MEASURES for code in (m.code, *m.also)}
PULSE_OXIMETRY = "59408-5"  # written beside 2708-6 on an SpO2 (FHIR's pulse-oximetry profile)
BLOOD_PRESSURE = "Pression artérielle"
