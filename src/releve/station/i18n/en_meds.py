"""English for the medications' review (templates/shared/patient_medications.html, the
medication parts of patient.html and print/mar.html, fhir.clinical's order and statement
words), keyed by the French text they write."""

EN = {
    # hints
    "Même médicament prescrit deux fois : {drugs}": "Same medication ordered twice: {drugs}",
    "Deux anticoagulants prescrits en même temps : {drugs}": "Two anticoagulants ordered at once: {drugs}",
    "Paracétamol : jusqu'à {total} g par 24 h au total des prescriptions en cours (plus de 4 g) : {drugs}":
        "Paracetamol: up to {total} g per 24 h over the current orders (more than 4 g): {drugs}",
    "à vérifier": "to check",
    # orders
    "terminé le {when} — encore actif dans le DPI, à vérifier":
        "ended {when} — still active in the HIS, to check",
    "heure à définir": "time to set", "en retard": "late", "j{n}": "d{n}",
    "aucune prise pendant cette équipe": "no dose during this shift",
    "{n} prescription(s) non en cours": "{n} order(s) not current",
    "fin prévue le {when}": "planned end {when}",
    "non imprimées ici, voir la station": "not printed here, see the station",
    "arrêtée": "stopped", "terminée": "completed", "annulée": "cancelled",
    "saisie par erreur": "entered in error", "brouillon non signé": "unsigned draft",
    "statut inconnu dans le DPI": "status unknown in the HIS", "séjour terminé": "stay ended",
    "sans statut": "no status",
    # usual treatment
    "Posologie": "Dosage",  # "Traitement habituel", "Statut", "depuis le": the other catalogues'
    "Aucun traitement habituel enregistré": "No usual treatment recorded",
    "Source : {who}": "Source: {who}",
    "non en cours": "not current",
    "suspendu": "on hold", "statut inconnu, à vérifier": "status unknown, to check",
    "terminé": "completed", "arrêté": "stopped", "non pris": "not taken",
    # shifts
    "par équipe :": "by shift:", "matin": "morning", "après-midi": "afternoon", "nuit": "night",
    "Plan d'administration — {shift}": "Administration plan — {shift}",
    "équipe du matin": "morning shift", "équipe de l'après-midi": "afternoon shift",
    "équipe de nuit": "night shift",
}
