"""The one reading of clinical facts from FHIR: pure functions on resources as dicts.

    values.py     getters that accept anything (codes, texts, names, dates, quantities)
    allergies.py  which allergies are shown, which are high risk, "no known allergy"
    orders.py     whether a medication order is current treatment, and if not why
    statements.py whether a MedicationStatement (usual treatment) is current
    hints.py      safety hints on the current orders: duplicates, anticoagulants, paracetamol
    alerts.py     active flags and their kind (fall risk, code status, isolation), diets
    code_status.py  do-not-resuscitate, limitation of care and advance directives, from
                  Consent, Flag and DocumentReference

The summary, the census, the printouts and the journal call these; none of them decides
a clinical rule on its own. No SQL and no station code here: this package imports
nothing from releve but other fhir modules.
"""
