"""English for what the ward asked for on first use: the live and frozen banners, the
ward binder (see i18n/__init__.py)."""

EN = {
    # _banners.html, base.html
    "Données figées à la dernière copie sûre du {day} à {time}.":
        "Data frozen at the last safe copy of {day} at {time}.",
    "Les données reçues depuis ont été refusées comme suspectes : rien de plus récent n'est "
    "affiché (copie faite {ago}).":
        "The data received since was refused as suspect: nothing newer is shown (copy made "
        "{ago}).",
    "La station ne répond plus : l'âge des données ci-dessous n'est plus mis à jour.":
        "The station no longer answers: the data age below is no longer kept current.",
}
