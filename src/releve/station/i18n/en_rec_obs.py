"""English for the downtime entries: obs (see i18n/__init__.py): vital signs, notes and
transmissions (web/rec_observations.py, journal/kinds/observation.py and note.py)."""

EN: dict[str, str] = {
    # forms
    "Saisir des mesures": "Record measurements",
    "remplissez celles que vous avez prises ; Entrée enregistre":
        "fill in those you took; Enter records",
    "Enregistrer les mesures": "Record the measurements", "Enregistrer": "Record",
    "Commentaire": "Comment", "vide = maintenant": "empty = now", "Diurèse": "Urine output",
    "Saisie enregistrée.": "Recorded.",
    "Rien n'a été enregistré : corrigez les champs signalés.":
        "Nothing was recorded: correct the fields marked.",
    "Retour au dossier de {name}": "Back to {name}'s record",
    "Notes et transmissions": "Notes and handovers", "saisies du mode dégradé": "downtime entries",
    "Écrire une note ou une transmission": "Write a note or a handover",
    "Type de saisie": "Kind of entry", "Note": "Note", "Transmission": "Handover",
    "transmission": "handover", "Type de note": "Kind of note", "selon mon rôle": "by my role",
    "Pour l'équipe": "For the shift", "Texte": "Text",
    "{n} caractères au plus ; Ctrl+Entrée enregistre": "{n} characters at most; Ctrl+Enter records",
    "Note infirmière": "Nursing note", "Note d'évolution médicale": "Medical progress note",
    "Avis (consultation, pharmacie)": "Advice (consultation, pharmacy)",
    "Équipe du matin": "Morning shift", "Équipe de l'après-midi": "Afternoon shift",
    "Équipe de nuit": "Night shift",
    # lists and history
    "Aucune note ni transmission saisie pendant la panne": "No note or handover recorded during the outage",
    "Mesures saisies pendant la panne ({n})": "Measurements recorded during the outage ({n})",
    "* saisi sur un poste de secours pendant la panne": "* recorded on a downtime station during the outage",
    "saisi sur le poste par {who}": "recorded on the station by {who}",
    "saisi le {when}": "entered on {when}", "poste": "station", "motif": "reason",
    "annulée": "cancelled", "corrigée": "corrected", "Corriger": "Correct", "Annuler": "Cancel",
    "Historique : {n} version(s) précédente(s)": "History: {n} earlier version(s)",
    "Version actuelle": "Current version",
    "Saisie déjà remplacée": "Entry already replaced",
    "Cette saisie a déjà été corrigée ou annulée. Rien n'a été enregistré : revenez au dossier et "
    "corrigez la version actuelle.": "This entry was already corrected or cancelled. Nothing was "
    "recorded: go back to the record and correct the current version.",
    "Corriger une saisie": "Correct an entry", "Annuler une saisie": "Cancel an entry",
    "Motif (obligatoire)": "Reason (required)", "Annuler cette saisie": "Cancel this entry",
    # problems (journal/kinds)
    "Saisissez au moins une mesure.": "Enter at least one measurement.",
    "Saisissez la systolique et la diastolique.": "Enter both the systolic and the diastolic.",
    "La diastolique doit être inférieure à la systolique.": "The diastolic must be below the systolic.",
    "{label} : un nombre entier de {low} à {high}.": "{label}: a whole number from {low} to {high}.",
    "{value} {unit} est impossible pour « {label} » (entre {low} et {high} {unit}) : vérifiez la "
    "saisie et l'unité.": "{value} {unit} is impossible for “{label}” (between {low} and {high} "
    "{unit}): check what was typed and the unit.",
    "{value} {unit} : valeur inhabituelle pour « {label} » (habituellement {low} à {high}). "
    "Enregistrée : vérifiez-la.": "{value} {unit}: unusual value for “{label}” (usually {low} to "
    "{high}). Recorded: check it.",
    "… et {n} plus anciennes : toutes dans l'historique des saisies.":
        "… and {n} older ones: all of them in the entries' history.",
}
