"""English for what the wards record during the downtime (« Saisies du mode dégradé »):
the forms' common words and the refusals of web/recording.py (see i18n/__init__.py)."""

EN = {
    "Saisies du mode dégradé": "Downtime entries",
    "Saisie non autorisée": "Entry not allowed",
    "Votre fonction ne permet pas cette saisie (par exemple, seuls les médecins prescrivent et "
    "seuls les pharmaciens valident une prescription). Rien n'a été enregistré.":
        "Your role does not allow this entry (only physicians prescribe and only pharmacists "
        "check a prescription, for instance). Nothing was recorded.",
    "Formulaire expiré": "Form expired",
    "Ce formulaire n'est plus valable (session changée ou page trop ancienne). Rien n'a été "
    "enregistré : rouvrez la page et saisissez à nouveau.":
        "This form is no longer valid (the session changed or the page is too old). Nothing "
        "was recorded: open the page again and enter it again.",
    # journal/kinds/__init__.py: the problems every kind's fields share
    "Ce champ est obligatoire.": "This field is required.",
    "Texte trop long ({n} caractères, {limit} au plus).": "Text too long ({n} characters, {limit} at most).",
    "« {value} » n'est pas un nombre.": "“{value}” is not a number.",
    "Choisissez une des valeurs proposées.": "Choose one of the values offered.",
    "Heure invalide : écrivez HH:MM ou AAAA-MM-JJTHH:MM.": "Invalid time: write HH:MM or YYYY-MM-DDTHH:MM.",
    "Cette heure est dans le futur.": "This time is in the future.",
    "Plus de {hours} h en arrière : saisie refusée.": "More than {hours} h back: refused.",
}
