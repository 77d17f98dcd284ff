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
    # ward.html, binder.html: the ward binder from the ward page
    "Imprimer le classeur du service": "Print the ward binder",
    "Classeur du service": "Ward binder",
    "Pour chaque patient du service : synthèse, plan d'administration, bracelet et "
    "étiquettes, dans un seul PDF.":
        "For every patient of the ward: summary, administration record, wristband and "
        "labels, in one PDF.",
    "Le classeur n'a pas pu être préparé. Réessayez ; si l'erreur persiste, prévenez "
    "l'informatique.":
        "The binder could not be made. Try again; if the error persists, call IT.",
    "Classeur prêt : {patients} patients, {pages} pages.":
        "Binder ready: {patients} patients, {pages} pages.",
    "Ouvrir le classeur (PDF)": "Open the binder (PDF)",
    "Préparation…": "Preparing…",
    "Patient {done} sur {total}": "Patient {done} of {total}",
    "Cette page se met à jour toute seule ; le PDF s'ouvrira d'ici quelques secondes.":
        "This page updates itself; the PDF will be ready in a few seconds.",
    "Retour au service": "Back to the ward",
    # print/summary.html: a patient's summary in the binder
    "Synthèse": "Summary",
    "Synthèse du dossier": "Record summary",
    "Séjour": "Stay",
    "entré(e) le {when}": "admitted on {when}",
    "Problèmes et antécédents": "Problems and history",
    "Aucun traitement en cours d'après les données": "No current medication in the data",
    "Dernières constantes": "Latest vital signs",
    "Derniers résultats": "Latest results",
    "{n} autres résultats : voir la station.": "{n} more results: see the station.",
    "À venir": "Coming up",
}
