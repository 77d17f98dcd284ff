"""English for the way back: what became of each downtime entry in the HIS, on the
entries' history and the crisis cell's page (see i18n/__init__.py)."""

EN: dict[str, str] = {
    "Reporté dans le DPI le {when}": "Filed in the HIS on {when}",
    "Rapproché du patient du DPI le {when}": "Matched to the HIS patient on {when}",
    "Version remplacée, historique reporté": "Replaced version, history filed",
    "En attente : identité à confirmer": "Waiting: identity to confirm",
    "En attente de la saisie {key}": "Waiting for entry {key}",
    "Refusé par le DPI : {reason}": "Refused by the HIS: {reason}",
    "Échec d'envoi, sera réessayé": "Sending failed, will be retried",
    "Deux corrections concurrentes : à trancher": "Two concurrent corrections: to settle",
    "Retour vers le DPI": "Back into the HIS",
    "Ce que le report des saisies dans le DPI (releve journal reconcile) a fait de chacune, "
    "depuis ce poste.": "What filing the entries into the HIS (releve journal reconcile) did "
                       "with each, from this station.",
    "État": "State",
    "Saisies": "Entries",
    "créées dans le DPI": "created in the HIS",
    "déjà dans le DPI": "already in the HIS",
    "mises à jour dans le DPI": "updated in the HIS",
    "patients rapprochés": "patients matched",
    "versions remplacées, historique reporté": "replaced versions, history filed",
    "en attente : identité à confirmer": "waiting: identity to confirm",
    "en attente d'une autre saisie": "waiting for another entry",
    "refusées par le DPI": "refused by the HIS",
    "échecs d'envoi, à réessayer": "sending failed, to retry",
    "corrections concurrentes à trancher": "concurrent corrections to settle",
}
