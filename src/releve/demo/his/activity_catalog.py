"""What the demo HIS's activity (activity.py) writes: the drugs it orders, the results
it files, and the code systems they are coded in."""

from __future__ import annotations

ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"

# (text, ATC code, ATC display, route SNOMED code, route display, period in hours)
DRUGS = [
    ("paracétamol 1 g IV toutes les 6 h", "N02BE01", "paracetamol", "47625008", "voie IV", 6),
    ("enoxaparine 4000 UI SC une fois par jour", "B01AB05", "enoxaparin", "34206005",
     "voie sous-cutanée", 24),
    ("amoxicilline 1 g per os toutes les 8 h", "J01CA04", "amoxicillin", "26643006",
     "voie orale", 8),
    ("furosémide 40 mg per os le matin", "C03CA01", "furosemide", "26643006", "voie orale", 24),
    ("insuline asparte SC selon glycémie capillaire", "A10AB05", "insulin aspart", "34206005",
     "voie sous-cutanée", 8),
]
# (LOINC code, display, category, UCUM unit, low, high, decimals)
RESULTS = [
    ("8867-4", "Fréquence cardiaque", "vital-signs", "/min", 55, 115, 0),
    ("8310-5", "Température corporelle", "vital-signs", "Cel", 36.0, 39.5, 1),
    ("59408-5", "Saturation en oxygène (SpO2)", "vital-signs", "%", 88, 100, 0),
    ("9279-1", "Fréquence respiratoire", "vital-signs", "/min", 12, 26, 0),
    ("2823-3", "Potassium sérique", "laboratory", "mmol/L", 3.1, 5.6, 1),
    ("718-7", "Hémoglobine", "laboratory", "g/dL", 7.5, 16.5, 1),
]
