"""English for the downtime entries: peers and the crisis cell's page (see i18n/__init__.py)."""

EN: dict[str, str] = {
    "Cellule de crise": "Crisis cell",
    "Cellule de crise : stations connues": "Crisis cell: known stations",
    "Chaque station que cette station lit, directement ou par relais : âge de ses données, "
    "saisies du mode dégradé reçues, joignabilité de ses paires, erreurs.":
        "Every station this station reads, directly or through a relay: the age of its data, "
        "the downtime entries received, whether its peers answer, errors.",
    "Par service": "By ward",
    "Stations": "Stations",
    "Station": "Station",
    "Données les plus anciennes": "Oldest data",
    "Dernière saisie reçue": "Last entry received",
    "Erreurs": "Errors",
    "Service non indiqué": "Ward not given",
    "aucune": "none",
    "pas de données": "no data",
    "Données": "Data",
    "Saisies du mode dégradé": "Downtime entries",
    "Ses paires": "Its peers",
    "cette station": "this station",
    "station paire": "peer station",
    "connue par relais": "known through a relay",
    "mode dégradé déclaré": "downtime declared",
    "inconnu (relais)": "unknown (relay)",
    "état reçu le {when}": "status received {when}",
    "{n} saisies reçues ici": "{n} entries received here",
    "(sur {n} à la station)": "(of {n} at the station)",
    "{size} octets": "{size} bytes",
    "aucune reçue": "none received",
    "joignable": "reachable",
    "injoignable": "unreachable",
    "injoignable depuis cette station": "unreachable from this station",
    "dernier succès : {when}": "last success: {when}",
    "jamais": "never",
}
