"""English for the chart's follow-ups: code status on the census, the MAR and the printed
summary, the search box's hint (see i18n/__init__.py)."""

EN = {
    # print/summary.html, print/mar.html
    "Statut de réanimation": "Code status",
}
