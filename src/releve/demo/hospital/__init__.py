"""The demo hospital: a synthetic French hospital written as FHIR R4, for
`releve demo generate` and for the demo HIS, which serves it.

Deterministic: the same seed, size and "now" give the same bytes (generate.py says how).

    generate.py    the entry: plan the hospital and its census, render every patient,
                   write one Type.ndjson per resource type
    site.py        the organization, sites, units, rooms, beds and staff
    people.py      who a patient is (identity, INS, address, contact); names.py, the
                   French names and places they are drawn from
    chart.py       one patient's record as it is written, and the resources every part
                   of it uses (conditions, allergies, observations, encounters)
    stays.py       a patient's history (problem list, past stays and emergency visits)
                   and the emergency department's patients of now
    ward.py        today's inpatients: the stay, vital signs, results, flags, diet
    medication.py  their orders and the administrations of the last 48 hours
    schedule.py    care planned ahead: chemotherapy, radiotherapy, the OR schedule
    trends.py      how a patient's numbers move during a stay
    letters.py     clinical documents, as text or a one-page PDF
    catalog/       the clinical vocabulary, one module per domain (services, conditions,
                   profiles, drugs, observations, procedures)
    build.py       builders for the FHIR datatypes all of them write
"""
