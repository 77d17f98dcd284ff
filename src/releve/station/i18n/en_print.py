"""English for the printouts (templates/print/) and the pages' print buttons, keyed by
the French text they write."""

EN = {
    # every sheet
    "imprimé le {when} par {who}": "printed {when} by {who}",
    "données à jour du {when}": "data as of {when}", "document de mode dégradé": "downtime document",
    # print buttons of the patient summary (the other pages' are in en_common.py)
    "Imprimer le plan d'administration": "Print the MAR",
    "Étiquettes": "Labels", "Bracelet": "Wristband",
    "Formulaires de mode dégradé": "Downtime forms",
    # MAR
    "Plan d'administration": "Medication administration record", "ALLERGIES": "ALLERGIES",
    "GRAVE": "SEVERE", "Du {start} au {end}": "From {start} to {end}",
    "Cocher ou parapher chaque prise ; noter l'heure réelle si elle diffère.":
        "Tick or initial each dose; write the actual time if it differs.",
    "Médicament, dose et voie": "Medication, dose and route",
    "Prises prévues : heure, puis initiales": "Doses due: time, then initials",
    "Initiales": "Initials", "Dernières administrations (24 h)": "Last administrations (24 h)",
    "Aucun patient présent dans ce service d'après les données.":
        "No patient on this ward according to the data.",
    # census, directory
    "Liste des patients": "Census", "Aucune entrée dans l'annuaire": "No directory entry",
    # labels and wristband
    "Pas de DataMatrix INS : identité INS incomplète": "No INS DataMatrix: INS identity incomplete",
    "Nom de naissance": "Birth name",
    "Découper le long des pointillés et glisser dans un bracelet à fenêtre. Vérifier "
    "l'identité avec le patient avant de le poser.":
        "Cut along the dotted line and slide into a window wristband. Check the identity "
        "with the patient before putting it on.",
    # forms
    "MODE DÉGRADÉ": "DOWNTIME",
    "À ressaisir dans le dossier patient informatisé au retour du système. Écrire "
    "lisiblement, dater et signer chaque entrée.":
        "To be entered into the electronic record once the system is back. Write legibly, "
        "date and sign every entry.",
    "Nom d'usage": "Name used", "Nom et prénoms de naissance": "Birth name and given names",
    "Date de naissance": "Date of birth", "Service, chambre, lit": "Unit, room, bed",
    "Identité à recueillir sur une pièce d'identité ; poser un bracelet dès l'arrivée.":
        "Take the identity from an identity document; put a wristband on at arrival.",
    "Fiche d'admission": "Admission form", "Identité complémentaire": "Further identity",
    "Lieu de naissance": "Place of birth", "Personne à prévenir": "Person to contact",
    "Pièce d'identité vue": "Identity document seen", "Admission": "Admission",
    "Date et heure d'arrivée": "Arrival date and time", "Mode d'entrée": "Mode of admission",
    "Traitement habituel": "Usual medication",
    "Rempli par (nom, fonction, signature) :": "Filled in by (name, role, signature):",
    "Prescription médicamenteuse": "Medication order", "Prescriptions": "Orders",
    "Date, heure": "Date, time", "Médicament (DCI), forme": "Medication (INN), form",
    "Voie": "Route", "Fréquence, horaires": "Frequency, times", "Durée": "Duration",
    "Prescripteur, signature": "Prescriber, signature",
    "Surveillance et constantes": "Observation chart", "Observations": "Notes",
    "Pression artérielle (mmHg)": "Blood pressure (mmHg)",
    "Fréquence cardiaque (/min)": "Heart rate (/min)", "Température (°C)": "Temperature (°C)",
    "SpO2 (%)": "SpO2 (%)", "Fréquence respiratoire (/min)": "Respiratory rate (/min)",
    "Douleur (EVA 0-10)": "Pain (VAS 0-10)", "Conscience, vigilance": "Consciousness",
    "Diurèse (ml)": "Urine output (ml)", "Poids (kg)": "Weight (kg)",
}
