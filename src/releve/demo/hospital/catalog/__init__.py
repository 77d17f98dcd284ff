"""The demo hospital's clinical vocabulary, one module per domain.

Written for the demo, not copied from a real formulary. Codes are real codes of open
code systems (CIM-10 / ICD-10, LOINC, SNOMED CT, ATC, UCUM: their URLs are here) so that
a station shows what it would show with a real HIS; displays and texts are in French
because French is what the ward reads. Everything is plain tuples: the generator builds
fresh FHIR dicts from them, so no generated resource shares a nested object with another.

    services.py      sites, clinical services, units without beds, staff roles
    conditions.py    diagnoses, chronic problems, allergies, reasons for an emergency visit
    profiles.py      why patients stay in each service, and what each reason brings
    drugs.py         routes, medication order templates, what an allergy forbids
    observations.py  laboratory tests and the basic panel, vital signs, blood groups
    procedures.py    operations, chemotherapy protocols, radiotherapy courses
"""

CIM10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
