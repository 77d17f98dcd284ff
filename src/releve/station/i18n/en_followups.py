"""English for the chart's follow-ups: code status on the census, the MAR and the printed
summary, the search box's hint (see i18n/__init__.py)."""

EN = {
    # print/summary.html, print/mar.html
    "Statut de réanimation": "Code status",
    # base.html, patients.html: what the search box finds a patient by (views/search)
    "Nom, lit, date (JJ/MM/AAAA) ou année de naissance, ou tout identifiant (IPP, INS, passeport…)":
        "Name, bed, birth date (DD/MM/YYYY) or year, or any identifier (MRN, INS, passport…)",
    "Nom, lit, naissance (date ou année), identifiant (IPP, INS, passeport…)":
        "Name, bed, birth (date or year), identifier (MRN, INS, passport…)",
}
